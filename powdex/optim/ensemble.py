"""The driver: run an ensemble of local optimizations on any executor,
streaming each result to the store and the progress display as it completes.

The driving process is the only writer of the store.  Workers receive chunks
of runs and return their results; nothing they do depends on which worker
they are, so any executor yields the same set of results for a seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from powdex.optim.executors import Executor, InProcess
from powdex.optim.minimizers import Minimizer
from powdex.optim.objective import Objective
from powdex.optim.progress import ProgressReporter
from powdex.optim.restarts import Run, Strategy
from powdex.optim.result import LocalResult
from powdex.optim.store import ResultsStore


def run_chunk(task: tuple[Objective, Minimizer, tuple[Run, ...]]) -> list[LocalResult]:
    """Worker side: the local runs of one chunk, maxima searched as minima of -f."""
    objective, minimizer, runs = task
    results = []
    for run in runs:
        if run.sense == "max":
            result = minimizer.minimize(objective.negated(), run.start, run.seed)
            result.value = -result.value
            result.path[:, -1] *= -1.0
        else:
            result = minimizer.minimize(objective, run.start, run.seed)
        result.run_index, result.sense = run.index, run.sense
        results.append(result)
    return results


@dataclass
class EnsembleResult:
    """All runs of the ensemble (stored ones included), in run-index order."""

    study: str | None
    results: list[LocalResult]
    best: LocalResult | None
    executed: int
    wall_time: float
    store_time: float


def default_study_name(objective: Objective, strategy: Strategy) -> str:
    return f"{objective.name}-{strategy.kind}-{strategy.fingerprint()}"


def run_ensemble(
    objective: Objective,
    strategy: Strategy,
    executor: Executor | None = None,
    store: ResultsStore | None = None,
    study: str | None = None,
    progress: ProgressReporter | None = None,
) -> EnsembleResult:
    """Run every local run of ``strategy`` not already in ``store``.

    ``best`` is the best minimum (the best maximum for a maximize-only
    strategy); each new best is written to the study as soon as it is found.
    """
    started = time.perf_counter()
    runs = strategy.plan(objective)  # validates bounds and minimizer first
    executor = executor or InProcess()
    by_index: dict[int, LocalResult] = {}
    if store is not None:
        study = study or default_study_name(objective, strategy)
        store.open_study(study, objective.name, objective.dim, strategy.model_dump_json(), strategy.fingerprint())
        wanted = {run.index for run in runs}
        by_index = {r.run_index: r for r in store.results(study) if r.run_index in wanted}
    primary = "max" if strategy.sense == "max" else "min"
    best = None
    for result in by_index.values():
        if result.sense == primary and result.is_better_than(best):
            best = result
    pending = [run for run in runs if run.index not in by_index]
    store_time = 0.0
    if progress is not None:
        progress.start(total=len(runs), done=len(by_index))
    try:
        with executor:
            # At least four tasks per worker, so none idles while others finish big chunks.
            size = max(1, min(executor.chunk_size, len(pending) // (4 * max(executor.workers, 1))))
            tasks = ((objective, strategy.minimizer, tuple(pending[i : i + size])) for i in range(0, len(pending), size))
            for chunk_results in executor.imap_unordered(run_chunk, tasks):
                if store is not None:
                    write_started = time.perf_counter()
                    store.add(study, chunk_results)
                    store_time += time.perf_counter() - write_started
                for result in chunk_results:
                    by_index[result.run_index] = result
                    new_best = result.sense == primary and result.is_better_than(best)
                    if new_best:
                        best = result
                        if store is not None:
                            write_started = time.perf_counter()
                            store.mark_best(study, result)
                            store_time += time.perf_counter() - write_started
                    if progress is not None:
                        progress.update(result, best, new_best)
    finally:
        if progress is not None:
            progress.finish()
    return EnsembleResult(
        study=study,
        results=[by_index[i] for i in sorted(by_index)],
        best=best,
        executed=len(pending),
        wall_time=time.perf_counter() - started,
        store_time=store_time,
    )

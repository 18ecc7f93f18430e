"""The driver: run an ensemble of local optimizations on any executor,
streaming each result to the store and the progress display as it completes.

The driving process is the only writer of the store.  Workers receive chunks
of runs and return their results; nothing they do depends on which worker
they are or how runs were grouped, so any executor yields the same results
for a seed.  A worker stops taking runs from its chunk after ``CHUNK_SECONDS``
of work and hands the rest back, so a finished run reaches the driver (and
the store) within about that long however slow or fast runs are; the chunk
sizes themselves only amortize per-task overhead.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from powdex.optim.executors import Executor, InProcess
from powdex.optim.minimizers import Minimizer
from powdex.optim.objective import Objective
from powdex.optim.progress import ProgressReporter
from powdex.optim.restarts import Run, Strategy, as_strategy
from powdex.optim.result import STATUS_TIME_LIMIT, LocalResult
from powdex.optim.store import ResultsStore

# Long enough that a task's overhead (0.2 ms for a process, a few ms for
# dask) is a small fraction of it, short enough that an interruption loses
# little and a new best is reported promptly.
CHUNK_SECONDS = 0.25


@dataclass(frozen=True)
class Chunk:
    """A task: runs to do on one worker, in order, until ``seconds`` have passed."""

    objective: Objective
    minimizer: Minimizer
    runs: tuple[Run, ...]
    output_interval: int | None
    seconds: float
    deadline: float | None = None  # the ensemble's time limit, as ``time.time()``: ends a run in progress


def run_chunk(chunk: Chunk) -> tuple[list[LocalResult], list[int]]:
    """Worker side: the chunk's results, and the indices of the runs it
    handed back unstarted because its time was up (at least one run is
    started, unless the ensemble's deadline has passed)."""
    handed_back = time.perf_counter() + chunk.seconds
    results: list[LocalResult] = []
    for position, run in enumerate(chunk.runs):
        if (position and time.perf_counter() >= handed_back) or (
                chunk.deadline is not None and time.time() >= chunk.deadline):
            return results, [later.index for later in chunk.runs[position:]]
        result = chunk.minimizer.run(
            chunk.objective, run.start, run.seed, run.sense, chunk.output_interval, label=f"run {run.index} ",
            deadline=chunk.deadline,
        )
        result.run_index, result.sense = run.index, run.sense
        results.append(result)
    return results, []


@dataclass
class EnsembleResult:
    """All finished runs of the ensemble (stored ones included), in run-index order.
    ``best`` is None when no run found a finite value within the bounds."""

    study: str | None
    results: list[LocalResult]
    best: LocalResult | None
    executed: int
    wall_time: float
    store_time: float
    unfinished: int = 0  # runs not started because the time limit had passed (``run_ensemble``)
    truncated: int = 0  # runs stopped at the time limit (status STATUS_TIME_LIMIT): in results, not stored


def default_study_name(objective: Objective, strategy: Strategy) -> str:
    return f"{objective.name}-{strategy.kind}-{strategy.fingerprint(objective)[:12]}"


def run_ensemble(
    objective: Objective,
    strategy: Strategy | Minimizer,
    executor: Executor | None = None,
    store: ResultsStore | None = None,
    study: str | None = None,
    progress: ProgressReporter | None = None,
    output_interval: int | None = None,
    time_limit: float | None = None,
) -> EnsembleResult:
    """Run every local run of ``strategy`` not already in ``store``.

    A bare minimizer is one run from the objective's start.  ``best`` is the
    best minimum (the best maximum for a maximize-only strategy); each run is
    written as the driver receives it, a new best in the same commit.  A run
    that raises is stored as a failed result and the ensemble goes on.  With
    ``output_interval``, every local run prints a status line every that many
    iterations (to the stderr of the process running it).  With ``time_limit``
    (seconds), no run is handed out once that long has passed since the call,
    and the runs in progress (a Metropolis chain, a long local run) stop at
    their next evaluation, ending with status ``STATUS_TIME_LIMIT`` at the
    best point they reached: they are in ``results`` and counted as
    ``truncated``, but not stored; runs never started count as
    ``unfinished``.  A store keeps every finished run, so the same call
    resumes with the others.  Runs that end before the limit are the same as
    without one.
    """
    started = time.perf_counter()
    deadline = None if time_limit is None else time.time() + time_limit
    strategy = as_strategy(strategy)
    runs = strategy.plan(objective)  # validates bounds and minimizer first
    executor = executor or InProcess()
    executor.check_sendable(objective)
    by_index: dict[int, LocalResult] = {}
    if store is not None:
        study = study or default_study_name(objective, strategy)
        assert study is not None
        store.open_study(study, objective.name, objective.dim, strategy.model_dump_json(), strategy.fingerprint(objective))
        wanted = {run.index for run in runs}
        by_index = {r.run_index: r for r in store.results(study) if r.run_index in wanted}
    primary = "max" if strategy.sense == "max" else "min"
    best = None
    for result in by_index.values():
        if result.sense == primary and result.is_better_than(best):
            best = result
    runs_by_index = {run.index: run for run in runs}
    queue = deque(run for run in runs if run.index not in by_index)
    executed = unfinished = truncated = 0
    store_time = 0.0
    if progress is not None:
        progress.start(total=len(runs), done=len(by_index))
    try:
        with executor:
            try:
                in_flight = 0
                window = 2 * executor.workers
                while queue or in_flight:
                    if queue and time_limit is not None and time.perf_counter() - started >= time_limit:
                        unfinished += len(queue)
                        queue.clear()
                    while queue and in_flight < window:
                        # At least four tasks per worker, so none idles while others finish big chunks.
                        size = max(1, min(executor.chunk_size, len(queue) // (4 * executor.workers)))
                        chunk = tuple(queue.popleft() for _ in range(size))
                        executor.submit(run_chunk, Chunk(objective, strategy.minimizer, chunk, output_interval,
                                                         CHUNK_SECONDS, deadline))
                        in_flight += 1
                    if not in_flight:
                        break
                    results, unstarted = executor.next_result()
                    in_flight -= 1
                    queue.extendleft(runs_by_index[index] for index in reversed(unstarted))
                    reports = []
                    chunk_best = None
                    executed += len(results)
                    for result in results:
                        by_index[result.run_index] = result
                        new_best = result.sense == primary and result.is_better_than(best)
                        if new_best:
                            best = chunk_best = result
                        reports.append((result, best, new_best))
                    finished = [result for result in results if result.status != STATUS_TIME_LIMIT]
                    truncated += len(results) - len(finished)
                    if store is not None and study is not None and finished:
                        # A truncated run is redone in full when the same call resumes.
                        write_started = time.perf_counter()
                        stored_best = chunk_best if any(r is chunk_best for r in finished) else None
                        store.add(study, finished, best=stored_best)
                        store_time += time.perf_counter() - write_started
                    if progress is not None:
                        for report in reports:
                            progress.update(*report)
            finally:
                executor.discard()
    finally:
        if progress is not None:
            progress.finish()
    return EnsembleResult(
        study=study,
        results=[by_index[i] for i in sorted(by_index)],
        best=best,
        executed=executed,
        wall_time=time.perf_counter() - started,
        store_time=store_time,
        unfinished=unfinished,
        truncated=truncated,
    )

"""Benchmark: Rietveld series of synthetic heating patterns (cell drifting 1 %, peak widths
doubling), plain sequential seeding against the ensemble fallback, and interleaved chains on one
or more workers.

Two series (``--series``):
- ``coexistence`` (default): a tetragonal phase (c/a 1.02) transforms into a cubic one; the cubic
  phase appears at pattern ``--transition`` and the tetragonal one is gone ``--coexistence``
  patterns later, the cubic weight fraction rising linearly in between (Hill–Howard fractions of a
  two-phase Rietveld refinement);
- ``cubic``: one tetragonal phase (c/a ``--c-over-a``) that becomes metrically cubic (c = a) at
  pattern ``--transition``.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/series_refinement.py --count 100 --transition 60 \
        --coexistence 10 --modes sequential,ensemble
    OPENBLAS_NUM_THREADS=1 python3 benchmarks/series_refinement.py --count 100 --transition 60 \
        --coexistence 10 --modes chains --chains 2 --workers 1,2 --executors processes,dask
    OPENBLAS_NUM_THREADS=1 python3 benchmarks/series_refinement.py --series cubic --count 100 --transition 60

Prints, per mode and executor: workers, seconds in all (wall, and this process's CPU seconds:
on one worker, the time on one core of a quiet machine) and per pattern, the CPU seconds of all
the run's tasks and of the driver's own work, the speed-up its structure allows on that many
workers of a quiet machine (all CPU seconds over the critical path: the driver's own, then each
stage of tasks spread over the workers, ``SeriesRefinementResult.ideal_seconds``; on one worker,
over the most workers of ``--workers``: what the run on one core predicts for them), the load
average (1 minute) before and after, patterns with GoF ≤ 1.1, patterns whose
cell is within 2 esd of the truth (and, for the coexistence series, the share of all cell lengths within 1, 2 and 3
esd: whether the esds are calibrated), and whether the results equal those of the first run of the
same mode (chains on N workers against chains on 1); then the patterns where the ensemble was
chosen and those whose cell is off.  The coexistence series adds: patterns whose cubic weight
fraction is within 0.02 (absolute) of the truth, and where the transformation was detected: a
phase is found in a pattern when its scale is free of zero and its weight fraction exceeds 3 esd;
``C from`` is the first pattern from which the cubic phase is found in every later one, ``T to``
the last of the unbroken run of the tetragonal phase from the first pattern (true: ``--transition``
and ``--transition`` + ``--coexistence`` − 1), and the patterns where a phase is found outside
these runs are listed as stray.  The cubic series' cell is judged
within 2 esd before its transition and within 0.03 % after it, where a and c coincide and the
least-squares esds understate how far they may part.  ``sequential``: no fallback; ``ensemble``:
one chain with the fallback; ``chains``: ``--chains`` interleaved chains with the fallback, on 1
worker in this process and on N workers of each executor of ``--executors`` (``processes``: local
worker processes; ``dask``: a loopback dask.distributed cluster of N single-threaded workers; the
start-up of either counts in the run's seconds).

A second table gives, per run and process, the tasks it ran, their CPU seconds, the process's
CPU seconds outside them (start-up, imports, receiving tasks) when its last task ended, and where
its wall-clock time went: from the run's start to its first task (the executor's start-up), between
its tasks (waiting for work: a task whose seeds are not known yet, or the round trip of a result
and the next task) and after its last task to the run's end; then the pickled size of a pattern as
a chain task carries it and of a pattern's result document."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from powdex.optim.executors import Dask, LocalProcesses
from powdex.refinement.plan import RefinementPlan
from powdex.series.refinement import PatternData, SeriesEntry, SeriesRefinementResult, phase_found, refine_series
from tests.series.conftest import (
    DATA,
    PLAN_WITH_PROFILE,
    TWO_PHASE_PLAN_WITH_PROFILE,
    coexistence_series,
    transition_series,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", choices=["coexistence", "cubic"], default="coexistence")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--transition", type=int, default=60)
    parser.add_argument("--coexistence", type=int, default=10, help="patterns holding both phases "
                        "(coexistence series)")
    parser.add_argument("--step", type=float, default=0.03, help="2θ step (degrees)")
    parser.add_argument("--ensemble-starts", type=int, default=8)
    parser.add_argument("--widening", type=float, default=2.0, help="last pattern's peak width / the first's")
    parser.add_argument("--c-over-a", type=float, default=1.04, help="tetragonal c/a before the transition "
                        "(cubic series)")
    parser.add_argument("--drift", type=float, default=0.01, help="relative growth of the cell over the series")
    parser.add_argument("--modes", default="sequential,ensemble,chains", help="comma-separated: sequential, "
                        "ensemble, chains")
    parser.add_argument("--chains", type=int, default=2, help="interleaved chains of the chains mode")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts of the chains mode")
    parser.add_argument("--executors", default="processes", help="comma-separated executors of the chains mode's "
                        "runs on more than one worker: processes, dask")
    arguments = parser.parse_args()
    coexisting = arguments.series == "coexistence"
    last = arguments.transition + arguments.coexistence - 1
    if coexisting:
        patterns, truth = coexistence_series(arguments.count, arguments.transition, last, step=arguments.step,
                                             drift=arguments.drift, widening=arguments.widening)
    else:
        patterns, truth = transition_series(arguments.count, arguments.transition, step=arguments.step,
                                            drift=arguments.drift, widening=arguments.widening,
                                            c_over_a=arguments.c_over_a)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "plan.toml").write_text(TWO_PHASE_PLAN_WITH_PROFILE if coexisting else PLAN_WITH_PROFILE)
        cif = (DATA / "tetragonal.cif").read_text()
        if not coexisting:
            # The structure's starting c matches the first pattern's c/a.
            cif = cif.replace("_cell_length_c 4.0800", f"_cell_length_c {4.0 * arguments.c_over_a:.4f}")
        (Path(folder) / "tetragonal.cif").write_text(cif)
        (Path(folder) / "cubic.cif").write_text((DATA / "cubic.cif").read_text())
        plan = RefinementPlan.from_toml(Path(folder) / "plan.toml")
        if coexisting:
            print(f"{arguments.count} patterns, {patterns[0].two_theta.size} points each, cells "
                  f"+{arguments.drift:.1%}, widths ×{arguments.widening:g}, tetragonal (c/a 1.02) → cubic: both in "
                  f"{arguments.transition}–{last}")
        else:
            print(f"{arguments.count} patterns, {patterns[0].two_theta.size} points each, cell +{arguments.drift:.1%}, "
                  f"widths ×{arguments.widening:g}, c/a {arguments.c_over_a:g} → 1 at {arguments.transition}")
        extra = f"{'wf ok':>7}{'C from':>8}{'T to':>6}" if coexisting else ""
        print(f"{'mode':<12}{'executor':>10}{'workers':>8}{'s':>8}{'cpu s':>8}{'s/pattern':>10}{'tasks s':>8}"
              f"{'driver s':>9}{'ideal ×':>8}{'load':>11}{'GoF≤1.1':>9}{'cell ok':>9}{extra}"
              f"{'same':>6}  ensemble at; cell off at" + ("; fraction off at; phase stray at" if coexisting else ""))
        runs = []
        processes = []
        spreads = []  # the coexistence series' cell errors in esd, per run
        most_workers = max(int(w) for w in arguments.workers.split(","))
        for mode in arguments.modes.split(","):
            for workers in ([int(w) for w in arguments.workers.split(",")] if mode == "chains" else [1]):
                for name in (arguments.executors.split(",") if workers > 1 else ["-"]):
                    executor = (None if workers == 1 else LocalProcesses(workers=workers) if name == "processes"
                                else Dask(None, local_workers=workers))
                    chains = arguments.chains if mode == "chains" else 1
                    load = os.getloadavg()[0]
                    started, cpu, epoch = time.perf_counter(), time.process_time(), time.time()
                    result = refine_series(patterns, plan, fallback=mode != "sequential",
                                           ensemble_starts=arguments.ensemble_starts, chains=chains,
                                           executor=executor)
                    seconds = time.perf_counter() - started
                    # This process's CPU seconds: on one worker, the time on one core of a quiet machine.
                    cpu_seconds = time.process_time() - cpu
                    load = f"{load:.1f}→{os.getloadavg()[0]:.1f}"
                    tasks = sum(t.cpu_seconds for t in result.timings if t.kind != "driver")
                    driver = sum(t.cpu_seconds for t in result.timings if t.kind == "driver")
                    ideal = (tasks + driver) / result.ideal_seconds(max(workers, most_workers))
                    processes.append((f"{mode} {name} {workers}", per_process(result, epoch, epoch + seconds)))
                    # As JSON text: NaN (an undefined R_Bragg, say) never equals itself as a float.
                    documents = json.dumps([entry.to_dict() for entry in result.entries])
                    same = next((documents == earlier for m, earlier in runs if m == mode), None)
                    runs.append((mode, documents))
                    good_fit = sum(e.result.statistics.gof <= 1.1 for e in result.entries)
                    if coexisting:
                        cell_off = [e.position for e, true in zip(result.entries, truth) if not cells_ok(e, true)]
                        deviations = np.array([d for e, true in zip(result.entries, truth)
                                               for d in cell_deviations(e, true)])
                        spreads.append((f"{mode} {name} {workers}", deviations))
                        fraction_off = [e.position for e, true in zip(result.entries, truth)
                                        if not abs(phase(e, "C").weight_fraction - true[3]) <= 0.02]
                        cubic = [present(e, "C") for e in result.entries]
                        tetragonal = [present(e, "T") for e in result.entries]
                        # The onset of the cubic phase's last unbroken run, the end of the tetragonal one's first.
                        cubic_from = next((k for k in range(len(cubic)) if all(cubic[k:])), None)
                        tetragonal_to = next((k - 1 for k in range(len(tetragonal)) if not tetragonal[k]), None)
                        stray = [k for k in range(len(cubic)) if (cubic[k] and (cubic_from is None or k < cubic_from))
                                 or (tetragonal[k] and tetragonal_to is not None and k > tetragonal_to)]
                        extra = (f"{len(result.entries) - len(fraction_off):>7}{cubic_from!s:>8}"
                                 f"{tetragonal_to!s:>6}")
                    else:
                        cell_off = [e.position for e, (a, c) in zip(result.entries, truth)
                                    if not cell_ok(e, a, c, arguments.transition)]
                        extra = ""
                    chosen = [e.position for e in result.entries if "ensemble" in e.flags]
                    print(f"{mode:<12}{name:>10}{workers:>8}{seconds:>8.1f}{cpu_seconds:>8.1f}"
                          f"{seconds / len(patterns):>10.2f}{tasks:>8.1f}{driver:>9.1f}{ideal:>8.2f}{load:>11}"
                          f"{good_fit:>9}{len(result.entries) - len(cell_off):>9}{extra}"
                          f"{'-' if same is None else str(same):>6}  {chosen}; {cell_off}"
                          + (f"; {fraction_off}; {stray}" if coexisting else ""), flush=True)
                    del result
        if spreads:
            # Whether the esds are calibrated: a 2-esd test of every length fails for about 1 in 20 lengths, so
            # for some patterns in a hundred, however good the fit.
            print("\ncell lengths (a and c of every phase present) within 1 / 2 / 3 esd of the truth; "
                  "a normal error: 68.3 / 95.4 / 99.7 %")
            for run, deviations in spreads:
                print(f"{run:<22}{deviations.size:>5} lengths: " + " / ".join(
                    f"{np.mean(deviations < k):.1%}" for k in (1, 2, 3)) + f", largest {deviations.max():.2f} esd")
        print(f"\n{'run':<22}{'process':>9}{'tasks':>7}{'fitted':>8}{'task cpu s':>11}{'outside s':>10}"
              f"{'to first s':>11}{'between s':>10}{'after s':>8}  kinds")
        for run, rows in processes:
            for row in rows:
                print(f"{run:<22}" + row)
        document = json.dumps(SeriesEntry.from_dict(json.loads(documents)[-1]).to_dict())
        print(f"\na pattern as a chain task carries it: {len(pickle.dumps(PatternData.of(patterns[0]))) / 1e3:.0f} kB "
              f"pickled; its result document: {len(document) / 1e3:.0f} kB of JSON")


def per_process(result: SeriesRefinementResult, started: float, ended: float) -> list[str]:
    """Per process: its tasks, patterns fitted, their CPU seconds, and its CPU seconds outside them when
    its last task ended (start-up, imports, unpickling; blank for the driver, which also waits); the wall
    seconds from ``started`` (the run's start, since the epoch) to its first task, between its tasks, and
    from its last task to ``ended``."""
    rows = []
    for process in dict.fromkeys(t.process for t in result.timings):
        mine = [t for t in result.timings if t.process == process]
        work = sorted((t for t in mine if t.kind != "driver"), key=lambda t: t.started)
        cpu = sum(t.cpu_seconds for t in work)
        kinds = " ".join(f"{kind}×{sum(t.kind == kind for t in mine)}" for kind in dict.fromkeys(t.kind for t in mine))
        if any(t.kind == "driver" for t in mine) or not work:
            rows.append(f"{process:>9}{len(work):>7}{sum(t.fitted for t in work):>8}{cpu:>11.1f}{'':>10}{'':>11}"
                        f"{'':>10}{'':>8}  {kinds}")
            continue
        outside = max(t.process_cpu_seconds for t in work) - cpu
        between = sum(later.started - (earlier.started + earlier.wall_seconds) for earlier, later in zip(work, work[1:]))
        after = ended - (work[-1].started + work[-1].wall_seconds)
        rows.append(f"{process:>9}{len(work):>7}{sum(t.fitted for t in work):>8}{cpu:>11.1f}{outside:>10.1f}"
                    f"{work[0].started - started:>11.2f}{between:>10.2f}{after:>8.2f}  {kinds}")
    return rows


def phase(entry: SeriesEntry, name: str):
    return next(p for p in entry.phases if p.name == name)


def present(entry: SeriesEntry, name: str) -> bool:
    return phase_found(phase(entry, name), entry.result)


def cell_deviations(entry: SeriesEntry, true: tuple[float, float, float, float]) -> list[float]:
    """|refined − true| / esd of a and c of every phase present in the pattern (by the truth); inf without esd."""
    a, c, a_cubic, cubic_fraction = true
    wanted = ([("T", a, c)] if cubic_fraction < 1 else []) + ([("C", a_cubic, a_cubic)] if cubic_fraction > 0 else [])
    deviations = []
    for name, true_a, true_c in wanted:
        found = phase(entry, name)
        for value, esd, target in ((found.cell[0], found.cell_esd[0], true_a), (found.cell[2], found.cell_esd[2], true_c)):
            deviations.append(abs(value - target) / esd if esd else float("inf"))
    return deviations


def cells_ok(entry: SeriesEntry, true: tuple[float, float, float, float]) -> bool:
    """Every phase present in the pattern (by the truth) has its cell lengths within 2 esd."""
    return all(deviation < 2 for deviation in cell_deviations(entry, true))


def cell_ok(entry: SeriesEntry, a: float, c: float, transition: int) -> bool:
    found = entry.phases[0]
    if entry.position < transition:
        return abs(found.cell[0] - a) < 2 * found.cell_esd[0] and abs(found.cell[2] - c) < 2 * found.cell_esd[2]
    return abs(found.cell[0] - a) < 3e-4 * a and abs(found.cell[2] - c) < 3e-4 * c


if __name__ == "__main__":
    main()

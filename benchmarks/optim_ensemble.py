"""Benchmark of the ensemble engine: 1,000 local optimizations of Hartmann's
6-parameter function (six local minima) on every registered executor
(in-process, local processes, a dask cluster of local workers...), each
writing every run to a SQLite store.

    python3 benchmarks/optim_ensemble.py [--runs 1000] [--workers 2] [--repeats 3]

Wall time is the ensemble alone, the best of ``--repeats`` (other work on
the machine only ever adds time): pools and clusters are started first and
their start-up is reported apart.  Parallel efficiency is in-process time over
(workers x parallel time).  Store overhead is the driver's time inside the
store (inserts, and one commit per returned chunk, a new best included)
divided by the number of runs; driver CPU is the driving process's CPU time
per run (for in-process runs, the optimizations themselves), which other work
on the machine cannot inflate the way it inflates wall time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from powdex.optim import LBFGS, Objective, ResultsStore, Spa, run_ensemble
from powdex.optim.cluster import local_dask_cluster
from powdex.optim.registry import executor_from_name, executor_names
from powdex.optim.resources import available_cores
from powdex.optim.testfunctions import hartmann6, hartmann6_value


def objectives() -> dict[str, Objective]:
    analytic = hartmann6()
    # atomicrex's default: gradients by central differences, 12 extra evaluations each.
    central = Objective(hartmann6_value, 6, bounds=analytic.bounds, name="hartmann6-central")
    return {"central differences": central, "analytic gradient": analytic}


def measure(objective: Objective, strategy: Spa, executor, folder: Path, workers: int, repeats: int) -> dict:
    started = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(executor)
        startup = time.perf_counter() - started
        ensembles = []
        for repeat in range(repeats):
            # A fresh store each time, so every repeat runs (and writes) all runs.
            with ResultsStore(folder / f"{type(executor).__name__}-{objective.name}-{repeat}.sqlite") as store:
                cpu = time.process_time()
                ensemble = run_ensemble(objective, strategy, executor=executor, store=store)
                ensembles.append((ensemble, time.process_time() - cpu))
    ensemble, driver_cpu = min(ensembles, key=lambda pair: pair[0].wall_time)
    assert len(ensemble.results) == strategy.count
    return {
        "wall": ensemble.wall_time, "startup": startup, "workers": workers,
        "store_ms": 1e3 * ensemble.store_time / strategy.count,
        "driver_ms": 1e3 * driver_cpu / strategy.count,
        "signature": [(r.run_index, r.x.tobytes()) for r in ensemble.results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # Other work on the machine skews every figure: say how busy it was.
    print(f"load average before: {os.getloadavg()[0]:.2f} on {available_cores()} available cores")
    strategy = Spa(max_iter=args.runs, seed=2024, minimizer=LBFGS(conv_threshold=1e7))
    with tempfile.TemporaryDirectory() as folder, local_dask_cluster(args.workers) as address:
        for label, objective in objectives().items():
            # Every registered executor; a scheduler address is given to those that take one (dask).
            rows = {
                name: measure(objective, strategy, executor_from_name(name, workers=args.workers, scheduler=address),
                              Path(folder), 1 if name == "inprocess" else args.workers, args.repeats)
                for name in executor_names()
            }
            serial = rows["inprocess"]
            print(f"\n{args.runs} L-BFGS runs of Hartmann-6, {label}")
            print("| executor | wall s | runs/s | parallel efficiency | start-up s | store ms/run "
                  "| driver CPU ms/run | same results |")
            print("|---|---|---|---|---|---|---|---|")
            for name, row in rows.items():
                efficiency = serial["wall"] / (row["workers"] * row["wall"])
                print(f"| {name} | {row['wall']:.2f} | {args.runs / row['wall']:.0f} | {100 * efficiency:.0f}% "
                      f"| {row['startup']:.2f} | {row['store_ms']:.3f} | {row['driver_ms']:.3f} "
                      f"| {row['signature'] == serial['signature']} |")
            print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

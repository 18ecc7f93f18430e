"""Benchmark of the learned pipeline against SVD-Index on patterns like the models' training data.

The Bravais benchmark (`index_bravais.py`) draws cells the models were not trained on
and gives its patterns no space-group absences. Here the patterns come from the
training-data generator itself (`powdex.training.build.synthetic_entry`), with
another seed than the shipped models' dataset (seed 0), so the crystals are new
but the prior is the models' own: the fairest ground for the learned method. Each
pattern's first 20 observable lines get 2θ noise of 0.015° (Cu Kα1), and each
method searches the true lattice system only, with the same time limit, on one
core per pattern:

    python3 benchmarks/learned_pipeline.py --systems monoclinic,triclinic --cases 20 --time-limit 30

Results are appended to ``--out`` as they arrive; a rerun skips the cases already there.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
from index_bravais import load_rows, run_resumable
from rich.console import Console
from rich.table import Table

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, index
from powdex.peaks import CU_KA1, PeakList, q2_to_two_theta
from powdex.training.build import entries_of_system

GENERATOR_SEED = 7  # not the shipped models' dataset seed (0)
METHODS = ("classical", "learned", "both")


def pattern(system: str, case: int):
    """The ``case``-th generator entry of ``system`` with 20 observable lines, as a noisy 2θ peak list."""
    entry = next(itertools.islice(entries_of_system(GENERATOR_SEED, system, 20), case, None))
    rng = np.random.default_rng([GENERATOR_SEED, case])
    two_theta = np.sort(q2_to_two_theta(entry.observable_q2[:20], CU_KA1) + rng.normal(0, 0.015, 20))
    return entry, PeakList.from_values(two_theta, units="2theta", wavelength=CU_KA1)


def run_case(system: str, case: int, method: str, time_limit: float) -> dict:
    entry, peaks = pattern(system, case)
    bravais = BravaisLattice(entry.bravais_lattice)
    cell = Cell(*entry.conventional_cell)
    result = index(peaks, config=IndexingConfig(systems=system, method=method, time_limit=time_limit, seed=case))
    rank = next((i for i, c in enumerate(result.candidates, 1)
                 if same_lattice(c.cell, cell, c.bravais.centring, bravais.centring, rtol=3e-3)), None)
    return {"system": system, "case": case, "method": method, "bravais": bravais.value,
            "space_group": entry.space_group_symbol, "volume": entry.volume, "rank": rank, "seconds": result.elapsed}


def summary_table(rows: list[dict], systems: list[str], methods: list[str]) -> Table:
    table = Table(title="true cell first, on new patterns from the training-data generator")
    for column in ("system", "method", "cases", "top-1", "found", "median s", "max s"):
        table.add_column(column, justify="right")
    for system in systems:
        for method in methods:
            sel = [r for r in rows if r["system"] == system and r["method"] == method]
            if not sel:
                continue
            ranks = [r["rank"] for r in sel]
            secs = np.array([r["seconds"] for r in sel])
            table.add_row(system, method, str(len(sel)), str(sum(r == 1 for r in ranks)),
                          str(sum(r is not None for r in ranks)), f"{np.median(secs):.1f}", f"{secs.max():.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="monoclinic,triclinic")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per pattern and method")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("bench_learned.jsonl"))
    args = parser.parse_args()
    systems, methods = args.systems.split(","), args.methods.split(",")

    done = load_rows(args.out)
    have = {(r["system"], r["case"], r["method"]) for r in done}
    jobs = [(s, c, m, args.time_limit) for c in range(args.cases) for s in systems for m in methods
            if (s, c, m) not in have]
    console = Console()
    done += run_resumable(args.out, run_case, jobs, args.workers, console, lambda row: (
        f"{row['system']} #{row['case']} {row['method']}: rank {row['rank']} in {row['seconds']:.1f} s"))
    console.print(summary_table([r for r in done if r["case"] < args.cases], systems, methods))


if __name__ == "__main__":
    main()

"""Benchmark of the indexer (`--method classical|learned|both`) over the 14 Bravais lattices.

For each lattice, random cells of realistic size give peak lists with the
faults of real data: 2θ noise σ uniform in 0.01–0.02°, the weakest ~10% of
lines missing, a zero shift up to ±0.05° in half the cases and one impurity
line in a third of them. The indexer runs on each (zero shift refined, one
process per case, the time limit per pattern on one core) and the table gives
the fraction with the true cell first and within the first five, and the median
wall and CPU time per pattern (on a machine shared with other work the wall
time grows with their load, the CPU time hardly).

    python3 benchmarks/index_bravais.py --cases 10 --time-limit 60 --out bench.jsonl

Results are appended to ``--out`` as they arrive; a rerun skips the cases
already there, so an interrupted run loses nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from powdex.crystal import BravaisLattice, Cell, LatticeSystem, same_lattice
from powdex.indexing import IndexingConfig, PeakListFaults, index, synthetic_peaks


def random_cell(bravais: BravaisLattice, rng: np.random.Generator) -> Cell:
    """A cell of realistic size: primitive volume per line count typical of inorganic/small organic phases."""
    length = lambda lo=3.5, hi=14.0: float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # noqa: E731
    system = bravais.lattice_system
    if system is LatticeSystem.CUBIC:
        return Cell(*[length(4.0, 12.0)] * 3)
    if system is LatticeSystem.TETRAGONAL:
        a = length()
        return Cell(a, a, length())
    if system in (LatticeSystem.HEXAGONAL, LatticeSystem.RHOMBOHEDRAL):
        a = length(3.0, 10.0)
        c = length(3.0, 25.0) if system is LatticeSystem.RHOMBOHEDRAL else length()
        return Cell(a, a, c, 90, 90, 120)
    if system is LatticeSystem.ORTHORHOMBIC:
        return Cell(length(), length(), length())
    if system is LatticeSystem.MONOCLINIC:
        return Cell(length(), length(), length(), 90, float(rng.uniform(91, 120)), 90)
    while True:
        try:
            return Cell(length(), length(), length(), *rng.uniform(70, 110, 3).tolist())
        except ValueError:
            continue


def run_case(bravais_symbol: str, case: int, seed: int, time_limit: float, method: str = "both") -> dict:
    bravais = BravaisLattice(bravais_symbol)
    rng = np.random.default_rng([seed, case, list(BravaisLattice).index(bravais)])
    while True:
        cell = random_cell(bravais, rng)
        # Keep cells whose primitive volume fits 20 lines in a laboratory range.
        if 40 <= cell.volume / bravais.points_per_cell <= 1500:
            break
    faults = PeakListFaults(
        two_theta_noise=float(rng.uniform(0.01, 0.02)),
        missing_fraction=0.1,
        zero_shift=float(rng.uniform(-0.05, 0.05)) if rng.random() < 0.5 else 0.0,
        impurity=bool(rng.random() < 1 / 3),
    )
    peaks = synthetic_peaks(cell, bravais, faults=faults, rng=rng)
    cpu = time.process_time()
    result = index(peaks, config=IndexingConfig(seed=case, zero_shift=True, time_limit=time_limit, method=method))
    cpu = time.process_time() - cpu
    rank = next(
        (
            i
            for i, c in enumerate(result.candidates, 1)
            if c.bravais is bravais and same_lattice(c.cell, cell, bravais.centring, bravais.centring, rtol=3e-3)
        ),
        None,
    )
    return {
        "bravais": bravais.value,
        "case": case,
        "cell": cell.parameters.tolist(),
        "n_peaks": len(peaks),
        "zero_shift": faults.zero_shift,
        "impurity": faults.impurity,
        "rank": rank,
        "seconds": result.elapsed,
        # The search's CPU time (one thread): on a loaded machine the wall time above grows with the other load.
        "cpu_seconds": cpu,
        "best": result.candidates[0].to_dict() | {"miller_indices": None} if result.candidates else None,
    }


def load_rows(out: Path) -> list[dict]:
    """The result rows already in ``out`` (JSON lines), none if it does not exist."""
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []


def run_resumable(out: Path, run, jobs: list[tuple], workers: int, console: Console, describe) -> list[dict]:
    """``run(*job)`` for every job in ``workers`` processes, each row appended to ``out`` as it arrives (so an
    interrupted benchmark loses nothing), with a progress bar that shows ``describe(row)``; the new rows."""
    rows = []
    with ProcessPoolExecutor(workers) as pool, out.open("a") as sink, Progress(
        TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
        TimeRemainingColumn(), console=console,
    ) as progress:
        task = progress.add_task("cases", total=len(jobs), last="")
        for future in as_completed([pool.submit(run, *job) for job in jobs]):
            row = future.result()
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            rows.append(row)
            progress.update(task, advance=1, last=describe(row))
    return rows


def summary_table(rows: list[dict]) -> Table:
    table = Table(title="SVD-Index baseline: true cell rank over realistic peak lists")
    for col in ("lattice", "cases", "top-1", "top-5", "found", "median s", "max s", "median cpu s"):
        table.add_column(col, justify="right")
    for b in BravaisLattice:
        sel = [r for r in rows if r["bravais"] == b.value]
        if not sel:
            continue
        ranks = [r["rank"] for r in sel]
        secs = np.array([r["seconds"] for r in sel])
        cpu = np.array([r.get("cpu_seconds", np.nan) for r in sel])
        pct = lambda k: f"{100 * sum(1 for x in ranks if x is not None and x <= k) / len(sel):.0f}%"  # noqa: E731, B023  (used at once, in this iteration)
        table.add_row(b.value, str(len(sel)), pct(1), pct(5), pct(10**9), f"{np.median(secs):.1f}", f"{secs.max():.1f}",
                      f"{np.median(cpu):.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10, help="cases per Bravais lattice")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per pattern")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--lattices", default=",".join(b.value for b in BravaisLattice))
    parser.add_argument("--method", default="both", choices=("classical", "learned", "both"),
                        help="indexing method (powdex index --method)")
    parser.add_argument("--out", type=Path, default=Path("bench_index.jsonl"))
    args = parser.parse_args()

    done = load_rows(args.out)
    have = {(r["bravais"], r["case"]) for r in done}
    jobs = [(b, c, args.seed, args.time_limit, args.method) for c in range(args.cases)
            for b in args.lattices.split(",") if (b, c) not in have]
    console = Console()
    done += run_resumable(args.out, run_case, jobs, args.workers, console,
                          lambda row: f"{row['bravais']} #{row['case']}: rank {row['rank']} in {row['seconds']:.1f} s")
    console.print(summary_table([r for r in done if r["case"] < args.cases]))


if __name__ == "__main__":
    main()

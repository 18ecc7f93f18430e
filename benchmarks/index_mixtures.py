"""Indexing the major phase of a two-phase mixture: with and without the second-phase passes.

Each case: a random cell of one Bravais lattice (``index_bravais.random_cell``) gives its first ``--major`` lines
(2θ noise 0.01°), and a random cell of another lattice system, scaled to a volume per lattice point within a factor
1.5 of the major phase's, gives the rest of the 20 lines, drawn at random among its lines within the major phase's
range and at least 0.1° from every major line. The list is indexed with the default settings (a pass that solves
nothing drops, in turn, the assumptions of no zero offset and of at most ``max_unindexed`` lines of another phase:
``IndexingSearch.widen_assumptions``) and with ``second_phase_share=0`` (never more than ``max_unindexed`` = 4 lines
left). The table gives, per major lattice, how often the major phase's lattice is ranked first, and the median wall
time.

    python3 benchmarks/index_mixtures.py --cases 2 --time-limit 60
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from index_bravais import random_cell
from rich.console import Console
from rich.table import Table

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, PeakListFaults, index, synthetic_peaks
from powdex.peaks import PeakList

MAJOR = ("cP", "cF", "hP", "tP", "tI", "oP", "oC", "mP")
MINOR = ("cF", "hP", "tI", "oP")
LINES = 20
MINOR_DRAWS = 200


def mixture(bravais: BravaisLattice, case: int, seed: int, major_lines: int) -> tuple[PeakList, Cell]:
    """The peak list of one mixture and its major phase's cell."""
    rng = np.random.default_rng([seed, case, list(BravaisLattice).index(bravais)])
    while True:
        cell = random_cell(bravais, rng)
        if 40 <= cell.volume / bravais.points_per_cell <= 1500:
            break
    faults = PeakListFaults(two_theta_noise=0.01)
    major = np.asarray(synthetic_peaks(cell, bravais, major_lines, faults, rng).two_theta)
    others = [b for b in MINOR if BravaisLattice(b).lattice_system is not bravais.lattice_system]
    for _ in range(MINOR_DRAWS):
        minor_bravais = BravaisLattice(others[int(rng.integers(len(others)))])
        # Scaled to the major phase's volume per lattice point (within a factor 1.5) so that as many of its lines
        # fall in the major phase's range.
        drawn = random_cell(minor_bravais, rng)
        scale = (cell.volume / bravais.points_per_cell * rng.uniform(1 / 1.5, 1.5)
                 / (drawn.volume / minor_bravais.points_per_cell)) ** (1 / 3)
        minor_cell = Cell(*(drawn.parameters[:3] * scale), *drawn.parameters[3:])
        lines = np.asarray(synthetic_peaks(minor_cell, minor_bravais, 60, faults, rng).two_theta)
        free = lines[(lines > major[0]) & (lines < major[-1])
                     & (np.min(np.abs(lines[:, None] - major[None, :]), axis=1) > 0.1)]
        if len(free) >= LINES - major_lines:
            break
    else:
        raise RuntimeError(f"{bravais.value} case {case}: no cell of {MINOR_DRAWS} drawn puts "
                           f"{LINES - major_lines} lines among the major phase's")
    chosen = rng.choice(free, LINES - major_lines, replace=False)
    peaks = PeakList.from_values(np.sort(np.r_[major, chosen]), units="2theta", wavelength=1.5406,
                                 source=f"{bravais.value} {case} + {minor_bravais.value}")
    return peaks, cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2, help="mixtures per major Bravais lattice")
    parser.add_argument("--major", type=int, default=12, help="of the 20 lines, those of the major phase")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console(width=160)
    modes = {"default": {}, "second_phase_share=0": {"second_phase_share": 0.0}}
    first: dict[tuple[str, str], list[bool]] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    for symbol in MAJOR:
        bravais = BravaisLattice(symbol)
        for case in range(args.cases):
            peaks, cell = mixture(bravais, case, args.seed, args.major)
            for mode, settings in modes.items():
                start = time.perf_counter()
                result = index(peaks, config=IndexingConfig(seed=case, time_limit=args.time_limit, **settings))
                elapsed = time.perf_counter() - start
                best = result.best
                hit = best is not None and same_lattice(best.cell, cell, best.bravais.centring, bravais.centring,
                                                        rtol=3e-3)
                first.setdefault((symbol, mode), []).append(hit)
                seconds.setdefault((symbol, mode), []).append(elapsed)
                shown = "-" if best is None else f"{best.bravais.value} {best.cell}, {best.figures.n_unindexed} left"
                console.print(f"{peaks.source} ({mode}): {'first' if hit else 'missed'} in {elapsed:.1f} s; "
                              f"best {shown}")
    table = Table(title=f"major phase of a mixture ({args.major} of {LINES} lines) ranked first")
    table.add_column("major lattice")
    for mode in modes:
        table.add_column(f"{mode}: first")
        table.add_column(f"{mode}: median s")
    for symbol in MAJOR:
        row = [symbol]
        for mode in modes:
            hits = first[(symbol, mode)]
            row += [f"{sum(hits)}/{len(hits)}", f"{np.median(seconds[(symbol, mode)]):.1f}"]
        table.add_row(*row)
    totals = ["all"]
    for mode in modes:
        hits = [h for s in MAJOR for h in first[(s, mode)]]
        totals += [f"{sum(hits)}/{len(hits)}", f"{np.median([t for s in MAJOR for t in seconds[(s, mode)]]):.1f}"]
    table.add_row(*totals)
    console.print(table)


if __name__ == "__main__":
    main()

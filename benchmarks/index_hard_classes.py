"""Indexing of the hard classes: sub-cell-ambiguous cubic P cells, pseudo-symmetric monoclinic cells, triclinic.

Published cells (synthetic peak lists of their first 20 lines at Cu Kα1, with their space group's absences,
0.01° of 2θ noise); the table gives the rank of the true lattice, the best candidate, the wall time and the
search's CPU time (on a machine shared with other work the wall time grows with their load, the CPU time hardly).

    python3 benchmarks/index_hard_classes.py --time-limit 30
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, PeakListFaults, index, synthetic_peaks

CASES = [
    # (name, class, Bravais lattice, cell, space group in the cell's setting)
    ("cP a = 5.74 Å", "sub-cell", "cP", Cell(5.74, 5.74, 5.74), "P m -3 m"),
    ("cP a = 7.04 Å", "sub-cell", "cP", Cell(7.04, 7.04, 7.04), "P m -3 m"),
    ("baddeleyite ZrO2", "pseudo-symmetric", "mP", Cell(5.15, 5.21, 5.32, 90, 99.2, 90), "P 1 21/c 1"),
    ("coesite SiO2", "pseudo-symmetric", "mC", Cell(7.14, 12.37, 7.17, 90, 120.3, 90), "C 1 2/c 1"),
    ("chalcanthite CuSO4·5H2O", "triclinic", "aP", Cell(6.12, 10.72, 5.96, 82.35, 107.33, 102.60), None),
    ("K2Cr2O7", "triclinic", "aP", Cell(7.50, 7.38, 13.40, 97.0, 90.9, 96.2), None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = Table(title="hard classes: rank of the true lattice")
    for column in ("case", "class", "truth", "rank", "best", "seconds", "cpu s"):
        table.add_column(column)
    for name, kind, symbol, cell, space_group in CASES:
        bravais = BravaisLattice(symbol)
        peaks = synthetic_peaks(cell, bravais, 20, PeakListFaults(two_theta_noise=0.01),
                                np.random.default_rng(args.seed), space_group=space_group)
        start, cpu = time.perf_counter(), time.process_time()
        result = index(peaks, config=IndexingConfig(seed=args.seed, time_limit=args.time_limit))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        rank = next((i + 1 for i, c in enumerate(result.candidates)
                     if same_lattice(c.cell, cell, c.bravais.centring, bravais.centring, 3e-3)), None)
        best = result.best
        shown = (f"{best.bravais.value} " + " ".join(f"{v:.2f}" for v in best.cell.parameters)
                 if best is not None else "-")
        table.add_row(name, kind, symbol, str(rank or "-"), shown, f"{seconds:.1f}", f"{cpu:.1f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()

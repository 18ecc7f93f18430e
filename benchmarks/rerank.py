"""Benchmark of the re-ranking of indexing candidates by Le Bail fits (``powdex index --refine``).

The pattern: a baddeleyite-like monoclinic cell (a 5.15, b 5.21, c 5.32 Å,
β 99.2°) in P2₁/c, 2000 points from 15 to 60° 2θ, Cu Kα1 + Kα2, synthetic
with noise σ = √y (powdex.refinement.synthetic).  The candidates: the true
cell in its two best extinction classes, the wrong triclinic and C-centred
orthorhombic cells an indexing run of this pattern proposed (about 190 lines
each), and the true cell doubled along a in P1 (a super-cell).  BLAS is
pinned to one thread.  One row per fit, in ranking order: lines, CPU time of
that fit, Rwp, the fit's status (converged, not converged, diverged, or not
fitted because it cannot rank first), and the total.

    python3 benchmarks/rerank.py
"""

from __future__ import annotations

import importlib
import time
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_limits

from powdex.crystal import Cell
from powdex.refinement.synthetic import synthetic_pattern

MONOCLINIC = Cell(5.15, 5.21, 5.32, 90.0, 99.2, 90.0)
PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01}
CANDIDATES = (
    (MONOCLINIC, ("P 1 21/c 1", "P 1 c 1")),
    (Cell(5.48925, 7.33539, 9.17079, 110.776, 101.677, 97.052), ("P 1",)),
    (Cell(5.48907, 18.16949, 19.89276), ("C m c 21", "C 2 2 21")),
    (Cell(2 * MONOCLINIC.a, MONOCLINIC.b, MONOCLINIC.c, 90.0, MONOCLINIC.beta, 90.0), ("P 1",)),
)


def main() -> None:
    pattern, _, _ = synthetic_pattern(MONOCLINIC, "P 1 21/c 1", two_theta=np.linspace(15.0, 60.0, 2000), seed=4,
                                      profile=PROFILE)
    candidates = [SimpleNamespace(cell=cell, zero_shift=0.0,
                                  space_groups=tuple(SimpleNamespace(space_groups=(g,)) for g in groups))
                  for cell, groups in CANDIDATES]
    module = importlib.import_module("powdex.refinement.rerank")
    fitted = module.refine
    seconds: dict[tuple[int, str], float] = {}

    def timed(pattern, cell, group, **options):
        start = time.process_time()
        try:
            return fitted(pattern, cell, group, **options)
        finally:
            number = next(k for k, c in enumerate(candidates) if c.cell is cell)
            seconds[(number, group)] = time.process_time() - start

    module.refine = timed
    start = time.process_time()
    with threadpool_limits(1):
        reranking = module.rerank(pattern, candidates, top=len(candidates), classes=2)
    total = time.process_time() - start
    print(f"{'#':>2} {'space group':<12} {'lines':>6} {'CPU s':>7} {'Rwp %':>8}  status")
    for fit in reranking.fits:
        status = "diverged" if getattr(fit, "diverged", False) else (
            "converged" if fit.fit.converged else "not converged")
        print(f"{fit.candidate + 1:>2} {fit.space_group:<12} {fit.lines:>6} {seconds[(fit.candidate, fit.space_group)]:>7.2f} "
              f"{100 * fit.rwp:>8.2f}  {status}: {fit.fit.message[:70]}")
    for number, group, why in getattr(reranking, "skipped", ()):
        print(f"{number + 1:>2} {group:<12} {why.split()[0]:>6} {'':>7} {'':>8}  not fitted (cannot rank first)")
    for number, group, message in reranking.failed:
        print(f"{number + 1:>2} {group:<12} {'':>6} {'':>7} {'':>8}  failed: {message[:70]}")
    print(f"total CPU {total:.1f} s")


if __name__ == "__main__":
    main()

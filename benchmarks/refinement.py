"""Benchmark of Pawley refinement on a synthetic P2₁/c pattern with known noise.

The pattern: a monoclinic cell (a 9.6, b 8.3, c 11.2 Å, β 103°) in P2₁/c,
5000 points from 8 to 88° 2θ, Cu Kα1 + Kα2 (ratio 0.5), Thompson–Cox–Hastings
profile with Finger–Cox–Jephcoat asymmetry, a Chebyshev background, random
line intensities and Gaussian noise σ = √y (powdex.refinement.synthetic).
BLAS is pinned to one thread.  Each row gives wall and CPU time (the CPU
figure is the one to compare on a shared machine).  Rows:

- profile evaluation and Jacobian (every parameter, and every parameter but
  S/L and H/L, as the stages before the asymmetry's and a χ² map ask):
  median of repeats, with the asymmetry on and off, on this pattern (689
  lines, 1378 peaks with Kα2) and on one of a smaller P2₁/c cell (a 7.2,
  b 6.4, c 9.1 Å, β 100°: 328 lines, 656 peaks, the size the speed targets
  are stated for);
- Pawley fit cold (from a cell 0.15 % off and the default profile) and seeded
  (``neighbour=`` the cold fit, as the next pattern of a series would start),
  with the reduced χ² each reaches (1 is the noise);
- an ensemble of ``--starts`` starts from cells up to ±1 % off: how many reach
  the global minimum (χ² within 0.1 % of the best);
- a 21×21 χ² map over a and c around the refined cell (other parameters held;
  powdex.refinement.surface.chi2_map on powdex.optim.evaluate_on_grid).

    python3 benchmarks/refinement.py --starts 16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from powdex.crystal import Cell
from powdex.refinement import refine
from powdex.refinement.profile import HL, SL
from powdex.refinement.surface import chi2_map
from powdex.refinement.synthetic import synthetic_pattern

TRUE_CELL = Cell(9.6, 8.3, 11.2, 90.0, 103.0, 90.0)
SMALL_CELL = Cell(7.2, 6.4, 9.1, 90.0, 100.0, 90.0)
GROUP = "P 1 21/c 1"
PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.03, "H/L": 0.015, "zero": 0.01}


def median_ms(call, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``call`` over ``repeats`` (after one warm-up)."""
    call()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return 1e3 * statistics.median(walls), 1e3 * statistics.median(cpus)


class Timer:
    """Wall and CPU seconds of a block: the machine may be shared, so CPU time is the figure to compare."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def profile_rows(model, truth: np.ndarray, label: str, repeats: int) -> list[tuple[str, float, float]]:
    """Evaluation and Jacobian times of ``model`` at ``truth``, with the asymmetry on and off."""
    windows = model.windows(truth)
    symmetric = truth.copy()
    symmetric[SL] = symmetric[HL] = 0.0
    symmetric_windows = model.windows(symmetric)
    held_asymmetry = np.setdiff1d(np.arange(model.size), [SL, HL])
    return [
        (f"profile evaluation, asymmetry on{label} (ms)", *median_ms(lambda: model.evaluate(truth, windows), repeats)),
        (f"profile evaluation, asymmetry off{label} (ms)",
         *median_ms(lambda: model.evaluate(symmetric, symmetric_windows), repeats)),
        (f"Jacobian, asymmetry on{label} (ms)", *median_ms(lambda: model.jacobian(truth, windows), repeats)),
        (f"Jacobian, asymmetry on, S/L H/L held{label} (ms)",
         *median_ms(lambda: model.jacobian(truth, windows, held_asymmetry), repeats)),
        (f"Jacobian, asymmetry off{label} (ms)",
         *median_ms(lambda: model.jacobian(symmetric, symmetric_windows), repeats)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with threadpool_limits(1):
        pattern, model, truth = synthetic_pattern(TRUE_CELL, GROUP, two_theta=np.linspace(8.0, 88.0, 5000),
                                                  seed=args.seed, profile=PROFILE)
        print(f"pattern: {pattern.two_theta.size} points, {model.n_lines} lines ({model.n_components} peaks with Kα2)")
        rows += profile_rows(model, truth, "", args.repeats)
        _, small_model, small_truth = synthetic_pattern(SMALL_CELL, GROUP, two_theta=np.linspace(8.0, 88.0, 5000),
                                                        seed=args.seed, profile=PROFILE)
        rows += profile_rows(small_model, small_truth, f", {small_model.n_components} peaks", args.repeats)

        start = Cell(*(TRUE_CELL.parameters * (1 + np.array([0.0015, -0.0015, 0.0015, 0, 0.0005, 0]))))
        with Timer() as timer:
            cold = refine(pattern, start, GROUP)
        rows.append(("Pawley fit, cold (s)", timer.wall, timer.cpu))
        rows.append(("  reduced χ² (cold)", cold.statistics.reduced_chi2, None))
        errors = [abs(getattr(cold.cell, n) - getattr(TRUE_CELL, n)) / cold.cell_esd[n] for n in ("a", "b", "c", "beta")]
        rows.append(("  largest |cell − true| / esd (cold)", max(errors), None))
        with Timer() as timer:
            seeded = refine(pattern, cold.cell, GROUP, neighbour=cold)
        rows.append(("Pawley fit, seeded (s)", timer.wall, timer.cpu))
        rows.append(("  reduced χ² (seeded)", seeded.statistics.reduced_chi2, None))

        with Timer() as timer:
            ensemble = refine(pattern, start, GROUP, starts=args.starts, cell_error=0.01, seed=args.seed)
        rows.append((f"starts of {args.starts} (±1 % cells) at the global minimum", ensemble.starts_at_best / args.starts, None))
        rows.append(("  ensemble, one process (s)", timer.wall, timer.cpu))

        with Timer() as timer:
            surface = chi2_map(cold, ("a", "c"), span=0.002, resolution=21)
        rows.append(("21×21 χ² map over a, c (s)", timer.wall, timer.cpu))
        rows.append(("  map minimum at the refined cell", float(surface.values[10, 10] == surface.values.min()), None))
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':<{width}}  {'wall':>10}  {'CPU':>10}")
    for name, value, cpu in rows:
        print(f"{name:<{width}}  {value:10.4g}  {'' if cpu is None else f'{cpu:10.4g}':>10}")


if __name__ == "__main__":
    main()

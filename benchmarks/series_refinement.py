"""Benchmark: Rietveld series of synthetic patterns (cell drifting 1 %, peak widths doubling,
a tetragonal → metrically cubic transition), plain sequential seeding against the ensemble fallback.

    python3 benchmarks/series_refinement.py --count 100 --transition 60

Prints, per mode: seconds per pattern, patterns with GoF ≤ 1.1, patterns whose cell
is within 2 esd (before the transition) or 0.03 % (after, where a and c coincide) of
the truth, and which patterns the ensemble chose.  One core (BLAS pinned by the caller:
OPENBLAS_NUM_THREADS=1)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from powdex.refinement.plan import RefinementPlan
from powdex.series.refinement import refine_series
from tests.series.conftest import DATA, PLAN_WITH_PROFILE, transition_series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--transition", type=int, default=60)
    parser.add_argument("--step", type=float, default=0.03, help="2θ step (degrees)")
    parser.add_argument("--ensemble-starts", type=int, default=8)
    parser.add_argument("--widening", type=float, default=2.0, help="last pattern's peak width / the first's")
    parser.add_argument("--c-over-a", type=float, default=1.04, help="tetragonal c/a before the transition")
    parser.add_argument("--drift", type=float, default=0.01, help="relative growth of the cell over the series")
    arguments = parser.parse_args()
    patterns, truth = transition_series(arguments.count, arguments.transition, step=arguments.step,
                                       drift=arguments.drift, widening=arguments.widening,
                                       c_over_a=arguments.c_over_a)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "plan.toml").write_text(PLAN_WITH_PROFILE)
        # The structure's starting c matches the first pattern's c/a.
        cif = (DATA / "tetragonal.cif").read_text().replace("_cell_length_c 4.0800",
                                                            f"_cell_length_c {4.0 * arguments.c_over_a:.4f}")
        (Path(folder) / "tetragonal.cif").write_text(cif)
        plan = RefinementPlan.from_toml(Path(folder) / "plan.toml")
        print(f"{arguments.count} patterns, {patterns[0].two_theta.size} points each, cell +{arguments.drift:.1%}, "
              f"widths ×{arguments.widening:g}, c/a {arguments.c_over_a:g} → 1 at {arguments.transition}")
        print(f"{'mode':<12}{'s/pattern':>10}{'GoF≤1.1':>9}{'cell ok':>9}  ensemble at; cell off at")
        for fallback in (False, True):
            started = time.perf_counter()
            result = refine_series(patterns, plan, fallback=fallback, ensemble_starts=arguments.ensemble_starts)
            seconds = (time.perf_counter() - started) / len(patterns)
            good_fit = sum(e.result.statistics.gof <= 1.1 for e in result.entries)
            cell_off = []
            for entry, (a, c) in zip(result.entries, truth):
                phase = entry.phases[0]
                if entry.position < arguments.transition:
                    ok = abs(phase.cell[0] - a) < 2 * phase.cell_esd[0] and abs(phase.cell[2] - c) < 2 * phase.cell_esd[2]
                else:
                    ok = abs(phase.cell[0] - a) < 3e-4 * a and abs(phase.cell[2] - c) < 3e-4 * c
                if not ok:
                    cell_off.append(entry.position)
            good_cell = len(result.entries) - len(cell_off)
            chosen = [e.position for e in result.entries if "ensemble" in e.flags]
            print(f"{'ensemble' if fallback else 'sequential':<12}{seconds:>10.2f}{good_fit:>9}{good_cell:>9}  {chosen}; {cell_off}")


if __name__ == "__main__":
    main()

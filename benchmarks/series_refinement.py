"""Benchmark: Rietveld series of synthetic patterns (cell drifting 1 %, peak widths doubling,
a tetragonal → metrically cubic transition), plain sequential seeding against the ensemble fallback,
and interleaved chains on one or more workers.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/series_refinement.py --count 100 --transition 60 \
        --modes sequential,ensemble
    OPENBLAS_NUM_THREADS=1 python3 benchmarks/series_refinement.py --count 100 --transition 60 \
        --modes chains --chains 2 --workers 1,2

Prints, per mode: workers, seconds in all (wall, and this process's CPU seconds on one worker:
the time on one core of a quiet machine) and per pattern, patterns with GoF ≤ 1.1, patterns
whose cell is within 2 esd (before the transition) or 0.03 % (after, where a and c coincide) of
the truth, the patterns where the ensemble was chosen, and whether the results equal those of the
first run of the same mode (chains on N workers against chains on 1).  ``sequential``: no
fallback; ``ensemble``: one chain with the fallback; ``chains``: ``--chains`` interleaved chains
with the fallback, on 1 worker in this process and on N worker processes."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from powdex.optim.executors import LocalProcesses
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
    parser.add_argument("--modes", default="sequential,ensemble,chains", help="comma-separated: sequential, "
                        "ensemble, chains")
    parser.add_argument("--chains", type=int, default=2, help="interleaved chains of the chains mode")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts of the chains mode")
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
        print(f"{'mode':<12}{'workers':>8}{'s':>8}{'cpu s':>8}{'s/pattern':>10}{'GoF≤1.1':>9}{'cell ok':>9}{'same':>6}"
              "  ensemble at; cell off at")
        runs = []
        for mode in arguments.modes.split(","):
            for workers in ([int(w) for w in arguments.workers.split(",")] if mode == "chains" else [1]):
                executor = LocalProcesses(workers=workers) if workers > 1 else None
                chains = arguments.chains if mode == "chains" else 1
                started, cpu = time.perf_counter(), time.process_time()
                result = refine_series(patterns, plan, fallback=mode != "sequential",
                                       ensemble_starts=arguments.ensemble_starts, chains=chains, executor=executor)
                seconds = time.perf_counter() - started
                # This process's CPU seconds: on one worker, the time on one core of a quiet machine.
                cpu_seconds = f"{time.process_time() - cpu:.1f}" if workers == 1 else "-"
                # As JSON text: NaN (an undefined R_Bragg, say) never equals itself as a float.
                documents = json.dumps([entry.to_dict() for entry in result.entries])
                same = next((documents == earlier for m, earlier in runs if m == mode), None)
                runs.append((mode, documents))
                good_fit = sum(e.result.statistics.gof <= 1.1 for e in result.entries)
                cell_off = [e.position for e, (a, c) in zip(result.entries, truth)
                            if not cell_ok(e, a, c, arguments.transition)]
                chosen = [e.position for e in result.entries if "ensemble" in e.flags]
                print(f"{mode:<12}{workers:>8}{seconds:>8.1f}{cpu_seconds:>8}{seconds / len(patterns):>10.2f}{good_fit:>9}"
                      f"{len(result.entries) - len(cell_off):>9}{'-' if same is None else str(same):>6}  "
                      f"{chosen}; {cell_off}", flush=True)


def cell_ok(entry, a: float, c: float, transition: int) -> bool:
    phase = entry.phases[0]
    if entry.position < transition:
        return abs(phase.cell[0] - a) < 2 * phase.cell_esd[0] and abs(phase.cell[2] - c) < 2 * phase.cell_esd[2]
    return abs(phase.cell[0] - a) < 3e-4 * a and abs(phase.cell[2] - c) < 3e-4 * c

if __name__ == "__main__":
    main()

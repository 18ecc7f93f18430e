"""Candidate cells per second through regression (draws from every group's network and forest) and Miller-index
assignment, numpy on one core, for each lattice system with models.

    python benchmarks/models_throughput.py --dataset DATASET [--models DIR] [--patterns 20] [--candidates 1000]

Peak lists are the first validation entries of the prepared dataset with all the 20 (cubic 10) peaks the assignment
network reads.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from powdex.models.data import load_system_data
from powdex.models.store import SHIPPED, load_system, shipped_systems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=SHIPPED)
    parser.add_argument("--patterns", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'system':>13} {'groups':>6} {'cells':>7} {'regression s':>12} {'assignment s':>12} {'cells/s':>8}")
    with threadpool_limits(1):
        for system in shipped_systems(args.models):
            models = load_system(system, args.models)
            data = load_system_data(args.dataset / "prepared", system).full()  # the assignment network reads 20 (10) peaks
            peak_lists = data.q2[~data.training][: args.patterns]
            regression = assignment = 0.0
            produced = 0
            for q2 in peak_lists:
                start = time.perf_counter()
                cells, uncertainty = models.candidates(q2, args.candidates, rng)
                middle = time.perf_counter()
                models.assignment.assign(q2, cells, uncertainty)
                regression += middle - start
                assignment += time.perf_counter() - middle
                produced += len(cells)
            total = regression + assignment
            print(f"{system.value:>13} {len(models.regression):>6} {produced:>7} {regression:>12.2f} {assignment:>12.2f} {produced / total:>8.0f}")


if __name__ == "__main__":
    main()

"""How close the learned method's candidate cells come to the true cell, on the learned-pipeline benchmark's patterns.

The learned method (``powdex index --method learned``) starts its Metropolis
chains from cells drawn from every group's variance network and random forest
(30 + 30 per group). A chain reaches the true cell only from a start near it:
the test ``test_a_chain_from_a_cell_three_percent_off…`` starts 3.5 % off (RMS
relative q² error of the first 40 lines). This prints, per pattern, how far the
nearest of all the draws is: the RMS relative error of the draw's q² at the
true Miller indices of the first 20 observed lines, the least over the axis
permutations and index signs that relate a draw's setting (its group's) to the
true one. "scaled" is the same after the one common q² factor that best fits
that draw to the lines, which needs the true indices: it shows how much of the
error is the cell's size alone.

The second table is the chains' reach on the same patterns: chains (the
indexer's defaults) from the true cell moved in random directions of the free
reciprocal parameters to a given RMS error by the same measure, and how many
end at the true cell (within 0.5 %).

    python3 benchmarks/learned_draws.py --system monoclinic --cases 10
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from learned_pipeline import pattern
from rich.console import Console
from rich.table import Table

from powdex.crystal import Cell, LatticeSystem, reciprocal_coefficients
from powdex.indexing import IndexingConfig
from powdex.indexing.learned import AssignmentLikelihood, system_models
from powdex.indexing.observations import Observations
from powdex.models.cells import swap_cell_axes, unique_axis_swap
from powdex.optim import Objective

DRAWS_PER_GROUP = 60  # the learned method's 30 + 30
SIGNS = ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1))
REACH_ERRORS = (0.01, 0.02, 0.04, 0.06, 0.08)
CONVERGED = 0.005


def relative_errors(cells: np.ndarray, hkl: np.ndarray, q2: np.ndarray, scaled: bool) -> np.ndarray:
    """Per cell, the RMS relative q² error at the true indices, least over settings (and the best q² factor)."""
    best = np.full(len(cells), np.inf)
    for permutation in itertools.permutations(range(3)):
        for sign in SIGNS:
            indices = hkl[:, list(permutation)] * np.array(sign)
            ratio = np.stack([Cell(*cell).q2(indices) for cell in cells]) / q2
            if scaled:
                ratio *= (ratio.sum(axis=1) / (ratio**2).sum(axis=1))[:, None]
            best = np.minimum(best, np.sqrt(np.mean((ratio - 1.0) ** 2, axis=1)))
    return best


def chains_reaching(system: LatticeSystem, entry, peaks, uncertainty: float, starts: int,
                    rng: np.random.Generator) -> list[int]:
    """Per error of ``REACH_ERRORS``, how many of ``starts`` chains from the true cell moved that far end at it."""
    models = system_models(system)
    config = IndexingConfig()
    obs = Observations.from_peaks(peaks)
    n = models.assignment.n_peaks
    likelihood = AssignmentLikelihood(system, models.assignment, obs.q2[:n], obs.dq2_dtt[:n] * config.chain_epsilon,
                                      uncertainty, config.indices, config.subsample, config.subsample_fraction)
    objective = Objective(likelihood, system.n_free, resample=likelihood.resample, name="reach")
    cell = entry.reindexed_cell[None, :]
    truth = (reciprocal_coefficients(swap_cell_axes(cell, unique_axis_swap(system, cell)))
             @ np.linalg.pinv(system.coefficient_map))[0]
    hkl, q2 = entry.observable_hkl_reindexed[:20].astype(float), entry.observable_q2[:20]

    def error(x: np.ndarray) -> float:
        return float(relative_errors(system.cell(x).parameters[None, :], hkl, q2, scaled=False)[0])

    reached = []
    for target in REACH_ERRORS:
        count = 0
        for _ in range(starts):
            direction = truth * rng.standard_normal(len(truth))
            step = direction * target / error(truth + direction * 1e-3) * 1e-3  # the error is linear near the truth
            chain = config.metropolis_chain.minimize(objective, truth + step, seed=int(rng.integers(2**31)))
            count += error(chain.x) <= CONVERGED
        reached.append(count)
    return reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="monoclinic")
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--starts", type=int, default=10, help="chains per case and distance in the reach table")
    args = parser.parse_args()
    system = LatticeSystem(args.system)
    models = system_models(system)
    table = Table(title=f"nearest learned draw to the true {args.system} cell (RMS relative q² error, first 20 lines)")
    for column in ("case", "space group", "V Å³", "draws", "nearest", "≤ 2 %", "≤ 4 %", "≤ 8 %", "nearest scaled"):
        table.add_column(column, justify="right", no_wrap=True)
    reach = Table(title=f"chains from the true {args.system} cell moved by an RMS relative q² error, ending at it")
    for column in ("case", *(f"{100 * e:g} %" for e in REACH_ERRORS)):
        reach.add_column(column, justify="right", no_wrap=True)
    nearest = []
    for case in range(args.cases):
        entry, peaks = pattern(args.system, case)
        rng = np.random.default_rng(case)
        cells, uncertainty = zip(*(regression.candidates(peaks.q2, DRAWS_PER_GROUP, rng)
                                   for regression in models.regression.values()))
        cells = np.concatenate(cells)
        hkl, q2 = entry.observable_hkl_reindexed[:20].astype(float), entry.observable_q2[:20]
        error = relative_errors(cells, hkl, q2, scaled=False)
        scaled = relative_errors(cells, hkl, q2, scaled=True)
        nearest.append(error.min())
        table.add_row(str(case), entry.space_group_symbol, f"{entry.volume:.0f}", str(len(cells)),
                      f"{100 * error.min():.1f} %", *(str(int(np.sum(error <= t))) for t in (0.02, 0.04, 0.08)),
                      f"{100 * scaled.min():.1f} %")
        reached = chains_reaching(system, entry, peaks, float(np.median(np.concatenate(uncertainty))), args.starts, rng)
        reach.add_row(str(case), *(f"{r}/{args.starts}" for r in reached))
    console = Console()
    console.print(table)
    console.print(f"median nearest: {100 * np.median(nearest):.1f} %")
    console.print(reach)


if __name__ == "__main__":
    main()

"""χ² of a refined whole-pattern fit over two of its cell's free parameters, on a grid.

Everything but the two lattice parameters is held at the refinement's values
(profile, shifts, background, line intensities), so the map shows how sharply
the data fix the cell and whether the minimum is the refined cell, the
question a map answers; it is ``powdex.optim.evaluate_on_grid`` of a
picklable χ² function.
"""

from __future__ import annotations

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.optim import Bounds, SurfaceMap, evaluate_on_grid
from powdex.refinement.errors import RefinementError
from powdex.refinement.profile import GLOBAL_NAMES, ProfileModel
from powdex.refinement.result import RefinementResult


class CellChi2:
    """χ² of ``result``'s fit with two of its cell's free parameters (``names``) set."""

    def __init__(self, result: RefinementResult, names: tuple[str, str]):
        self.system = LatticeSystem(result.lattice_system)
        free = self.system.free_parameter_names
        unknown = [name for name in names if name not in free]
        if unknown or len(set(names)) != 2:
            raise RefinementError(f"map parameters {', '.join(names)}: give two different free parameters of the "
                                  f"{self.system.value} cell ({', '.join(free)})")
        self.positions = [free.index(name) for name in names]
        values = {q.name: q.value for q in result.parameters}
        terms = sum(1 for name in values if name.startswith("background_"))
        self.model = ProfileModel(result.two_theta, result.wavelengths, result.ratio,
                                  self.system.design_matrix(result.hkl), background_terms=terms)
        p = np.zeros(self.model.size)
        for k, name in enumerate(GLOBAL_NAMES):
            p[k] = values.get(name, 0.0)
        p[self.model.background_slice] = [values[f"background_{k}"] for k in range(terms)]
        p[self.model.intensity_slice] = np.nan_to_num(result.line_intensity)
        self.p, self.free = p, self.system.free_parameters(result.cell)
        self.observed, self.sigma = result.observed, result.sigma

    def __call__(self, values: np.ndarray) -> float:
        free = self.free.copy()
        free[self.positions] = values
        p = self.p.copy()
        p[self.model.cell_slice] = self.system.free_reciprocal_parameters(self.system.cell_from_free_parameters(free))
        r = (self.observed - self.model.evaluate(p)) / self.sigma
        return float(r @ r)


def chi2_map(result: RefinementResult, names: tuple[str, str] = ("a", "c"), *, span: float = 0.002,
             resolution: int = 21) -> SurfaceMap:
    """χ² over ``names`` (two free cell parameters) within ± ``span`` (relative)
    of the refined values, on a ``resolution`` × ``resolution`` grid."""
    chi2 = CellChi2(result, names)
    centre = chi2.free[chi2.positions]
    bounds = Bounds(centre * (1 - span), centre * (1 + span))
    return evaluate_on_grid(chi2, bounds, resolution=resolution)

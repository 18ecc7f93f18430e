"""χ² of a refined whole-pattern fit over two of its cell's free parameters, on a grid.

Everything but the two lattice parameters is held at the refinement's values
(profile, shifts, background, line intensities), so the map shows how sharply
the data fix the cell and whether the minimum is the refined cell, the
question a map answers; it is ``powdex.optim.evaluate_on_grid`` of a
picklable χ² function.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.optim import Bounds, SurfaceMap, evaluate_on_grid
from powdex.refinement.errors import RefinementError
from powdex.refinement.profile import GLOBAL_NAMES, ProfileModel
from powdex.refinement.result import RefinementResult
from powdex.refinement.stephens import StephensWidth


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
        # A refinement with Stephens's anisotropic strain keeps its per-line widths on the map.
        strain = StephensWidth.of(self.system, result.hkl) if any(n.startswith("strain_") for n in values) else None
        self.model = ProfileModel(result.two_theta, result.wavelengths, result.ratio,
                                  self.system.design_matrix(result.hkl), background_terms=terms, extra_width=strain,
                                  k_beta=result.k_beta)
        p = np.zeros(self.model.size)
        for k, name in enumerate(GLOBAL_NAMES):
            p[k] = values.get(name, 0.0)
        if strain is not None:
            p[self.model.width_slice] = [values[f"strain_{name}"] for name in strain.names]
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
    if not span > 0 or resolution < 3:
        raise RefinementError(f"map: span ({span}) must be positive and resolution ({resolution}) at least 3")
    chi2 = CellChi2(result, names)
    centre = chi2.free[chi2.positions]
    bounds = Bounds(centre * (1 - span), centre * (1 + span))
    return evaluate_on_grid(chi2, bounds, resolution=resolution)


# Δχ² of the 68.3 % joint confidence region of two parameters (χ² with two degrees of freedom).
JOINT_68_DELTA_CHI2 = 2.30


def write_chi2_map(surface: SurfaceMap, result: RefinementResult, names: tuple[str, str], directory: str | Path,
                   stem: str = "chi2_map") -> dict[str, Path]:
    """Write ``surface`` (``chi2_map`` of ``result`` over ``names``) as ``stem``.json,
    the grid with its χ² and Rwp values, and ``stem``.png, Δχ² = χ² − χ²_min in
    contours of log₁₀(1 + Δχ²) with the 68 % joint region of the two parameters (Δχ² = 2.30 times
    the fit's reduced χ², the scaling its standard uncertainties carry) and the
    refined cell marked."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weighted_total = float(np.sum((result.observed / result.sigma) ** 2))
    rwp = np.sqrt(surface.values / weighted_total)
    refined = [getattr(result.cell, name) for name in names]
    paths = {"json": directory / f"{stem}.json", "png": directory / f"{stem}.png"}
    document = {"parameters": list(names), "refined": refined, "x": surface.x.tolist(), "y": surface.y.tolist(),
                "chi2": surface.values.tolist(), "rwp": rwp.tolist(),
                "held": "every other parameter at the refinement's values", "source": result.source}
    paths["json"].write_text(json.dumps(document, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    delta = surface.values - surface.values.min()
    figure, axis = plt.subplots(figsize=(5.6, 4.6))
    # On a log scale: Δχ² spans orders of magnitude between the minimum and the edges.
    filled = axis.contourf(surface.x, surface.y, np.log10(1.0 + delta), levels=25, cmap="viridis")
    region = JOINT_68_DELTA_CHI2 * max(result.statistics.reduced_chi2, 1.0)
    if delta.max() > region:
        axis.contour(surface.x, surface.y, delta, levels=[region], colors="white", linewidths=1.2)
    axis.plot(*refined, marker="+", color="red", markersize=12, label="refined")
    axis.set_xlabel(f"{names[0]} (Å)" if names[0] in ("a", "b", "c") else f"{names[0]} (°)")
    axis.set_ylabel(f"{names[1]} (Å)" if names[1] in ("a", "b", "c") else f"{names[1]} (°)")
    axis.set_title(f"Δχ² over {names[0]}, {names[1]} (white: 68 % joint region)\nminimum Rwp {100 * rwp.min():.3f} %")
    axis.ticklabel_format(useOffset=False)
    axis.legend(loc="upper right")
    figure.colorbar(filled, ax=axis, label="log₁₀(1 + χ² − χ²_min)")
    figure.savefig(paths["png"], dpi=110, bbox_inches="tight")
    plt.close(figure)
    return paths

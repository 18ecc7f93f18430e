from pathlib import Path

import numpy as np
import pytest

from powdex.refinement.api import DEFAULT_PROFILE
from powdex.refinement.plan import RefinementPlan
from powdex.refinement.rietveld import RietveldPhase, simulate_pattern
from powdex.refinement.structure import CrystalStructure

DATA = Path(__file__).parent / "data"
PLAN = """
version = 1
background_terms = 3
[[phases]]
name = "T"
cif = "tetragonal.cif"
[[stages]]
free = ["background", "scale", "cell", "zero"]
"""
# The same with the peak widths refined: for series whose peaks broaden.
PLAN_WITH_PROFILE = PLAN + """[[stages]]
free = ["profile"]
"""


def transition_series(count: int, transition: int, *, step: float = 0.03, drift: float = 0.01,
                      widening: float = 1.0, c_over_a: float = 1.02):
    """``count`` patterns of a tetragonal cell growing by ``drift`` (relative) over the series
    with c = ``c_over_a`` · a that becomes metrically cubic (c = a) at pattern ``transition``; returns the
    patterns and the true (a, c).  Peak widths grow linearly to ``widening`` times the first's."""
    phase = RietveldPhase(CrystalStructure.from_cif(DATA / "tetragonal.cif"), "T")
    patterns, truth = [], []
    for k in range(count):
        growth = 1 + drift * k / max(count - 1, 1)
        a = 4.00 * growth
        c = a * c_over_a if k < transition else a
        width = 1 + (widening - 1) * k / max(count - 1, 1)
        values = {"T:scale": 0.05, "bkg0": 150.0, "T:a": a, "T:b": a, "T:c": c}
        values |= {name: DEFAULT_PROFILE[name] * width ** (2 if name in "UVW" else 1) for name in "UVWXY"}
        patterns.append(simulate_pattern([phase], np.arange(20.0, 80.0, step), seed=100 + k, values=values,
                                         source=f"scan_{k:03d}.xye"))
        truth.append((a, c))
    return patterns, truth


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text(PLAN)
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    return RefinementPlan.from_toml(path)


TWO_PHASE_PLAN = """
version = 1
background_terms = 3
[[phases]]
name = "T"
cif = "tetragonal.cif"
[[phases]]
name = "C"
cif = "cubic.cif"
[[stages]]
free = ["background", "scale", "cell", "zero"]
"""
TWO_PHASE_PLAN_WITH_PROFILE = TWO_PHASE_PLAN + """[[stages]]
free = ["profile"]
"""


def coexistence_series(count: int, first: int, last: int, *, step: float = 0.03, drift: float = 0.01,
                       widening: float = 1.0):
    """``count`` patterns: the tetragonal phase alone before ``first``, the cubic one alone after
    ``last``, both between with the cubic weight fraction rising linearly; cells grow by ``drift``
    and peak widths linearly to ``widening`` times the first's.  Returns the patterns and, per
    pattern, the true (a_T, c_T, a_C, cubic weight fraction)."""
    tetragonal = RietveldPhase(CrystalStructure.from_cif(DATA / "tetragonal.cif"), "T")
    cubic = RietveldPhase(CrystalStructure.from_cif(DATA / "cubic.cif"), "C")
    mass = tetragonal.structure.cell_mass()  # the same atoms in both cells
    patterns, truth = [], []
    for k in range(count):
        growth = 1 + drift * k / max(count - 1, 1)
        a, c, a_cubic = 4.00 * growth, 4.08 * growth, 4.04 * growth
        fraction = float(np.clip((k - first + 1) / (last - first + 2), 0.0, 1.0))
        width = 1 + (widening - 1) * k / max(count - 1, 1)
        # Hill–Howard: W ∝ S·ZM·V, so scales for a wanted fraction at a fixed total.
        scale_t = 0.05 * (1 - fraction) / (mass * a * a * c) * 65.28
        scale_c = 0.05 * fraction / (mass * a_cubic ** 3) * 65.28
        values = {"T:scale": scale_t, "C:scale": scale_c, "bkg0": 150.0, "T:a": a, "T:b": a, "T:c": c,
                  "C:a": a_cubic, "C:b": a_cubic, "C:c": a_cubic}
        values |= {name: DEFAULT_PROFILE[name] * width ** (2 if name in "UVW" else 1) for name in "UVWXY"}
        patterns.append(simulate_pattern([tetragonal, cubic], np.arange(20.0, 80.0, step), seed=500 + k,
                                         values=values, source=f"scan_{k:03d}.xye"))
        truth.append((a, c, a_cubic, fraction))
    return patterns, truth


def splitting_series(count: int, split: int, *, c_over_a: float = 1.04, step: float = 0.04):
    """``count`` patterns of the tetragonal structure, metrically cubic (c = a = 4.0) before pattern ``split``,
    its c/a then rising linearly to ``c_over_a`` at the last: (h00) and (00l) lines split apart.  Returns
    the patterns and the true (a, c)."""
    phase = RietveldPhase(CrystalStructure.from_cif(DATA / "tetragonal.cif"), "T")
    patterns, truth = [], []
    for k in range(count):
        a = 4.0
        c = a * (1 + (c_over_a - 1) * max(k - split + 1, 0) / max(count - split, 1))
        values = {"T:scale": 0.05, "bkg0": 150.0, "T:a": a, "T:b": a, "T:c": c} | DEFAULT_PROFILE
        patterns.append(simulate_pattern([phase], np.arange(20.0, 80.0, step), seed=300 + k, values=values,
                                         source=f"scan_{k:03d}.xye"))
        truth.append((a, c))
    return patterns, truth

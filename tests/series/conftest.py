from pathlib import Path

import numpy as np
import pytest

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


def transition_series(count: int, transition: int, *, step: float = 0.03):
    """``count`` patterns of a tetragonal cell drifting by 0.1 % per pattern that becomes
    metrically cubic (c = a) at pattern ``transition``; returns the patterns and the true (a, c)."""
    phase = RietveldPhase(CrystalStructure.from_cif(DATA / "tetragonal.cif"), "T")
    patterns, truth = [], []
    for k in range(count):
        a = 4.00 * (1 + 0.001 * k)
        c = 4.08 * (1 + 0.001 * k) if k < transition else a
        values = {"T:scale": 0.05, "bkg0": 150.0, "T:a": a, "T:b": a, "T:c": c}
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

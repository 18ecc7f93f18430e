import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.peaks import CU_KA1, PeakList, q2_to_two_theta
from powdex.training.build import LATTICE_SYSTEMS, synthetic_entry


@pytest.fixture(scope="session")
def generator_pattern():
    """``(system, case) -> (conventional cell, peak list)``: the learned-pipeline benchmark's pattern
    (``benchmarks/learned_pipeline.py``): the case-th crystal of the training-data generator with seed 7 and
    20 observable lines, those lines with 0.015° of 2θ noise at Cu Kα1."""

    def pattern(system: str, case: int) -> tuple[Cell, PeakList]:
        shares = {s: float(s == system) for s in LATTICE_SYSTEMS}
        entries = (synthetic_entry(7, i, shares) for i in range(100_000))
        entry = next(e for k, e in enumerate(e for e in entries if len(e.observable_q2) >= 20) if k == case)
        rng = np.random.default_rng([7, case])
        two_theta = np.sort(q2_to_two_theta(entry.observable_q2[:20], CU_KA1) + rng.normal(0, 0.015, 20))
        return Cell(*entry.conventional_cell), PeakList.from_values(two_theta, units="2theta", wavelength=CU_KA1)

    return pattern

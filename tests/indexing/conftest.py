import itertools

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.peaks import CU_KA1, PeakList, q2_to_two_theta
from powdex.training.build import entries_of_system


@pytest.fixture(scope="session")
def generator_pattern():
    """``(system, case) -> (conventional cell, peak list)``: the learned-pipeline benchmark's pattern
    (``benchmarks/learned_pipeline.py``): the case-th crystal of the training-data generator with seed 7 and
    20 observable lines, those lines with 0.015° of 2θ noise at Cu Kα1."""

    def pattern(system: str, case: int) -> tuple[Cell, PeakList]:
        entry = next(itertools.islice(entries_of_system(7, system, 20), case, None))
        rng = np.random.default_rng([7, case])
        two_theta = np.sort(q2_to_two_theta(entry.observable_q2[:20], CU_KA1) + rng.normal(0, 0.015, 20))
        return Cell(*entry.conventional_cell), PeakList.from_values(two_theta, units="2theta", wavelength=CU_KA1)

    return pattern

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.refinement.synthetic import synthetic_pattern

TRUE_CELL = Cell(5.2, 5.2, 7.4)
PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.03, "H/L": 0.015, "zero": 0.01}


@pytest.fixture(scope="session")
def tetragonal():
    """A P4/mmm pattern (Cu Kα1+Kα2, σ = √y) of a known cell and profile, its model and true parameters."""
    pattern, model, truth = synthetic_pattern(TRUE_CELL, "P 4/m m m", two_theta=np.linspace(15.0, 75.0, 2400), seed=3,
                                       profile=PROFILE)
    return pattern, model, truth


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about 20 s")

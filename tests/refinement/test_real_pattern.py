"""A Pawley fit of a real laboratory pattern: PbSO₄ (anglesite), Cu Kα, the IUCr
Rietveld round-robin data shipped with GSAS-II (tests/data/patterns/PROVENANCE.md)."""

import math
from pathlib import Path

import pytest

from powdex.crystal import Cell
from powdex.patterns import read_pattern
from powdex.refinement import refine

DATA = Path(__file__).parents[1] / "data" / "patterns" / "PBSO4.XRA"
# Anglesite, Pnma: Miyake, Minato, Morikawa & Iwai (1978), Am. Mineral. 63, 506.
PUBLISHED = Cell(8.482, 5.398, 6.959)


@pytest.mark.slow
def test_pawley_fit_of_the_lead_sulfate_round_robin_pattern():
    pattern = read_pattern(DATA, anode="Cu")
    # From a cell 0.2 % off the published one.
    start = Cell(8.50, 5.39, 6.97)
    result = refine(pattern, start, "Pnma", two_theta_range=(15.0, 160.0))
    for name in ("a", "b", "c"):
        assert getattr(result.cell, name) == pytest.approx(getattr(PUBLISHED, name), rel=1e-3)
    assert result.statistics.rwp < 0.08
    assert result.statistics.rwp > result.statistics.rexp  # a Pawley fit of real data is not below the noise
    assert all(math.isfinite(v) for v in result.calculated)

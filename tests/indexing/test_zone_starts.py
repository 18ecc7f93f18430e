"""Ito zone starts: pseudo-symmetric monoclinic cells that random starts miss are built from two zones of the
first lines, deterministically."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, IndexingSearch, PeakListFaults, index, synthetic_peaks
from powdex.indexing.zone_starts import ito_zones, zone_starts

# Baddeleyite, monoclinic ZrO2 (P21/c; McCullough & Trueblood 1959): a, b, c within 3 % of each other.
BADDELEYITE = Cell(5.15, 5.21, 5.32, 90, 99.2, 90)
# Coesite (C2/c; Levien & Prewitt 1981): a ≈ c and β ≈ 120°, a pseudo-hexagonal net.
COESITE = Cell(7.14, 12.37, 7.17, 90, 120.3, 90)


def _peaks(cell, symbol, space_group):
    return synthetic_peaks(cell, BravaisLattice(symbol), 20, PeakListFaults(two_theta_noise=0.01),
                           np.random.default_rng(1), space_group=space_group)


def test_ito_zones_of_baddeleyite_contain_its_h0l_zone():
    # 0k0 with k odd and 00l with l odd are absent: the zone is found through (100), (002) and Ito's equation.
    obs = IndexingSearch(_peaks(BADDELEYITE, "mP", "P 1 21/c 1")).obs
    zones = ito_zones(obs, 0.06)
    a, c, hl = BADDELEYITE.reciprocal_coefficients[[0, 2, 4]]
    assert any(np.allclose(np.sort(z[:2]), np.sort([a, c]), rtol=3e-3) and abs(abs(z[2]) - abs(hl)) < 1e-3
               for z in zones)


def test_zone_starts_are_deterministic_and_include_the_true_basin():
    obs = IndexingSearch(_peaks(BADDELEYITE, "mP", "P 1 21/c 1")).obs
    starts = zone_starts(BravaisLattice.mP, obs, 0.06)
    assert np.array_equal(starts, zone_starts(BravaisLattice.mP, obs, 0.06))
    cells = [BravaisLattice.mP.axes.cell(x) for x in starts]
    assert any(same_lattice(c, BADDELEYITE, rtol=1e-2) for c in cells)


def test_baddeleyite_is_found_first_from_zone_starts():
    peaks = _peaks(BADDELEYITE, "mP", "P 1 21/c 1")
    result = index(peaks, config=IndexingConfig(systems="monoclinic", method="zone-starts", time_limit=30))
    best = result.best
    assert best.bravais is BravaisLattice.mP and same_lattice(best.cell, BADDELEYITE, rtol=3e-3)
    assert best.figures.n_unindexed == 0


@pytest.mark.slow
@pytest.mark.parametrize("cell, symbol, space_group", [(BADDELEYITE, "mP", "P 1 21/c 1"),
                                                      (COESITE, "mC", "C 1 2/c 1")])
def test_pseudo_symmetric_monoclinic_cells_come_first_with_the_default_search(cell, symbol, space_group):
    # Before the zone starts, baddeleyite's search ended at its limit with nothing, or with an oP cell of 4 V.
    result = index(_peaks(cell, symbol, space_group), config=IndexingConfig(time_limit=60))
    best = result.best
    assert best.bravais is BravaisLattice(symbol) and same_lattice(best.cell, cell, "P" if symbol == "mP" else "C",
                                                                   symbol[1], 3e-3)

"""Ito zone starts: pseudo-symmetric monoclinic cells and triclinic cells that random starts miss are built from two
zones of the first lines, deterministically."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, LatticeSystem, same_lattice
from powdex.indexing import IndexingConfig, IndexingSearch, PeakListFaults, index, synthetic_peaks
from powdex.indexing.zone_starts import (
    ZoneStarts,
    _largest_start_volume,
    _metric,
    ito_zones,
    start_lattices,
    zone_pair_cells,
    zone_starts,
)
from powdex.peaks import PeakList

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
    assert any(np.allclose(z[:2], np.sort([a, c]), rtol=3e-3) and abs(z[2] - abs(hl)) < 1e-3 for z in zones)


def test_zone_starts_are_deterministic_and_include_the_true_basin():
    obs = IndexingSearch(_peaks(BADDELEYITE, "mP", "P 1 21/c 1")).obs
    cells = zone_pair_cells(obs, 0.06, 0.06, zero_shift=False)
    starts = zone_starts(BravaisLattice.mP, cells, start_lattices(cells))
    again = zone_pair_cells(obs, 0.06, 0.06, zero_shift=False)
    assert np.array_equal(starts, zone_starts(BravaisLattice.mP, again, start_lattices(again)))
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


def _triclinic_peaks(zero_shift=0.0):
    # A triclinic cell of no metric symmetry, like the Bravais benchmark's (lengths 5–11 Å, angles 70–110°), with
    # the faults of real lists: noise, the weakest lines missing, a zero shift.
    faults = PeakListFaults(two_theta_noise=0.015, missing_fraction=0.1, zero_shift=zero_shift)
    return synthetic_peaks(TRICLINIC, BravaisLattice.aP, 20, faults, np.random.default_rng(5))


TRICLINIC = Cell(7.31, 9.12, 10.64, 101.3, 76.8, 84.2)


def test_the_best_zone_pair_cell_of_a_triclinic_list_is_its_lattice():
    # Ranked by lines indexed beyond chance and refined with a zero shift: the true lattice comes first (within a
    # percent: a start, polished later), not one of the larger or denser cells that index as many lines.
    peaks = _triclinic_peaks(zero_shift=0.03)
    obs = IndexingSearch(peaks, IndexingConfig(zero_shift=True)).obs
    cells = zone_pair_cells(obs, 0.06 + 0.25, 0.06, zero_shift=True)
    assert same_lattice(Cell.from_reciprocal_coefficients(cells[0]), TRICLINIC, rtol=1e-2)
    # Each lattice once.
    assert not any(same_lattice(Cell.from_reciprocal_coefficients(cells[0]), Cell.from_reciprocal_coefficients(c),
                                rtol=5e-3) for c in cells[1:])


def test_a_triclinic_cell_is_found_first_by_zone_starts_alone_and_deterministically():
    peaks = _triclinic_peaks()
    config = IndexingConfig(systems="triclinic", method="zone-starts", time_limit=30, seed=4)
    first, again = index(peaks, config=config), index(peaks, config=config)
    assert first.best.bravais is BravaisLattice.aP and same_lattice(first.best.cell, TRICLINIC, rtol=3e-3)
    assert first.best.figures.n_unindexed == 0
    assert np.allclose(again.best.cell.parameters, first.best.cell.parameters)


# A monoclinic cell like the Bravais benchmark's (P, β = 117.8°), and an orthorhombic one of similar size.
MONOCLINIC = Cell(11.35, 4.979, 4.796, 90, 117.84, 90)
ORTHORHOMBIC = Cell(5.12, 6.34, 7.71)


def _index_low_symmetries(cell, symbol, caplog):
    """The result of a search of orthorhombic to triclinic for ``cell``'s lines, and whether it settled ahead of the
    orthorhombic system."""
    peaks = synthetic_peaks(cell, BravaisLattice(symbol), 20, PeakListFaults(two_theta_noise=0.015),
                            np.random.default_rng(2))
    with caplog.at_level("DEBUG", logger="powdex.indexing.search"):
        result = index(peaks, config=IndexingConfig(systems="orthorhombic,monoclinic,triclinic", time_limit=30))
    return result, any("settled ahead of orthorhombic" in r.getMessage() for r in caplog.records)


def test_a_decisive_monoclinic_cell_from_zone_starts_ends_the_search_before_the_orthorhombic_system(caplog):
    result, settled_ahead = _index_low_symmetries(MONOCLINIC, "mP", caplog)
    assert result.best.bravais is BravaisLattice.mP and same_lattice(result.best.cell, MONOCLINIC, rtol=3e-3)
    assert settled_ahead


def test_an_orthorhombic_lattice_is_not_settled_ahead_as_a_lower_symmetry_cell(caplog):
    # Its zone cells have orthorhombic metrics: the lower-symmetry descriptions the zone starts polish must not end
    # the search before the orthorhombic system is searched.
    result, settled_ahead = _index_low_symmetries(ORTHORHOMBIC, "oP", caplog)
    assert result.best.bravais is BravaisLattice.oP and same_lattice(result.best.cell, ORTHORHOMBIC, rtol=3e-3)
    assert not settled_ahead


@pytest.mark.parametrize("seed", [0, 2])
def test_a_right_angled_triclinic_zone_cell_of_two_near_equal_axes_is_polished_as_orthorhombic(seed):
    """An oP cell whose b and c differ by 0.9 %: the zone starts find it as a triclinic cell with right angles,
    whose metric at the starts' 2 % tolerance reads tetragonal (a polish that fails), so it settled the search ahead
    of the orthorhombic system as aP; its metric at the search's own tolerance is orthorhombic and wins."""
    cell = Cell(3.53567, 4.41550, 4.37672)
    peaks = synthetic_peaks(cell, BravaisLattice.oP, faults=PeakListFaults(two_theta_noise=0.01),
                            rng=np.random.default_rng(seed))
    best = index(peaks, config=IndexingConfig(seed=0, zero_shift=True, time_limit=30)).best
    assert best.bravais is BravaisLattice.oP
    assert same_lattice(best.cell, cell, "P", "P", rtol=3e-3)


def test_zone_pair_cells_past_the_largest_start_volume_are_rejected_with_a_logged_reason(caplog):
    # Six lines of hexagonal Na0.8CoO2 (a = 2.85, c = 10.80 Å) with texture, noise and a sample displacement: pairs of
    # zones in its hk0 plane gave cells with a 10⁵ Å third axis, whose lattice comparison took 23 GB.
    peaks = PeakList.from_values(np.array([16.3797, 33.1283, 36.3498, 40.1034, 44.4363, 49.9985]), units="2theta",
                                 wavelength=1.5406, intensity=np.array([100.0, 17.3, 11.5, 33.3, 11.9, 26.9]),
                                 source="Na0.8CoO2")
    obs = IndexingSearch(peaks, IndexingConfig(zero_shift=True)).obs
    with caplog.at_level("DEBUG", logger="powdex.indexing.zone_starts"):
        cells = zone_pair_cells(obs, 0.06 + 0.6, 0.06, zero_shift=True)
    assert len(cells) and np.all(1 / np.sqrt(np.linalg.det(_metric(cells))) <= _largest_start_volume(obs))
    rejected = [r.getMessage() for r in caplog.records if "zone-pair cells rejected" in r.getMessage()]
    assert len(rejected) == 1 and "e+06 Å³" in rejected[0]


# Bethanechol chloride (P2₁/n): the published cell and the laboratory list of set E of Bergmann, Le Bail, Shirley &
# Zlokazov (2004), Z. Kristallogr. 219, 783, Table 6 (λ 1.54056 Å), whose zero offset is about −0.02°.
BETHANECHOL = Cell(8.875, 16.408, 7.137, 90, 93.84, 90)
BETHANECHOL_E = [10.765, 13.522, 14.690, 15.398, 16.336, 16.453, 17.312, 18.828, 19.699, 20.031, 20.752, 21.641,
                 22.414, 22.788, 23.152, 23.528, 23.872, 24.970, 25.365, 25.549]


def test_a_large_laboratory_cell_lost_among_the_wide_windows_zones_is_found_within_the_fit_window():
    """Zones built within the fit window plus the zero-shift window (0.31° 2θ) lose this 1037 Å³ cell among chance
    zones; those of the fit window alone, fitted with a zero shift, hold it, and the search falls back on them when
    the wide window's starts find no convincing cell."""
    peaks = PeakList.from_values(np.array(BETHANECHOL_E), units="2theta", wavelength=1.54056, source="bethanechol E")
    obs = IndexingSearch(peaks, IndexingConfig(zero_shift=True)).obs

    def holds_the_lattice(cells):
        return any(same_lattice(Cell.from_reciprocal_coefficients(c), BETHANECHOL, rtol=2e-2) for c in cells)

    assert not holds_the_lattice(zone_pair_cells(obs, 0.06 + 0.25, 0.06, zero_shift=True))
    assert holds_the_lattice(zone_pair_cells(obs, 0.06, 0.06, zero_shift=True))
    best = index(peaks, config=IndexingConfig(zero_shift=True, time_limit=30)).best
    assert best.bravais is BravaisLattice.mP and same_lattice(best.cell, BETHANECHOL, rtol=3e-3)
    assert best.figures.n_unindexed == 0


ORTHORHOMBIC_I = Cell(4.089, 5.952, 6.984)


def test_a_decisive_orthorhombic_cell_from_the_zone_starts_ends_the_search_before_its_system():
    # The zone-pair cells of an oI list hold its lattice; the triclinic cell polished from one has orthorhombic
    # metric and is polished in oI (``ZoneStarts.search``). That decisive cell ends the search by the rule that
    # would end it after the orthorhombic system, whose random starts would only find it again.
    faults = PeakListFaults(two_theta_noise=0.014, missing_fraction=0.1)
    peaks = synthetic_peaks(ORTHORHOMBIC_I, BravaisLattice.oI, 20, faults, np.random.default_rng(2))
    result = index(peaks, config=IndexingConfig(zero_shift=True, time_limit=30))
    best = result.best
    assert best.bravais is BravaisLattice.oI and same_lattice(best.cell, ORTHORHOMBIC_I, "I", "I", 3e-3)
    assert any(d.startswith("the search ended with the monoclinic and triclinic zone starts, before the "
                            "orthorhombic system's own search") and d.endswith("(decisive)") for d in result.details)


def test_zone_cells_of_orthorhombic_metric_are_polished_in_their_lattice_with_the_monoclinic_ones():
    # spglib finds this oI list's zone cells orthorhombic, so neither monoclinic lattice takes them (the monoclinic
    # search found no oI cell before); polished in oI they give the true cell, M20 45.
    cell = Cell(4.600, 9.812, 13.258)
    peaks = synthetic_peaks(cell, BravaisLattice.oI, 20, PeakListFaults(two_theta_noise=0.015, missing_fraction=0.1),
                            np.random.default_rng(0))
    found = ZoneStarts().search(IndexingSearch(peaks, IndexingConfig(zero_shift=True)), LatticeSystem.MONOCLINIC, 0)
    assert any(c.bravais is BravaisLattice.oI and same_lattice(c.cell, cell, "I", "I", 3e-3) and c.figures.m >= 20
               for c in found)

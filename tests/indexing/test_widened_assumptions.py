"""Assumptions a search drops after a pass that solved nothing (``IndexingSearch.widen_assumptions``): no zero
offset, then at most ``max_unindexed`` lines of another phase, then a zero offset within the narrow window."""

from types import SimpleNamespace

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, LatticeSystem, same_lattice
from powdex.indexing import IndexingConfig, IndexingSearch, PeakListFaults, index, synthetic_peaks
from powdex.peaks import PeakList

LEAD_SULFATE = Cell(8.4797, 5.3975, 6.9596)
RUTILE = Cell(4.5937, 4.5937, 2.9587)
ANATASE = Cell(3.7852, 3.7852, 9.5139)
ORTHORHOMBIC = (LatticeSystem.ORTHORHOMBIC,)
TETRAGONAL = (LatticeSystem.TETRAGONAL,)


def lead_sulfate_off_zero(offset: float) -> PeakList:
    return synthetic_peaks(LEAD_SULFATE, BravaisLattice.oP, 20, PeakListFaults(two_theta_noise=0.005, zero_shift=offset),
                           np.random.default_rng(1))


def rutile_and_anatase() -> PeakList:
    """Rutile's first 11 lines and anatase's first 9, as a rutile–anatase mixture puts them among its first 20."""
    rutile = synthetic_peaks(RUTILE, BravaisLattice.tP, 11, PeakListFaults(two_theta_noise=0.005),
                             np.random.default_rng(1))
    anatase = synthetic_peaks(ANATASE, BravaisLattice.tI, 9, PeakListFaults(two_theta_noise=0.005),
                              np.random.default_rng(2))
    return PeakList.from_values(np.sort(np.r_[rutile.two_theta, anatase.two_theta]), units="2theta",
                                wavelength=rutile.wavelength, source="rutile+anatase")


def test_a_zero_offset_no_cell_absorbs_is_searched_from_the_second_pass():
    result = index(lead_sulfate_off_zero(0.2), config=IndexingConfig(systems=ORTHORHOMBIC, time_limit=30))
    best = result.best
    assert best.bravais is BravaisLattice.oP and same_lattice(best.cell, LEAD_SULFATE, rtol=1e-3)
    assert best.zero_shift == pytest.approx(0.2, abs=0.01) and best.figures.n_unindexed == 0
    assert "no cell solved the list in pass 1: from pass 2, zero shifts searched within ±0.25° 2θ" in result.notes


def test_a_zero_shift_turned_off_is_never_searched():
    result = index(lead_sulfate_off_zero(0.2), config=IndexingConfig(systems=ORTHORHOMBIC, zero_shift=False,
                                                                     second_phase_share=0.0, time_limit=2))
    assert all(c.zero_shift == 0.0 for c in result.candidates)
    assert not any("zero shift" in n for n in result.notes)


def test_the_major_phase_of_a_mixture_is_found_once_another_phase_is_suspected():
    peaks = rutile_and_anatase()
    result = index(peaks, config=IndexingConfig(systems=TETRAGONAL, time_limit=30))
    best = result.best
    assert best.bravais is BravaisLattice.tP and same_lattice(best.cell, RUTILE, rtol=1e-3)
    assert best.figures.n_unindexed == 9
    assert ("no cell solved the list in pass 2: from pass 3, a candidate may leave 9 of the 20 lines unexplained "
            "(another phase's lines: a mixture or a partial transformation), not 4, as long as it indexes 2 times the "
            "lines its parameters need") in result.notes
    # Without the suspicion rutile's cell, leaving 9 lines, is no candidate at all.
    search = IndexingSearch(peaks, IndexingConfig(systems=TETRAGONAL, second_phase_share=0.0))
    assert search.polished(BravaisLattice.tP, BravaisLattice.tP.axes.free_reciprocal_parameters(RUTILE)) is None


def test_each_assumption_is_dropped_once_in_order():
    search = IndexingSearch(rutile_and_anatase(), IndexingConfig())
    assert search.assumptions == (False, 0.25, 4)
    assert search.widen_assumptions(0, [], False) and search.assumptions == (True, 0.25, 4)
    assert search.widen_assumptions(1, [], False) and search.assumptions == (True, 0.25, 9)
    # Each cell indexes twice the lines its parameters and zero shift need: 20 − 2 × 4 for a tetragonal cell, 20 − 2 × 6
    # for a monoclinic one; a triclinic cell, 2 × 8 of 20, leaves no more than max_unindexed.
    assert [search.max_unindexed_for(b) for b in (BravaisLattice.tP, BravaisLattice.mP, BravaisLattice.aP)] == [9, 8, 4]
    assert search.widen_assumptions(2, [], False) and search.assumptions == (True, 0.6, 9)
    assert not search.widen_assumptions(3, [], False)
    # The user's explicit choices hold: a zero shift from the start, no more unexplained lines than asked.
    search = IndexingSearch(rutile_and_anatase(), IndexingConfig(zero_shift=True, second_phase_share=0.0))
    assert search.assumptions == (True, 0.25, 4)
    assert search.widen_assumptions(0, [], False) and search.assumptions == (True, 0.6, 4)
    assert not search.widen_assumptions(1, [], False)


@pytest.mark.parametrize("left, widened", [(1, False), (2, True)])
def test_lines_left_by_a_cell_that_solves_the_list_are_taken_for_another_phase_once(left, widened):
    # A small triclinic cell fits 18 of the 20 lines of a mixture (probability 0.87 of being right); the pass that
    # allows for another phase finds the major phase's cF cell leaving 8 (0.99): benchmarks/index_mixtures.py.
    search = IndexingSearch(rutile_and_anatase(), IndexingConfig())
    ranked = [SimpleNamespace(figures=SimpleNamespace(n_unindexed=left))]
    assert search.widen_assumptions(0, ranked, True) is widened
    if widened:
        # Only that assumption: the cell's fit of its lines gives no reason to suspect a zero offset.
        assert search.assumptions == (False, 0.25, 9)
        assert any(note.startswith(
            "the best cell solved the list leaving 2 lines in pass 1: from pass 2, a candidate may leave 9 of the 20 "
            "lines unexplained") for note in search._notes([])[0])
        assert not search.widen_assumptions(1, ranked, True)

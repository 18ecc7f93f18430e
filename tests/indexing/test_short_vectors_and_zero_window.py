"""Short lattice vectors pay a soft prior (no hard floor above ``min_length``), and zero shifts are searched in a
narrow window first, widened only when nothing is found; both are said in the result's notes."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, IndexingResult, IndexingSearch, PeakListFaults, index, synthetic_peaks
from powdex.indexing.candidate import ScoringModel, short_vector_penalty

SILICON = Cell(5.4312, 5.4312, 5.4312)


def _true_candidate(cell, symbol, config=None, n_peaks=12):
    bravais = BravaisLattice(symbol)
    peaks = synthetic_peaks(cell, bravais, n_peaks, PeakListFaults(two_theta_noise=0.005), np.random.default_rng(2))
    search = IndexingSearch(peaks, config)
    return search, search.polished(bravais, bravais.axes.free_reciprocal_parameters(cell))


def test_a_short_lattice_vector_lowers_the_score_by_the_prior_and_says_so():
    # A tetragonal cell with c = 2.03 Å: the length of the sub-cells that beat cubic P cells of 5.74 Å.
    _, cand = _true_candidate(Cell(5.74, 5.74, 2.03), "tP")
    _, unpenalised = _true_candidate(Cell(5.74, 5.74, 2.03), "tP", IndexingConfig(short_length=1.6))
    expected = ((2.3 - cand.cell.c) / ScoringModel().short_width) ** 2
    assert unpenalised.score - cand.score == pytest.approx(expected, rel=1e-6)
    assert len(cand.penalties) == 1 and "2.030 Å" in cand.penalties[0]
    assert unpenalised.penalties == ()


def test_vectors_at_and_above_the_soft_length_cost_nothing():
    penalty, reasons = short_vector_penalty(np.array([2.3, 5.0, 7.0]), ScoringModel())
    assert penalty == 0 and reasons == ()
    # hcp Be (a = 2.29 Å, the shortest at ambient pressure) pays almost nothing; two equal vectors are said once.
    penalty, reasons = short_vector_penalty(np.array([2.29, 2.29, 3.58]), ScoringModel())
    assert 0 < penalty < 0.05 and len(reasons) == 1 and reasons[0].startswith("2 lattice vectors of 2.290 Å")


def test_a_high_pressure_cell_below_the_soft_length_is_found_and_first_once_the_prior_is_lowered():
    # hcp hydrogen near 245 GPa: a = 1.70 Å. No hard floor above min_length (1.5 Å) rules it out; the prior on
    # vectors under 2.3 Å (rare at ambient pressure) ranks its √3 super-cell (a 2.94 Å), which predicts lines
    # nobody saw, above it, and says so. With --short-length at the floor the true cell is first.
    cell = Cell(1.70, 1.70, 2.76, 90, 90, 120)
    peaks = synthetic_peaks(cell, BravaisLattice.hP, 12, PeakListFaults(two_theta_noise=0.005), np.random.default_rng(2))
    ambient = index(peaks, config=IndexingConfig(systems="hexagonal", time_limit=20))
    rank = next(i for i, c in enumerate(ambient.candidates, 1) if same_lattice(c.cell, cell, rtol=2e-3))
    true = ambient.candidates[rank - 1]
    assert true.penalties and any(n.startswith(f"candidate {rank} (hP") and "1.700 Å" in n for n in ambient.notes)
    assert rank == 2 and ambient.best.cell.volume == pytest.approx(3 * cell.volume, rel=1e-2)
    assert ("candidate 2 would rank first without the prior on lattice vectors under 2.3 Å: for a high-pressure "
            "phase, run again with --short-length 1.5") in ambient.notes
    high_pressure = index(peaks, config=IndexingConfig(systems="hexagonal", time_limit=20, short_length=1.5))
    best = high_pressure.best
    assert best.bravais is BravaisLattice.hP and same_lattice(best.cell, cell, rtol=2e-3) and not best.penalties


def test_min_length_rejects_shorter_cells_and_the_notes_count_them_when_nothing_convincing_was_found():
    search, cand = _true_candidate(Cell(5.74, 5.74, 2.03), "tP", IndexingConfig(min_length=2.1))
    assert cand is None
    notes, details = search._notes([])
    assert any("cells rejected: a lattice vector shorter than --min-length 2.1 Å" in n for n in notes)
    assert details == ()


def test_rejected_degenerate_cells_are_recorded_but_not_told_when_a_convincing_cell_was_found(tmp_path):
    # Silicon's search rejects sub-cells with sub-ångström axes on the way to its cF cell: nothing a user must hear.
    peaks = synthetic_peaks(SILICON, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005),
                            np.random.default_rng(2))
    result = index(peaks, config=IndexingConfig(systems="cubic", time_limit=20))
    assert result.best.bravais is BravaisLattice.cF and result.best.figures.m >= 10
    assert not any("cells rejected" in n for n in result.notes)
    assert any("cells rejected: a lattice vector shorter than --min-length 1.5 Å" in d for d in result.details)
    result.save(tmp_path / "si.json")
    assert IndexingResult.load(tmp_path / "si.json").details == result.details


@pytest.mark.parametrize("offset, window, widened", [(0.1, 0.25, False), (0.45, 0.6, True)])
def test_the_zero_shift_window_is_widened_only_when_the_narrow_one_finds_nothing(offset, window, widened):
    peaks = synthetic_peaks(SILICON, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005, zero_shift=offset),
                            np.random.default_rng(2))
    result = index(peaks, config=IndexingConfig(systems="cubic", zero_shift=True, time_limit=20))
    best = result.best
    assert best.bravais is BravaisLattice.cF and same_lattice(best.cell, SILICON, rtol=1e-3)
    assert best.zero_shift == pytest.approx(offset, abs=0.01)
    assert "zero shift searched within ±0.25° 2θ" in result.notes
    # Another phase's lines are suspected before a larger offset (``IndexingSearch.widen_assumptions``).
    widening = [n for n in result.notes if n.startswith("no cell solved the list")]
    assert widening == ([
        "no cell solved the list in pass 1: from pass 2, a candidate may leave 5 of the 12 lines unexplained "
        "(another phase's lines: a mixture or a partial transformation), not 4, as long as it indexes 2 times the "
        "lines its parameters need",
        f"no cell solved the list in pass 2: from pass 3, zero shifts searched within ±{window:g}° 2θ",
    ] if widened else [])


def test_a_zero_shift_outside_the_window_leaves_no_candidate():
    peaks = synthetic_peaks(SILICON, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005, zero_shift=0.45),
                            np.random.default_rng(2))
    config = IndexingConfig(systems="cubic", zero_shift=True, wide_zero_shift_window=0.25, time_limit=5)
    search = IndexingSearch(peaks, config)
    x = BravaisLattice.cF.axes.free_reciprocal_parameters(SILICON)
    assert search.polished(BravaisLattice.cF, x, 0.45) is None
    assert not search.widen_zero_shift_window()  # the wide window is no wider

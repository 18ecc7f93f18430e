"""When the search may stop: a cell that leaves one line (an impurity line beside the true cell) ends it once
its own lattice system and local searches around its least distortions are done, if it leads every other lattice
clearly; a distortion that indexes the line instead is found and ranks first.  A cell that explains every line
and leads clearly ends it too, below the decisive cell's score."""

import numpy as np
import pytest

import powdex
from powdex.crystal import BravaisLattice, Cell, LatticeSystem, same_lattice
from powdex.indexing import IndexingConfig, PeakListFaults, synthetic_peaks
from powdex.indexing.config import SEARCH_ORDER
from powdex.indexing.distortions import LEAST_DISTORTIONS, lower_symmetry_descriptions
from powdex.indexing.methods import register_method, unregister_method
from powdex.indexing.search import IndexingSearch
from powdex.indexing.svd_index import ONE_LINE_SUPER_CELLS, RandomStarts, volume_stages
from powdex.patterns import peaks_from_pattern
from powdex.patterns.simulate import simulate_pattern
from powdex.peaks import PeakList

TETRAGONAL = Cell(4.594, 4.594, 6.214)
# Its super-cell with a√2: indexes the same lines but one, predicts twice as many (0.84 per peak below it).
SUPER_CELL = Cell(4.594 * 2**0.5, 4.594 * 2**0.5, 6.214)


class ExactCells:
    """A toy search method: proposes known cells of one Bravais lattice, and records the systems asked."""

    def __init__(self, bravais: BravaisLattice, *cells: Cell):
        self.bravais, self.cells, self.calls = bravais, cells, []

    def search(self, search, system, search_pass):
        self.calls.append(system)
        search.count_trials("toy", 1)
        if system is not self.bravais.lattice_system:
            return []
        polished = (search.polished(self.bravais, self.bravais.axes.free_reciprocal_parameters(c)) for c in self.cells)
        return [c for c in polished if c is not None]


def tetragonal_with_an_impurity_line():
    # 0.02° of noise: the true cell scores 0.7 per peak, less than a decisive cell that leaves a line must.
    faults = PeakListFaults(two_theta_noise=0.02, impurity=True)
    return synthetic_peaks(TETRAGONAL, BravaisLattice.tP, faults=faults, rng=np.random.default_rng(0))


def search_with(toy: ExactCells, peaks, **settings):
    register_method("exact-cell", toy)
    try:
        return powdex.index(peaks, config=IndexingConfig(method="exact-cell", time_limit=30, **settings))
    finally:
        unregister_method("exact-cell")


def test_a_cell_leaving_only_an_impurity_line_ends_the_search_after_its_own_system():
    toy = ExactCells(BravaisLattice.tP, TETRAGONAL, SUPER_CELL)
    result = search_with(toy, tetragonal_with_an_impurity_line())
    best = result.best
    assert best.bravais is BravaisLattice.tP and best.cell.a == pytest.approx(TETRAGONAL.a, rel=1e-3)
    assert best.figures.n_unindexed == 1
    # Below what a decisive cell with a line left must score: the gap to every other lattice decides.
    assert best.score < (IndexingConfig().stop_score_per_peak + IndexingConfig().stop_score_per_unindexed) * len(
        best.indexed)
    # Its least distortions (oP, oC) were searched locally instead of the orthorhombic system.
    assert toy.calls[-1] is LatticeSystem.TETRAGONAL
    assert any(d.startswith("the search ended after the tetragonal system") and "leaves one line" in d
               for d in result.details)


def test_without_a_clear_lead_a_cell_leaving_a_line_does_not_end_the_search():
    toy = ExactCells(BravaisLattice.tP, TETRAGONAL, SUPER_CELL)
    result = search_with(toy, tetragonal_with_an_impurity_line(), stop_gap_per_peak=1.0)
    assert result.best.bravais is BravaisLattice.tP
    assert toy.calls[-1] is LatticeSystem.TRICLINIC
    assert not any(d.startswith("the search ended") for d in result.details)


def test_a_leading_cell_leaving_a_line_ends_the_search_from_a_score_of_0_per_peak():
    # 0.03° of noise, a laboratory list's worst: the true cell scores 0.26 per peak, below the 0.5 that ended such
    # a search before (true cells with an impurity line scored −0.5 to 0.9 per peak, wrong leaders −0.42 and −0.23).
    faults = PeakListFaults(two_theta_noise=0.03, impurity=True)
    peaks = synthetic_peaks(TETRAGONAL, BravaisLattice.tP, faults=faults, rng=np.random.default_rng(1))
    for lead_score, last_system in ((IndexingConfig().lead_score_per_peak, LatticeSystem.TETRAGONAL),
                                    (0.5, LatticeSystem.TRICLINIC)):
        toy = ExactCells(BravaisLattice.tP, TETRAGONAL, SUPER_CELL)
        result = search_with(toy, peaks, lead_score_per_peak=lead_score)
        best = result.best
        assert best.bravais is BravaisLattice.tP and best.figures.n_unindexed == 1
        assert 0 < best.score / len(best.indexed) < 0.5
        assert toy.calls[-1] is last_system


# An orthorhombic cell 0.3 % from tetragonal: the tetragonal cell at the mean of a and b indexes each split pair of
# lines as one, with M20 ≈ 32 and a decisive score, yet the distortion scores 0.4 per peak more.
DISTORTED = Cell(4.594, 4.594 * 1.003, 6.214)
MEAN_TETRAGONAL = Cell(4.594 * 1.0015, 4.594 * 1.0015, 6.214)


def test_a_distortion_of_a_decisive_cell_is_found_before_the_search_ends_and_ranks_first():
    peaks = synthetic_peaks(DISTORTED, BravaisLattice.oP, faults=PeakListFaults(two_theta_noise=0.01),
                            rng=np.random.default_rng(1))
    toy = ExactCells(BravaisLattice.tP, MEAN_TETRAGONAL)
    result = search_with(toy, peaks)
    best, tetragonal = result.candidates[0], result.candidates[1]
    assert best.bravais is BravaisLattice.oP and best.figures.n_unindexed == 0
    assert sorted(best.cell.parameters[:2]) == pytest.approx(sorted(DISTORTED.parameters[:2]), rel=3e-4)
    # The tetragonal cell alone would have ended the search after its own system.
    assert tetragonal.bravais is BravaisLattice.tP and tetragonal.figures.n_unindexed == 0
    search = IndexingSearch(peaks, IndexingConfig())
    assert search.would_settle([tetragonal], set(SEARCH_ORDER[:4]))


# A monoclinic cell 0.8° from orthorhombic with a long b: among its first 20 lines only one (h0l) pair is split
# beyond the noise, so the orthorhombic cell leaves that line and would end the search on its lead alone.
MONOCLINIC = Cell(3.6, 21.0, 4.4, 90, 90.8, 90)


def test_a_distortion_that_indexes_the_line_a_cell_leaves_is_found_and_ranks_first():
    # Noise of a laboratory list: at 0.003° the list is scored again at its own precision (``at_list_precision``),
    # where the orthorhombic distortion leaves two lines, and this test is of the stop rule for one.
    peaks = synthetic_peaks(MONOCLINIC, BravaisLattice.mP, faults=PeakListFaults(two_theta_noise=0.006),
                            rng=np.random.default_rng(1))
    toy = ExactCells(BravaisLattice.oP, Cell(3.6, 21.0, 4.4))
    result = search_with(toy, peaks)
    best = result.best
    assert best.bravais is BravaisLattice.mP and best.figures.n_unindexed == 0
    assert best.cell.parameters == pytest.approx(MONOCLINIC.parameters, rel=1e-3)
    orthorhombic = next(c for c in result.candidates if c.bravais is BravaisLattice.oP)
    assert orthorhombic.figures.n_unindexed == 1
    search = IndexingSearch(peaks, IndexingConfig())
    assert search.leads_clearly([orthorhombic]) and not search.decisive(orthorhombic)
    assert any(d.startswith("the search ended after the orthorhombic system on mP") for d in result.details)


def test_least_distortions_describe_the_same_lattice_in_the_systems_next_below():
    generic = {
        "c": Cell(5.1, 5.1, 5.1), "h": Cell(4.0, 4.0, 6.3, 90, 90, 120), "hR": Cell(4.0, 4.0, 11.3, 90, 90, 120),
        "t": Cell(4.0, 4.0, 6.3), "o": Cell(4.0, 5.3, 6.7), "m": Cell(4.0, 5.3, 6.7, 90, 104.0, 90),
    }
    for parent, children in LEAST_DISTORTIONS.items():
        system = parent.lattice_system
        cell = generic.get(parent.value, generic[parent.value[0]])
        # The systems of which the parent's are special cases with none between: the least distortions.
        lower = {s for s in LatticeSystem if system in s.special_cases}
        least = {s for s in lower if not any(t in s.special_cases for t in lower)}
        assert {child.lattice_system for child, _ in children} == least, parent
        for (child, described), (_, matrix) in zip(lower_symmetry_descriptions(parent, cell), children):
            assert np.linalg.det(matrix) > 0
            assert same_lattice(described, cell, child.centring, parent.centring, rtol=1e-9), (parent, child)
            assert child.axes.is_compatible(described), (parent, child)


def test_a_cell_leaving_one_line_with_a_clear_lead_ends_the_search_of_its_systems_centred_lattices():
    peaks = tetragonal_with_an_impurity_line()
    for gap, ends in ((IndexingConfig().stop_gap_per_peak, True), (1.0, False)):
        search = IndexingSearch(peaks, IndexingConfig(stop_gap_per_peak=gap))
        new = [search.polished(BravaisLattice.tP, BravaisLattice.tP.axes.free_reciprocal_parameters(cell))
               for cell in (TETRAGONAL, SUPER_CELL)]
        assert new[0].figures.n_unindexed == 1 and not search.decisive(new[0])
        assert search.ends_system(new) is ends


def test_the_volume_ladder_ends_once_three_times_a_cell_that_leaves_one_line_is_searched():
    search = IndexingSearch(tetragonal_with_an_impurity_line(), IndexingConfig())
    svd = search.svd_index(BravaisLattice.tP)
    ranges = []
    run_random = svd.run_random

    def recorded(n, volume_range, **settings):
        ranges.append(volume_range)
        return run_random(n, volume_range, **settings)

    svd.run_random = recorded
    found = RandomStarts()._lattice(search, BravaisLattice.tP, 0)
    true = [c for c in found if same_lattice(c.cell, TETRAGONAL, rtol=2e-3)]
    assert true and min(c.figures.n_unindexed for c in true) == 1
    # The first stage to reach three times the cell's volume is the last, short of the whole ladder.
    assert ranges[-1][1] >= ONE_LINE_SUPER_CELLS * TETRAGONAL.volume > ranges[-2][1]
    assert len(ranges) < len(volume_stages(BravaisLattice.tP, search.obs)) - 1


# A tetragonal cell with c/a = 3/2: every line (q² a² = h² + k² + 4l²/9) falls on a line of the rhombohedral cell of
# twice its a and c (6.9 times its volume), which is decisive on its own figures and is found before the tetragonal
# system is searched.
COINCIDENT_TETRAGONAL = Cell(8.3137, 8.3137, 12.4705)
COINCIDENT_RHOMBOHEDRAL = Cell(2 * 8.3137, 2 * 8.3137, 2 * 12.4705, 90, 90, 120)


def coincident_tetragonal_peaks():
    pattern = simulate_pattern(COINCIDENT_TETRAGONAL, two_theta_range=(10.0, 80.0), seed=0).pattern
    return peaks_from_pattern(pattern)


def test_a_coincidence_lattice_that_predicts_many_unseen_lines_does_not_end_the_search():
    peaks = coincident_tetragonal_peaks()
    search = IndexingSearch(peaks, IndexingConfig())
    true_cell, coincident = (search.polished(bravais, bravais.axes.free_reciprocal_parameters(cell)) for bravais, cell
                             in ((BravaisLattice.tP, COINCIDENT_TETRAGONAL), (BravaisLattice.hR, COINCIDENT_RHOMBOHEDRAL)))
    # The rhombohedral cell indexes the lines as a decisive cell must, and it alone would have ended the search after
    # the rhombohedral system; the true cell scores more but was not searched yet.
    assert search.decisive(coincident) and coincident.score < true_cell.score
    assert not search.lines_seen_as_expected(coincident) and search.lines_seen_as_expected(true_cell)
    assert not search.would_settle([coincident], set(SEARCH_ORDER[:3]))
    assert search.would_settle([coincident], set(SEARCH_ORDER[:4]))

    result = powdex.index(peaks, config=IndexingConfig(time_limit=30))
    assert result.best.bravais is BravaisLattice.tP
    assert same_lattice(result.best.cell, COINCIDENT_TETRAGONAL, "P", "P", rtol=1e-3)


def _silicon_and_an_impurity_line():
    # Silicon's (111) and (220) at Cu Kα1 and an impurity line between them: no cubic cell indexes all three.
    return powdex.PeakList.from_values(np.array([28.4191, 29.5428, 47.2800]), units="2theta", wavelength=1.5406,
                                       intensity=np.array([100.0, 62.4, 62.4]), source="Si+impurity")


def test_a_pass_that_repeats_the_one_before_without_changing_the_ranking_ends_the_search(caplog):
    # Three lines: only cubic lattices are searched, from the same line starts each pass. The passes used to repeat
    # until the time limit, thousands of them, until the doubling of the trials per pass overflowed a float.
    with caplog.at_level("DEBUG", logger="powdex.indexing.search"):
        result = powdex.index(_silicon_and_an_impurity_line(), config=IndexingConfig(zero_shift=True, time_limit=30))
    stops = [r.getMessage() for r in caplog.records if "changed no ranking: the search stops" in r.getMessage()]
    # Pass 0 in the narrow zero-shift window, pass 1 in the wide one, pass 2 its repeat.
    assert len(stops) == 1 and stops[0].startswith("Si+impurity: pass 2 ")
    assert not any("time limit" in note for note in result.notes)


def test_the_trials_of_a_late_pass_stay_at_their_cap():
    search = IndexingSearch(_silicon_and_an_impurity_line(), IndexingConfig(zero_shift=True))
    # 2**5000 as a float overflows; the batch stops doubling at its cap.
    assert RandomStarts().search(search, LatticeSystem.CUBIC, 5000) == []
    assert search.trials > 0


def tetragonal_with_impurity_lines(count: int) -> PeakList:
    """The first 20 − ``count`` lines of ``TETRAGONAL`` and ``count`` lines clear of them."""
    clean = synthetic_peaks(TETRAGONAL, BravaisLattice.tP, faults=PeakListFaults(two_theta_noise=0.005),
                            rng=np.random.default_rng(0))
    lines = np.asarray(clean.two_theta)
    impurities = [t for t in np.arange(lines[0] + 0.5, lines[-1], 0.37) if np.min(np.abs(lines - t)) > 0.4]
    positions = np.sort(np.r_[lines[: 20 - count], impurities[:count]])
    return PeakList.from_values(positions, units="2theta", wavelength=clean.wavelength, source="tP+impurities")


@pytest.mark.parametrize(("impurity_lines", "probability", "passes"), [
    (2, 0.3, 1),  # M20 above 10, two lines left, not unlikely: solved
    (3, 0.3, 2),  # three lines left: a small cell fits most lines of a large cell's list so
    (3, 0.6, 1),  # ...unless the calibrated probability holds it likely (a second phase's lines)
    (2, 0.05, 2),  # most likely wrong by its calibrated probability
])
def test_a_pass_ends_the_passes_on_a_cell_of_m20_10_leaving_few_lines_or_one_the_probability_holds_likely(
        monkeypatch, impurity_lines, probability, passes):
    # Bethanechol chloride (Bergmann et al. 2004, set Bb): a 353 Å³ triclinic cell of M20 19.4 leaving 4 of 20 lines
    # (probability 0.15) ended the search after its first pass; with a zero shift, an 829 Å³ mP cell of M20 11.8
    # leaving two (probability 0.016). The published 1037 Å³ cell indexes all 20.
    import powdex.indexing.search as search_module

    monkeypatch.setattr(search_module, "candidate_probabilities", lambda ranked: (probability,) * len(ranked))
    toy = ExactCells(BravaisLattice.tP, TETRAGONAL)
    # No assumption to drop between passes (``IndexingSearch.widen_assumptions``): a pass that does not end them is
    # repeated once, finds nothing new and ends them.
    result = search_with(toy, tetragonal_with_impurity_lines(impurity_lines), zero_shift=False,
                         second_phase_share=0.0)
    best = result.candidates[0]
    assert best.figures.n_unindexed == impurity_lines and best.figures.m >= 10
    assert toy.calls.count(LatticeSystem.TETRAGONAL) == passes


def test_a_complete_indexing_that_leads_clearly_ends_the_search_below_the_decisive_score():
    """α-iron's six lines to 150° (cI, a = 2.8665 Å, 0.02° noise): the true cell explains every line with M6 near
    600 but scores 0.19 per peak, under the decisive 0.5 (six lines pay the Occam factors of a cell and a zero as
    twenty would). It leads every other lattice clearly, and the search ends after the cubic system instead of
    running every lower one (7 s of CPU before, 0.35 s now)."""
    peaks = synthetic_peaks(Cell(2.8665, 2.8665, 2.8665), BravaisLattice.cI,
                            faults=PeakListFaults(two_theta_noise=0.02), rng=np.random.default_rng(0))
    result = powdex.index(peaks, config=IndexingConfig(seed=0, time_limit=60))
    best = result.candidates[0]
    assert peaks.n == 6 and best.bravais is BravaisLattice.cI and best.figures.n_unindexed == 0
    assert best.cell.a == pytest.approx(2.8665, rel=3e-4)
    search = IndexingSearch(peaks, IndexingConfig(seed=0))
    assert not search.decisive(best) and 0 < best.score / peaks.n < IndexingConfig().stop_score_per_peak
    stop = next(d for d in result.details if d.startswith("the search ended"))
    assert stop.startswith("the search ended after the cubic system on cI") and "it explains every line" in stop

"""End to end: peak lists of known cells, made here, come back indexed with the true cell."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingConfig, PeakListFaults, index, synthetic_peaks

CASES = [
    # (Bravais lattice, cell, required rank)
    ("cF", Cell(5.4312, 5.4312, 5.4312), 1),
    ("cI", Cell(6.23, 6.23, 6.23), 1),
    ("tP", Cell(4.5937, 4.5937, 2.9587), 1),
    ("hP", Cell(3.2094, 3.2094, 5.2103, 90, 90, 120), 1),
    ("hR", Cell(4.7602, 4.7602, 12.9933, 90, 90, 120), 1),
    ("oP", Cell(4.7560, 5.9800, 10.2070), 1),
    ("mP", Cell(5.1020, 11.9709, 5.4575, 90, 111.74, 90), 5),
    ("aP", Cell(5.2, 6.3, 7.1, 82.0, 95.5, 103.0), 5),
]


def _rank_of_truth(result, bravais: BravaisLattice, cell: Cell) -> int | None:
    for i, cand in enumerate(result.candidates, 1):
        if cand.bravais is bravais and same_lattice(cand.cell, cell, bravais.centring, bravais.centring, rtol=3e-3):
            return i
    return None


@pytest.mark.parametrize("symbol, cell, required_rank", CASES, ids=[c[0] for c in CASES])
def test_true_cell_is_found_and_ranked(symbol, cell, required_rank):
    bravais = BravaisLattice(symbol)
    peaks = synthetic_peaks(cell, bravais, faults=PeakListFaults(two_theta_noise=0.01), rng=np.random.default_rng(7))
    result = index(peaks, config=IndexingConfig(seed=1, time_limit=120))
    rank = _rank_of_truth(result, bravais, cell)
    assert rank is not None and rank <= required_rank, [str(c.cell) + c.bravais.value for c in result.candidates[:5]]
    best = result.candidates[rank - 1]
    assert best.figures.n_unindexed == 0
    assert best.figures.m > 20
    # Every peak's Miller index reproduces its position through the cell.
    tt_calc = best.two_theta_calc - best.zero_shift
    assert np.max(np.abs(peaks.two_theta - best.zero_shift - tt_calc)) < 0.05


def test_zero_shift_is_refined_and_impurity_left_unindexed():
    bravais, cell = BravaisLattice.tI, Cell(3.9, 3.9, 11.3)
    faults = PeakListFaults(two_theta_noise=0.01, zero_shift=0.05, impurity=True)
    peaks = synthetic_peaks(cell, bravais, faults=faults, rng=np.random.default_rng(3))
    result = index(peaks, config=IndexingConfig(seed=2, zero_shift=True, time_limit=60))
    best = result.candidates[0]
    assert best.bravais is bravais and same_lattice(best.cell, cell, "I", "I", rtol=3e-3)
    assert best.zero_shift == pytest.approx(0.05, abs=0.015)
    assert best.figures.n_unindexed == 1


def test_same_seed_same_ranking():
    bravais, cell = BravaisLattice.oI, Cell(5.1, 7.3, 9.2)
    peaks = synthetic_peaks(cell, bravais, rng=np.random.default_rng(5))
    config = IndexingConfig(seed=11, systems="orthorhombic", time_limit=60)
    first = index(peaks, config=config)
    second = index(peaks, config=config)
    assert [c.to_dict() for c in first.candidates] == [c.to_dict() for c in second.candidates]


def test_too_few_peaks_for_the_lattice_system_is_an_error():
    peaks = synthetic_peaks(Cell(5, 6, 7, 90, 100, 90), BravaisLattice.mP, n_peaks=4)
    with pytest.raises(ValueError, match="needs at least 5"):
        index(peaks, config=IndexingConfig(systems="monoclinic", time_limit=5))


def test_a_pass_that_finds_nothing_convincing_is_followed_by_passes_with_more_trials(generator_pattern):
    # A P 1 21/a 1 crystal of 333 Å³ (the learned-pipeline benchmark's monoclinic case 18). One pass
    # of 64 trials per volume stage (14 260 trials) ended with an mC super-cell of M20 = 8 first and
    # the true cell nowhere. The second pass (twice the trials per stage) ends at mP's decisive true cell.
    # (With candidates allowed to leave 2 lines: at the default 4 the first pass polishes more near misses and
    # finds the true cell itself.)
    cell, peaks = generator_pattern("monoclinic", 18)
    result = index(peaks, config=IndexingConfig(systems="monoclinic", method="classical", seed=18, max_unindexed=2))
    best = result.candidates[0]
    assert same_lattice(best.cell, cell, rtol=3e-3) and best.figures.m > 20
    assert result.trials > 14_260

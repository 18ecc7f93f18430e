"""A centred cell that leaves lines its primitive cell (the centring dropped, same axes) indexes: the primitive cell is
listed first when those lines cannot be impurity lines that fell on the reflections the centring forbids by chance,
and second, for a whole-pattern fit to decide, when they can."""

import numpy as np
import pytest

import powdex
from powdex.crystal import BravaisLattice, Cell, LatticeSystem, same_lattice
from powdex.indexing import IndexingConfig
from powdex.indexing.search import DECENTRED_CHANCE_SIGNIFICANCE, _covered_length
from powdex.peaks import CU_KA1, PeakList, q2_to_two_theta

TETRAGONAL_ONLY = IndexingConfig(seed=0, time_limit=20, zero_shift=True, systems=(LatticeSystem.TETRAGONAL,))


def tetragonal_lines(cell: Cell, max_index: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """2θ (Cu Kα1, below 150°) of the reflections of ``cell`` that an I centring allows and of those it forbids."""
    hkl = np.array([(h, k, l) for h in range(max_index) for k in range(h + 1) for l in range(max_index) if h + k + l])
    two_theta = q2_to_two_theta(cell.q2(hkl), CU_KA1)
    seen = np.isfinite(two_theta) & (two_theta < 150)
    hkl, two_theta = hkl[seen], two_theta[seen]
    allowed = hkl.sum(axis=1) % 2 == 0
    return np.unique(two_theta[allowed]), np.unique(two_theta[~allowed])


def peak_list(positions: np.ndarray) -> PeakList:
    return PeakList.from_values(np.sort(positions), units="2theta", wavelength=CU_KA1, source="<synthetic>")


def first_resolved(positions: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` of ``positions`` (ascending) more than 0.06° (a line's width) apart."""
    return positions[np.r_[True, np.diff(positions) > 0.06]][:count]


def test_forbidden_lines_present_though_weak_put_the_primitive_cell_first():
    # A rutile-like P cell whose atoms nearly obey an I centring: 22 lines the centring allows (to 123° 2θ) and only
    # two of the reflections it forbids (111 and 210), weak but seen. The I cell on the same axes leaves those two and
    # outscores the P cell, which pays for 19 forbidden reflections unseen; 21 forbidden reflections over 95° of 2θ
    # put two left lines on them by chance with probability 0.002.
    cell = Cell(4.59, 4.59, 2.96)
    allowed, forbidden = tetragonal_lines(cell)
    rng = np.random.default_rng(1)
    positions = np.r_[first_resolved(allowed, 22), forbidden[[2, 3]]]
    result = powdex.index(peak_list(positions + rng.normal(0, 0.01, len(positions))), config=TETRAGONAL_ONLY)
    first, second = result.candidates[:2]
    assert first.bravais is BravaisLattice.tP and same_lattice(first.cell, cell, rtol=1e-3)
    assert first.figures.n_unindexed == 0
    # The same axes, centred.
    assert second.bravais is BravaisLattice.tI and np.allclose(second.cell.parameters, cell.parameters, rtol=1e-3)
    assert second.figures.n_unindexed == 2 and second.score > first.score
    note = next(n for n in result.notes if "without its I centring" in n)
    assert "listed first" in note and "41.2" in note and "44.0" in note
    chance = float(note.split("probability ")[1].split()[0])
    assert chance < DECENTRED_CHANCE_SIGNIFICANCE
    # The pair's probability, shared in the test's odds: the primitive cell holds nearly all of it.
    p_first, p_second = result.probabilities[:2]
    assert p_first > 0.9 and p_second == pytest.approx(p_first * chance, rel=0.05)


@pytest.mark.parametrize("on_forbidden", [False, True], ids=["random positions", "on forbidden reflections"])
def test_a_centred_cell_with_two_impurity_lines_stays_first(on_forbidden):
    # A larger I cell: as many forbidden reflections as allowed ones crowd its first 18 lines, so two impurity
    # lines fall on them by chance with a probability far from negligible (0.04 here, when both happen to). At
    # random positions the primitive cell indexes neither and is not listed beside the centred one.
    cell = Cell(13.0, 13.0, 18.0)
    allowed, forbidden = tetragonal_lines(cell)
    lines = first_resolved(allowed, 18)
    rng = np.random.default_rng(0)
    if on_forbidden:
        apart = forbidden[(forbidden < lines[-1]) & (np.abs(forbidden[:, None] - allowed[None, :]).min(axis=1) > 0.3)]
        impurities = rng.choice(apart, 2, replace=False) + rng.uniform(-0.03, 0.03, 2)
    else:
        impurities = rng.uniform(lines[0], lines[-1], 2)
    result = powdex.index(peak_list(np.r_[lines + rng.normal(0, 0.01, 18), impurities]), config=TETRAGONAL_ONLY)
    first, second = result.candidates[:2]
    assert first.bravais is BravaisLattice.tI and same_lattice(first.cell, cell, "I", "I", rtol=1e-3)
    assert first.figures.n_unindexed == 2
    notes = [n for n in result.notes if "without its I centring" in n]
    if on_forbidden:
        assert second.bravais is BravaisLattice.tP and same_lattice(second.cell, cell, rtol=1e-3)
        assert second.figures.n_unindexed == 0
        assert len(notes) == 1 and "listed first" not in notes[0]
        assert float(notes[0].split("probability ")[1].split(",")[0]) >= DECENTRED_CHANCE_SIGNIFICANCE
    else:
        assert not notes


def test_covered_length_counts_overlaps_once_and_stays_in_range():
    # [0.5, 1.5] ∪ [1, 2] ∪ [4.5, 5] (clipped at 5): 1.5 + 0.5.
    assert _covered_length(np.array([1.5, 1.0, 5.0]), 0.5, 0.0, 5.0) == pytest.approx(2.0)
    assert _covered_length(np.array([]), 0.5, 0.0, 5.0) == 0.0

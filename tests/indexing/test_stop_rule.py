"""When the search may stop: a cell that leaves one line (an impurity line beside the true cell) ends it once
the lattice systems next below its own are searched, if it leads every other lattice clearly."""

import numpy as np
import pytest

import powdex
from powdex.crystal import BravaisLattice, Cell, LatticeSystem
from powdex.indexing import IndexingConfig, PeakListFaults, synthetic_peaks
from powdex.indexing.methods import register_method, unregister_method
from powdex.indexing.search import _next_lower

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


def test_a_cell_leaving_only_an_impurity_line_ends_the_search_after_the_system_next_below():
    toy = ExactCells(BravaisLattice.tP, TETRAGONAL, SUPER_CELL)
    result = search_with(toy, tetragonal_with_an_impurity_line())
    best = result.best
    assert best.bravais is BravaisLattice.tP and best.cell.a == pytest.approx(TETRAGONAL.a, rel=1e-3)
    assert best.figures.n_unindexed == 1
    # Below what a decisive cell with a line left must score: the gap to every other lattice decides.
    assert best.score < (IndexingConfig().stop_score_per_peak + IndexingConfig().stop_score_per_unindexed) * len(
        best.indexed)
    # Orthorhombic (where a slightly distorted cell that splits a line would be) is searched, nothing below it.
    assert toy.calls[-1] is LatticeSystem.ORTHORHOMBIC
    assert LatticeSystem.MONOCLINIC not in toy.calls and LatticeSystem.TRICLINIC not in toy.calls


def test_without_a_clear_lead_a_cell_leaving_a_line_does_not_end_the_search():
    toy = ExactCells(BravaisLattice.tP, TETRAGONAL, SUPER_CELL)
    result = search_with(toy, tetragonal_with_an_impurity_line(), stop_gap_per_peak=1.0)
    assert result.best.bravais is BravaisLattice.tP
    assert toy.calls[-1] is LatticeSystem.TRICLINIC


def test_the_systems_next_below_are_the_least_distortions():
    assert _next_lower(LatticeSystem.CUBIC) == {LatticeSystem.TETRAGONAL, LatticeSystem.RHOMBOHEDRAL}
    assert _next_lower(LatticeSystem.TETRAGONAL) == {LatticeSystem.ORTHORHOMBIC}
    assert _next_lower(LatticeSystem.HEXAGONAL) == {LatticeSystem.ORTHORHOMBIC}
    assert _next_lower(LatticeSystem.RHOMBOHEDRAL) == {LatticeSystem.MONOCLINIC}
    assert _next_lower(LatticeSystem.ORTHORHOMBIC) == {LatticeSystem.MONOCLINIC}
    assert _next_lower(LatticeSystem.TRICLINIC) == set()

"""The smaller-cell check: a super-cell found by the search leads to the true cell."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing import IndexingSearch, PeakListFaults, synthetic_peaks


@pytest.mark.parametrize(
    "truth_symbol, truth, found_symbol, found",
    [
        # α-glycine with c doubled: the same lines and as many again that are not there.
        ("mP", Cell(5.1020, 11.9709, 5.4575, 90, 111.74, 90), "mP", Cell(5.1020, 11.9709, 10.9150, 90, 111.74, 90)),
        # A C-centred cell taken as primitive (the benchmark's mC miss): the centring halves the lattice.
        ("mC", Cell(7.745, 12.446, 7.944, 90, 113.28, 90), "mP", Cell(7.745, 12.446, 7.944, 90, 113.28, 90)),
        # An F-centred cubic cell indexed as primitive: index 4.
        ("cF", Cell(5.4312, 5.4312, 5.4312), "cP", Cell(5.4312, 5.4312, 5.4312)),
    ],
)
def test_the_true_cell_is_derived_from_its_super_cell(truth_symbol, truth, found_symbol, found):
    peaks = synthetic_peaks(truth, BravaisLattice(truth_symbol), faults=PeakListFaults(two_theta_noise=0.005), rng=np.random.default_rng(1))
    search = IndexingSearch(peaks)
    found_bravais = BravaisLattice(found_symbol)
    super_cell = search.polished(found_bravais, found_bravais.axes.free_reciprocal_parameters(found))
    assert super_cell is not None and super_cell.figures.n_unindexed == 0
    derived = search.subcells(super_cell)
    matches = [c for c in derived if c.bravais.value == truth_symbol and same_lattice(c.cell, truth, c.bravais.centring, truth_symbol[1], 3e-3)]
    assert matches, [(c.bravais.value, str(c.cell)) for c in derived]
    assert max(c.score for c in matches) > super_cell.score + 5  # and it outranks the super-cell

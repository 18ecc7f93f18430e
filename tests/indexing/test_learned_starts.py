"""Starting cells from the shipped models reach monoclinic and triclinic cells that random starts miss."""

import itertools

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, same_lattice
from powdex.indexing.learned_starts import learned_starts
from powdex.indexing.observations import Observations
from powdex.indexing.svd_index import SvdIndexSearch, estimated_volume
from powdex.indexing.synthetic import synthetic_peaks
from powdex.peaks import PeakList
from powdex.training.build import entries_of_system


def entries(system: str, n: int):
    """The first ``n`` entries of the training generator (seed 0) in ``system`` with 20 observable peaks."""
    return itertools.islice(entries_of_system(0, system, 20), n)


def solved(bravais, obs, cell, starts, search) -> bool:
    """Whether an SVD-Index trial from ``starts`` converges to ``cell`` explaining 18 of the 20 peaks."""
    batch = search.run(starts)
    cells = bravais.axes.lattice_parameters(batch.x[batch.n_matched >= 18])
    return any(same_lattice(Cell(*c), cell, bravais.centring, bravais.centring, rtol=3e-3) for c in cells)


@pytest.mark.parametrize("system, at_least", [("monoclinic", 2), ("triclinic", 3)])
def test_learned_starts_solve_patterns_that_as_many_random_starts_do_not(system, at_least):
    # Measured on these 12 entries (generator version 6, the models trained on it): 4 (monoclinic) and
    # 5 (triclinic) solved from 256 learned starts, 1 and 0 from 256 random starts over the search's volume range.
    by_model = by_chance = 0
    for entry in entries(system, 12):
        bravais = BravaisLattice(entry.bravais_lattice)
        obs = Observations.from_peaks(PeakList.from_values(entry.observable_q2[:20]))
        cell = Cell(*entry.conventional_cell)
        search = SvdIndexSearch(bravais, obs, np.random.default_rng(0), match_tolerance=0.05)
        starts = learned_starts(bravais, obs, 256, np.random.default_rng(0))
        assert starts.shape[1] == bravais.axes.n_free and 200 <= len(starts) <= 256
        by_model += solved(bravais, obs, cell, starts, search)
        v0 = estimated_volume(bravais, obs)
        by_chance += solved(bravais, obs, cell, search.random_parameters(256, (0.3 * v0, 0.3 * v0 * 1.3**10)), search)
    assert by_model >= at_least and by_model >= by_chance + 2


def test_without_models_for_the_peaks_there_are_no_learned_starts():
    # Copper has two lines below 2θ = 60° (the models' window), under the cubic models' minimum of three.
    copper = Observations.from_peaks(synthetic_peaks(Cell(3.615, 3.615, 3.615), BravaisLattice("cF"), n_peaks=8))
    assert learned_starts(BravaisLattice("cF"), copper, 256, np.random.default_rng(0)).shape == (0, 1)
    # A monoclinic list of five peaks is under the monoclinic minimum of six; eight are enough.
    monoclinic = Cell(5.2, 7.1, 9.3, 90, 104, 90)
    five, eight = (Observations.from_peaks(synthetic_peaks(monoclinic, BravaisLattice("mP"), n_peaks=n)) for n in (5, 8))
    assert learned_starts(BravaisLattice("mP"), five, 256, np.random.default_rng(0)).shape == (0, 4)
    assert len(learned_starts(BravaisLattice("mP"), eight, 256, np.random.default_rng(0))) > 100
    mono = Observations.from_peaks(synthetic_peaks(Cell(5.2, 7.1, 9.3, 90, 104, 90), BravaisLattice("mP")))
    assert learned_starts(BravaisLattice("mP"), mono, 0, np.random.default_rng(0)).shape == (0, 4)

"""SVD-Index's parts (Coelho 2003): the nearest-line search, the cubic starts, and the polish that is computed once
per distinct trial solution."""

import numpy as np

from powdex.crystal import BravaisLattice, Cell, LatticeSystem
from powdex.crystal.cell import volume
from powdex.indexing import IndexingConfig, PeakListFaults, synthetic_peaks
from powdex.indexing.candidate import CandidateEvaluator, ScoringModel
from powdex.indexing.observations import Observations
from powdex.indexing.search import IndexingSearch
from powdex.indexing.svd_index import RandomStarts, _nearest, cell_volumes, volume_stages


def test_the_nearest_line_of_every_trial_is_that_of_a_brute_force_search():
    rng = np.random.default_rng(3)
    lines = np.sort(rng.uniform(0.0, 0.5, (40, 30)), axis=1)
    peaks = np.sort(rng.uniform(-0.05, 0.6, 20))  # some below the first line, some past the last
    brute = np.argmin(np.abs(peaks[None, :, None] - lines[:, None, :]), axis=2)
    assert np.array_equal(_nearest(peaks, lines), brute)


def test_cell_volumes_are_those_of_the_lattice_parameters_and_nan_where_no_lattice_exists():
    rng = np.random.default_rng(4)
    for system in LatticeSystem:
        x = rng.normal(0.02, 0.02, (500, system.n_free))
        parameters = system.lattice_parameters(x)
        lattice = np.all(np.isfinite(parameters), axis=1)
        volumes = cell_volumes(system, x)
        assert np.array_equal(np.isnan(volumes), ~lattice), system
        assert np.allclose(volumes[lattice], volume(parameters[lattice]), rtol=1e-6), system


def test_cubic_starts_hold_the_true_cell_and_find_it_past_an_impurity_line_first():
    """Every start puts one of the first peaks on an allowed line; with the first peak an impurity line, a later
    peak's start is the true cell, which the search polishes and ranks first."""
    cell = Cell(7.3, 7.3, 7.3)
    peaks = synthetic_peaks(cell, BravaisLattice.cP, n_peaks=15, faults=PeakListFaults(two_theta_noise=0.0))
    # An impurity line below the first true line (q² 0.64 times the (100) line's: no cubic cell of this size).
    two_theta = np.r_[peaks.two_theta[0] * 0.8, peaks.two_theta]
    peaks = type(peaks).from_values(two_theta, units="2theta", wavelength=peaks.wavelength)
    search = IndexingSearch(peaks, IndexingConfig(zero_shift=False, systems=("cubic",)))
    svd = search.svd_index(BravaisLattice.cP)
    stages = volume_stages(BravaisLattice.cP, search.obs)
    starts = svd.line_starts((stages[0], stages[-1]), n_peaks=2)
    assert np.min(np.abs(starts[:, 0] * cell.a**2 - 1)) < 1e-9
    assert np.all((starts[:, 0] ** -1.5 >= stages[0]) & (starts[:, 0] ** -1.5 <= stages[-1]))
    best = max(RandomStarts().search(search, LatticeSystem.CUBIC, 0), key=lambda c: c.score)
    assert best.bravais is BravaisLattice.cP and abs(best.cell.a - cell.a) < 1e-6
    assert best.figures.n_unindexed == 1 and not best.indexed[0]


def test_trials_that_converged_to_one_cell_share_one_polish_with_the_same_result_as_a_fresh_one():
    cell = Cell(5.2, 5.2, 8.9)
    peaks = synthetic_peaks(cell, BravaisLattice.tP, faults=PeakListFaults(two_theta_noise=0.01),
                            rng=np.random.default_rng(5))

    def evaluator() -> CandidateEvaluator:
        return CandidateEvaluator(BravaisLattice.tP, Observations.from_peaks(peaks), ScoringModel(), True)

    x = BravaisLattice.tP.axes.free_reciprocal_parameters(cell)
    shared = evaluator()
    first, second = shared.evaluate(x), shared.evaluate(x * (1 + 1e-7))
    assert first is not None and second is first
    fresh = evaluator().evaluate(x * (1 + 1e-7))
    assert fresh is not None and fresh.score == first.score
    assert np.array_equal(fresh.cell.parameters, first.cell.parameters)
    assert abs(first.cell.a - cell.a) < 2e-3 and abs(first.cell.c - cell.c) < 4e-3

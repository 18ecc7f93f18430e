"""Grouping, split, scaling and augmentation: each stage against an independent expectation."""

from itertools import product

import numpy as np
import pyarrow.parquet as pq
import pytest

from powdex.crystal import Cell, systematically_absent
from powdex.models.scaling import Scaler
from powdex.training import build_synthetic
from powdex.training.augmentation import CellPerturber, PeakResampler, fit_acceptance
from powdex.training.grouping import group_of
from powdex.training.prepare import prepare_dataset
from powdex.training.spacegroups import system_shares
from powdex.training.split import validation_mask


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    path = tmp_path_factory.mktemp("dataset")
    shares = system_shares("orthorhombic=0.4,monoclinic=0.4")
    build_synthetic(path, 120, seed=11, shares=shares, workers=1, chunk_size=60)
    prepare_dataset(path, seed=3, target_per_symbol=6)
    return path / "prepared"


def test_split_takes_a_fifth_of_every_group_and_adding_a_group_reshuffles_no_other():
    groups = ["a"] * 50 + ["b"] * 23 + ["c"] * 2
    mask = validation_mask(groups, seed=4)
    assert [int(mask[np.array(groups) == g].sum()) for g in "abc"] == [10, 5, 0]
    grown = validation_mask(groups + ["d"] * 30, seed=4)
    np.testing.assert_array_equal(grown[: len(groups)], mask)
    assert not np.array_equal(validation_mask(groups, seed=5), mask)


def _non_absent_positions(cell: Cell, symbol: str, q2_max: float) -> np.ndarray:
    """Distinct q² ≤ q2_max of all non-absent reflections, by brute force over a box of indices."""
    bound = int(np.ceil(np.sqrt(q2_max) * cell.parameters[:3].max())) + 1
    box = np.array(list(product(range(-bound, bound + 1), repeat=3)))
    box = box[np.any(box != 0, axis=1)]
    box = box[~systematically_absent(symbol, box)]
    q2 = np.sort(cell.q2(box))
    q2 = q2[q2 <= q2_max * (1 + 1e-12)]
    return q2[np.concatenate([[True], np.diff(q2) > 1e-9 * q2[1:]])]


@pytest.mark.parametrize("system", ["orthorhombic", "monoclinic"])
def test_augmented_peak_list_1_holds_every_non_absent_reflection_of_the_perturbed_cell(prepared, system):
    rows = pq.read_table(prepared / f"{system}.parquet").to_pylist()
    children = [r for r in rows if r["augmented_from"] is not None]
    originals = [r for r in rows if r["augmented_from"] is None]
    assert children
    for child in children[:15]:
        parent = next(r for r in originals if r["identifier"] == child["augmented_from"])
        assert not np.allclose(child["reindexed_cell"], parent["reindexed_cell"])
        cell = Cell.from_parameters(child["reindexed_cell"])
        allowed = np.array(child["allowed_q2"])
        np.testing.assert_allclose(allowed, _non_absent_positions(cell, child["reindexed_space_group_symbol"], allowed[-1]), rtol=1e-9)
        np.testing.assert_allclose(cell.q2(np.array(child["observable_hkl_reindexed"])), child["observable_q2"], rtol=1e-9)
        assert np.all(np.diff(child["observable_q2"]) > 0)
    # Resampled lists are as long as real ones (the parent's first 60 peaks alone gave ~40).
    length = lambda rs: np.mean([len(r["observable_q2"]) for r in rs])  # noqa: E731
    assert length(children) == pytest.approx(length(originals), rel=0.15)


def test_scaler_is_fitted_on_training_only_and_round_trips(prepared):
    scaler = Scaler.load(prepared / "monoclinic.scaling.json")
    rows = pq.read_table(prepared / "monoclinic.parquet").to_pylist()
    training = [r for r in rows if r["split"] == "training" and r["augmented_from"] is None]
    q2 = np.concatenate([r["observable_q2"] for r in training])
    assert np.isclose(scaler.q2_mean, q2.mean()) and np.isclose(scaler.q2_std, q2.std())
    cells = np.array([r["reindexed_cell"] for r in training])
    np.testing.assert_allclose(scaler.unscale_cells(scaler.scale_cells(cells)), cells)


def test_angle_scale_is_the_spread_of_the_oblique_angles_only():
    rng = np.random.default_rng(1)
    beta = 90 + np.abs(rng.normal(0, 15, 500)) + 1
    cells = np.column_stack([rng.uniform(5, 9, (500, 3)), np.full(500, 90.0), beta, np.full(500, 90.0)])
    scaler = Scaler.fit(cells, [np.array([0.1, 0.2])])
    assert scaler.angle_scale == pytest.approx(np.radians(beta).std())
    scaled = scaler.scale_cells(cells)
    assert np.all(scaled[:, [3, 5]] == 0)
    assert scaled[:, 4].std() == pytest.approx(1.0)
    np.testing.assert_allclose(scaled[:, 4], (np.radians(beta) - np.pi / 2) / np.radians(beta).std())


def test_resampling_then_fitting_recovers_the_acceptance_parameters_and_first_peak():
    rng = np.random.default_rng(0)
    first = np.zeros(60)
    first[:4] = [0.5, 0.3, 0.15, 0.05]
    truth = PeakResampler(300.0, 2.5, first)
    allowed = [np.sort(rng.uniform(0.002, 0.25, 60)) for _ in range(1500)]
    observed = [a[truth.resample(a, rng)] for a in allowed]
    fitted = PeakResampler.fit(allowed, observed)
    assert fitted.r0 == pytest.approx(300.0, rel=0.1)
    assert fitted.r1 == pytest.approx(2.5, rel=0.1)
    np.testing.assert_allclose(fitted.first_peak[:4], first[:4], atol=0.03)


def test_acceptance_from_trials_in_only_two_bins_is_taken_as_one():
    # Seen in a 12-entry build: 36 trials filled two of the 100 bins, and the two-parameter fit did not converge.
    delta = np.array([10**-1.87] * 8 + [10**-2.35] * 8)
    accepted = np.array([1] * 8 + [0, 0, 0, 0, 0, 1, 1, 1], dtype=bool)
    assert fit_acceptance(delta, accepted) == (1.0, 0.0)


def test_svd_perturbation_follows_the_spread_not_the_mean():
    rng = np.random.default_rng(2)
    direction = np.array([np.cos(0.5), np.sin(0.5)])
    normal = np.array([-direction[1], direction[0]])
    x = np.array([6.0, 4.0]) + np.outer(rng.normal(0, 2.0, 4000), direction) + np.outer(rng.normal(0, 0.1, 4000), normal)
    perturber = CellPerturber.fit(x, "svd")
    assert abs(perturber.basis[:, 0] @ direction) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(perturber.component_std, [2.0, 0.1], rtol=0.05)
    steps = np.array([perturber.perturb(x[0], rng) for _ in range(4000)]) - x[0]
    assert (steps @ direction).std() == pytest.approx(0.2 * 2.0, rel=0.1)
    assert (steps @ normal).std() == pytest.approx(0.2 * 0.1, rel=0.1)


def test_axis_permutations_of_a_rare_pattern_share_a_group_and_common_ones_do_not():
    assert group_of("orthorhombic", "oP", "P 21 2 2") == group_of("orthorhombic", "oP", "P 2 2 21")
    assert group_of("orthorhombic", "oP", "P 21 21 2") != group_of("orthorhombic", "oP", "P 2 21 21")
    assert group_of("orthorhombic", "oP", "P 21 21 21") != group_of("orthorhombic", "oP", "P 2 2 2")

"""Grouping, split, scaling and augmentation of a small synthetic dataset."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from powdex.training import build_synthetic
from powdex.training.augmentation import acceptance, fit_acceptance
from powdex.training.grouping import group_of
from powdex.training.prepare import prepare_dataset
from powdex.training.scaling import Scaler


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    path = tmp_path_factory.mktemp("dataset")
    build_synthetic(path, 120, seed=11, workers=1, chunk_size=60)
    prepare_dataset(path, seed=3, target_per_symbol=6)
    return path / "prepared"


def test_no_group_or_augmented_entry_crosses_the_split(prepared):
    rows = pq.read_table(prepared / "monoclinic.parquet").to_pylist()
    originals = {r["identifier"]: r for r in rows if r["augmented_from"] is None}
    augmented = [r for r in rows if r["augmented_from"] is not None]
    assert augmented
    for child in augmented:
        parent = originals[child["augmented_from"]]
        assert (child["split"], child["group"]) == (parent["split"], parent["group"])
    for group in {r["group"] for r in originals.values()}:
        members = [r for r in originals.values() if r["group"] == group]
        assert sum(r["split"] == "validation" for r in members) == round(0.2 * len(members))


def test_augmented_peaks_follow_the_perturbed_cell(prepared):
    from powdex.crystal import Cell

    table = pq.read_table(prepared / "orthorhombic.parquet").to_pylist()
    child = next(r for r in table if r["augmented_from"] is not None)
    parent = next(r for r in table if r["identifier"] == child["augmented_from"] and r["augmented_from"] is None)
    assert not np.allclose(child["reindexed_cell"], parent["reindexed_cell"])
    cell = Cell.from_parameters(child["reindexed_cell"])
    np.testing.assert_allclose(cell.q2(np.array(child["observable_hkl_reindexed"])), child["observable_q2"], rtol=1e-9)
    assert np.all(np.diff(child["observable_q2"]) > 0)


def test_scaler_is_fitted_on_training_only_and_round_trips(prepared):
    scaler = Scaler.load(prepared / "monoclinic.scaling.json")
    rows = pq.read_table(prepared / "monoclinic.parquet").to_pylist()
    training = [r for r in rows if r["split"] == "training" and r["augmented_from"] is None]
    q2 = np.concatenate([r["observable_q2"] for r in training])
    assert np.isclose(scaler.q2_mean, q2.mean()) and np.isclose(scaler.q2_std, q2.std())
    cells = np.array([r["reindexed_cell"] for r in training])
    np.testing.assert_allclose(scaler.unscale_cells(scaler.scale_cells(cells)), cells)
    assert np.all(scaler.scale_cells(np.array([5.0, 6, 7, 90, 90, 90]))[3:] == 0)


def test_acceptance_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    delta = 10 ** rng.uniform(-4, -1.75, 40_000)
    accepted = rng.random(delta.size) < acceptance(delta, 300.0, 2.5)
    r0, r1 = fit_acceptance(delta, accepted)
    assert r0 == pytest.approx(300.0, rel=0.1)
    assert r1 == pytest.approx(2.5, rel=0.1)


def test_axis_permutations_of_a_rare_pattern_share_a_group_and_common_ones_do_not():
    assert group_of("orthorhombic", "oP", "P 21 2 2") == group_of("orthorhombic", "oP", "P 2 2 21")
    assert group_of("orthorhombic", "oP", "P 21 21 2") != group_of("orthorhombic", "oP", "P 2 21 21")
    assert group_of("orthorhombic", "oP", "P 21 21 21") != group_of("orthorhombic", "oP", "P 2 2 2")

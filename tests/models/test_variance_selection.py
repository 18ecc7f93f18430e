"""Choosing a group network's cycle and calibrating its variance on held-out training entries."""

import numpy as np
import pytest
from scipy.stats import norm

from powdex.crystal import LatticeSystem
from powdex.models.regression import RegressionModel, model_inputs
from powdex.models.scaling import Scaler

torch = pytest.importorskip("torch")

from powdex.models.losses import inverse_gamma_nll  # noqa: E402
from powdex.models.train import (  # noqa: E402
    VarianceConfig,
    calibrated_variance_scale,
    selection_mask,
    train_variance_network,
    trained_groups,
)

IDENTITY = Scaler(q2_mean=0.0, q2_std=1.0, length_mean=0.0, length_std=1.0, angle_scale=1.0)


def nll(y, mu, alpha, beta) -> float:
    return inverse_gamma_nll(*(torch.as_tensor(a, dtype=torch.float64) for a in (y, mu, alpha, beta))).item()


def test_scale_recovers_how_much_too_small_the_predicted_variance_is():
    # σ² = β / (α − 1) = 0.01 (α large, so the marginal is nearly normal): residuals of variance 0.04 and
    # 0.0025 need it scaled by 4 and 0.25.
    rng = np.random.default_rng(0)
    n, alpha = 20000, np.full((20000, 2), 501.0)
    beta = 0.01 * (alpha - 1.0)
    y = rng.standard_normal((n, 2)) * np.sqrt([0.04, 0.0025])
    scale = calibrated_variance_scale(y, np.zeros((n, 2)), alpha, beta)
    np.testing.assert_allclose(scale, [4.0, 0.25], rtol=0.03)


def test_an_entry_predicted_with_zero_variance_counts_as_uncovered_without_a_warning():
    # β underflowed to 0 in one entry of 100 (it happened once in training): that entry needs an infinite
    # factor, sorts last, and the 97th smallest need is the 97th of the 99 others; no division warning.
    rng = np.random.default_rng(3)
    y = rng.standard_normal((100, 1))
    alpha, beta = np.full((100, 1), 3.0), np.full((100, 1), 2.0)
    beta[5] = 0.0
    with np.errstate(all="raise"):
        scale = calibrated_variance_scale(y, np.zeros((100, 1)), alpha, beta)
    others = np.sort(np.delete(y[:, 0], 5) ** 2 / 4.0)
    assert scale[0] == others[96]


def test_flat_residuals_get_the_nominal_two_sigma_coverage():
    # Residuals uniform on ±1 (a kurtosis of 1.8, like the triclinic angles'): the σ that matches their
    # variance, 1/√3, puts all of them within 2σ; the calibrated one puts 95.45 % there and, the residuals
    # being uniform, half as many within 1σ.
    rng = np.random.default_rng(1)
    n = 40000
    y = rng.uniform(-1.0, 1.0, (n, 1))
    alpha = np.full((n, 1), 3.0)
    beta = (alpha - 1.0) / 3.0  # σ² = 1/3, the residuals' variance
    sigma = np.sqrt(calibrated_variance_scale(y, np.zeros((n, 1)), alpha, beta) * beta / (alpha - 1.0))
    assert np.mean(np.abs(y) < 2.0 * sigma) == pytest.approx(0.9545, abs=1e-3)
    assert np.mean(np.abs(y) < sigma) == pytest.approx(0.9545 / 2, abs=0.01)


def test_a_few_dozen_held_out_entries_still_give_the_nominal_coverage_on_new_ones():
    # 2000 groups of 30 held-out normal residuals, σ predicted right (s = 1 would be exact): calibrated on each
    # group, μ ± 2σ covers on average at least 95.45 % of that group's new entries (exactly, from the normal
    # CDF), where the plain 95.45 % quantile of the 30 covers about 93 %.
    rng = np.random.default_rng(2)
    n, groups = 30, 2000
    alpha, beta = np.full((n, 1), 3.0), np.full((n, 1), 2.0)  # σ² = 1
    scales = np.array([calibrated_variance_scale(rng.standard_normal((n, 1)), np.zeros((n, 1)), alpha, beta)[0]
                       for _ in range(groups)])
    coverage = 2 * norm.cdf(2 * np.sqrt(scales)) - 1
    assert 0.9545 <= coverage.mean() < 0.9545 + 1 / (n + 1)
    # Fewer than 21 entries: no rank is high enough, so the largest is used and every entry is covered.
    y = rng.standard_normal((10, 1))
    scale = calibrated_variance_scale(y, np.zeros((10, 1)), alpha[:10], beta[:10])
    assert scale[0] == pytest.approx(np.max(y**2) / 4)


def test_held_out_crystals_come_with_their_augmented_copies(small_orthorhombic):
    data = small_orthorhombic
    # Give every second crystal an augmented copy (same origin) in another group.
    origin = data.origin.copy()
    origin[1::2] = origin[::2][: len(origin[1::2])]
    group = np.where(np.arange(len(origin)) % 4 < 2, "P", "C").astype(object)
    data = type(data)(data.system, data.scaler, data.cells, data.q2, data.hkl, group, data.training, data.augmented, origin, 0)
    held_out = selection_mask(data, 0.2, seed=3)
    assert not np.any(held_out & ~data.training)
    assert not set(origin[held_out]) & set(origin[data.training & ~held_out])
    for g in ("P", "C"):
        members = data.training & (group == g)
        assert 0.1 < held_out[members].mean() < 0.3


def test_a_group_of_one_crystal_and_its_copies_gets_no_models(small_orthorhombic):
    # Holding its one crystal out to choose the network would leave nothing to fit on ("cannot reshape array of
    # size 0" from the forest, before); with min_entries met, the group is skipped like a small one.
    data = small_orthorhombic
    group = np.where(np.arange(len(data.cells)) < 12, "lonely", "P").astype(object)
    origin = np.where(group == "lonely", "crystal 0", data.origin).astype(object)
    data = type(data)(data.system, data.scaler, data.cells, data.q2, data.hkl, group, data.training, data.augmented, origin, 0)
    held_out = selection_mask(data, 0.2, seed=3)
    assert held_out[group == "lonely"].all()
    assert trained_groups(data, 5, held_out) == ["P"]
    assert trained_groups(data, 5, np.zeros_like(held_out)) == ["P", "lonely"]


def test_a_system_without_entries_the_assignment_network_can_read_is_refused_in_one_line(body_centred_cubic):
    from powdex.models.errors import ModelError
    from powdex.models.train import TrainingConfig, train_system

    data = body_centred_cubic.subset(np.arange(len(body_centred_cubic.cells)) < 40)
    data = type(data)(data.system, data.scaler, data.cells, np.where(np.arange(10) < 9, data.q2, np.nan), *[
        getattr(data, f) for f in ("hkl", "group", "training", "augmented", "origin", "dropped")])
    with pytest.raises(ModelError, match="^cubic: no training entry has the 10 peaks the assignment network reads;"):
        train_system(data, TrainingConfig(min_group_entries=1000))


def test_the_returned_network_is_the_best_calibrated_cycle_on_the_held_out_entries(small_orthorhombic):
    data = small_orthorhombic
    x = model_inputs(data.scaler, data.q2)
    y = data.scaler.scale_cells(data.cells)[:, :3]
    # 80 entries, a fast rate and no dropout: the network overfits, so the held-out NLL turns up
    # before the last cycle and the best cycle is an earlier one.
    fit, held_out = np.flatnonzero(data.training)[:80], np.flatnonzero(data.training)[400:]
    config = VarianceConfig(mean_hidden=(32, 16), variance_hidden=(16,), dropout=0.0, learning_rate=1e-2, batch_size=8,
                            epochs_per_phase=5)
    monitor = (x[~data.training], y[~data.training])
    weights, _history, chosen = train_variance_network(
        x[fit], y[fit], monitor, config, seed=0, cycles=4, selection=(x[held_out], y[held_out]),
    )
    assert len(chosen["selection_nll"]) == 5  # the initial network and four cycles
    assert chosen["cycle"] == int(np.argmin(chosen["selection_nll"])) < 4
    # The weights are that cycle's: the same seed trained for just that many cycles gives them again.
    again, _, _ = train_variance_network(x[fit], y[fit], monitor, config, seed=0, cycles=chosen["cycle"])
    for key, value in again.items():
        if key != "variance_scale":
            np.testing.assert_array_equal(weights[key], value, err_msg=key)
    np.testing.assert_allclose(weights["variance_scale"], chosen["scale"], rtol=1e-6)
    # The numpy runtime of the returned weights gives that cycle's calibrated NLL.
    model = RegressionModel(LatticeSystem.ORTHORHOMBIC, "P", (0, 1, 2), 20, data.scaler, weights, None)
    prediction = model.network_prediction(data.q2[held_out])
    assert nll(y[held_out], prediction.mean, prediction.alpha, prediction.beta) == pytest.approx(min(chosen["selection_nll"]), rel=1e-4)


def test_a_batch_with_an_infinite_loss_is_skipped_and_counted(small_orthorhombic):
    from powdex.models import train

    data = small_orthorhombic
    x, y = model_inputs(data.scaler, data.q2), data.scaler.scale_cells(data.cells)[:, :3]
    config = VarianceConfig(mean_hidden=(16,), variance_hidden=(8,), batch_size=100, epochs_per_phase=1)
    poisoned = y.copy()
    poisoned[0, 0] = np.inf  # its batch's loss is infinite; a step on it would make every weight NaN
    weights, history, _ = train.train_variance_network(x, poisoned, (x[:50], y[:50]), config, seed=0, cycles=1)
    assert [h["skipped_batches"] for h in history] == [1, 1]
    assert all(np.all(np.isfinite(w)) for w in weights.values())

"""The numpy runtime reproduces the PyTorch networks and the scikit-learn forest."""

import numpy as np
import pytest

from powdex.crystal import LatticeSystem
from powdex.models.assignment import AssignmentModel
from powdex.models.forest import export_forest
from powdex.models.numpy_layers import softmax
from powdex.models.regression import RegressionModel, model_inputs
from powdex.models.scaling import Scaler

torch = pytest.importorskip("torch")

from powdex.models.torch_modules import AssignmentModule, VarianceModule  # noqa: E402
from powdex.models.train import state_arrays  # noqa: E402

IDENTITY = Scaler(q2_mean=0.0, q2_std=1.0, length_mean=0.0, length_std=1.0, angle_scale=1.0)


def randomised(module):
    """Non-trivial LayerNorm affine parameters too (they start at 1 and 0)."""
    torch.manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module.eval()


def test_variance_network_numpy_matches_torch():
    module = randomised(VarianceModule(40, 4, (200, 100, 60), (100, 60), dropout=0.3))
    module.variance_scale.copy_(torch.tensor([0.5, 1.0, 2.0, 3.0]))  # a calibrated scale, as trained networks have
    rng = np.random.default_rng(0)
    q2 = rng.normal(size=(500, 20))
    q2[np.arange(20)[None, :] >= rng.integers(6, 21, size=500)[:, None]] = np.nan  # lists of 6 to 20 peaks
    with torch.no_grad():
        expected = [t.numpy() for t in module(torch.from_numpy(model_inputs(IDENTITY, q2)))]
    model = RegressionModel(LatticeSystem.MONOCLINIC, "g", (0, 1, 2, 4), 20, IDENTITY, state_arrays(module), None)
    got = model.network_prediction(q2)
    for a, b in zip((got.mean, got.alpha, got.beta), expected):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_assignment_network_numpy_matches_torch():
    module = randomised(AssignmentModule(20, 500, (200, 200, 200, 100), dropout=0.25))
    rng = np.random.default_rng(1)
    inputs = rng.uniform(size=(64, 20, 500)).astype(np.float32)
    log_tau = np.log(rng.uniform(0.005, 0.2, size=64)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(inputs), torch.from_numpy(log_tau)).numpy()
    model = AssignmentModel(LatticeSystem.ORTHORHOMBIC, np.zeros((500, 3), int), 0.01, 1.0, 20, state_arrays(module))
    got = model.logits(inputs, log_tau)
    # The distance terms make logits of far lines large and negative: compare them relatively, probabilities absolutely.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(softmax(got), softmax(expected), atol=1e-5)


def test_exported_forest_predicts_exactly_like_scikit_learn():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2000, 20))
    y = np.stack([x[:, 0] + x[:, 1] ** 2, np.sin(3 * x[:, 2])], axis=1)
    model = RandomForestRegressor(n_estimators=80, max_samples=0.1, min_samples_leaf=10, random_state=0).fit(x, y)
    forest = export_forest(model)
    trees = forest.tree_predictions(x)
    assert trees.shape == (80, 2000, 2)
    np.testing.assert_allclose(trees.mean(axis=0), model.predict(x), rtol=1e-12)
    np.testing.assert_array_equal(trees[5], model.estimators_[5].predict(x.astype(np.float32)))

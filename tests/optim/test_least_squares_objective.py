"""An objective given as residuals: f = Σ r², its gradient 2 Jᵀr, and what it refuses."""

import pickle

import numpy as np
import pytest
import scipy.sparse

from powdex.optim import ConfigError, Objective
from powdex.optim.objective import central_difference_gradient

DESIGN = np.random.default_rng(7).normal(size=(9, 3))
TARGET = np.linspace(-1.0, 2.0, 9)


def exponential_residuals(x: np.ndarray) -> np.ndarray:
    return x[0] * np.exp(-x[1] * TARGET) + x[2] - DESIGN[:, 0]


def exponential_jacobian(x: np.ndarray) -> scipy.sparse.csr_matrix:
    decay = np.exp(-x[1] * TARGET)
    return scipy.sparse.csr_matrix(np.column_stack([decay, -x[0] * TARGET * decay, np.ones_like(TARGET)]))


def test_the_sum_of_squares_and_its_gradient_follow_from_the_residuals_and_a_sparse_jacobian():
    objective = Objective.least_squares(exponential_residuals, 3, jacobian=exponential_jacobian, name="decay")
    x = np.array([1.3, 0.4, -0.2])
    r = exponential_residuals(x)
    assert objective(x) == pytest.approx(float(r @ r), rel=1e-14)
    numeric = central_difference_gradient(objective, x, 1e-6)
    np.testing.assert_allclose(objective.grad(x), numeric, rtol=1e-6, atol=1e-7)
    assert objective.residuals is exponential_residuals and objective.jacobian is exponential_jacobian


def test_a_least_squares_objective_pickles_for_worker_processes():
    objective = Objective.least_squares(exponential_residuals, 3, jacobian=exponential_jacobian)
    copy = pickle.loads(pickle.dumps(objective))
    x = np.array([0.5, 1.0, 0.1])
    assert copy(x) == objective(x)
    np.testing.assert_array_equal(copy.grad(x), objective.grad(x))


def test_without_a_jacobian_there_is_no_analytic_gradient_and_a_lone_jacobian_is_refused():
    assert Objective.least_squares(exponential_residuals, 3).grad is None
    with pytest.raises(ConfigError, match="a Jacobian needs the residuals"):
        Objective(lambda x: 0.0, 3, jacobian=exponential_jacobian)

"""Named test objectives with known minima, for tests, benchmarks and the CLI.

The functions are module level so that objectives built from them pickle to
worker processes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from powdex.optim.objective import Objective, WeightedLeastSquares


def rosenbrock(dim: int = 2) -> Objective:
    """Unbounded Rosenbrock valley; minimum 0 at (1, ..., 1)."""
    x0 = np.tile([-1.2, 1.0], dim)[:dim]
    # Imported here: scipy.optimize costs most of a second, paid by every CLI start otherwise.
    from scipy.optimize import rosen, rosen_der, rosen_hess

    return Objective(rosen, dim, grad=rosen_der, hess=rosen_hess, x0=x0, name="rosenbrock")


def rastrigin_value(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(10.0 * x.size + np.sum(x * x - 10.0 * np.cos(2.0 * np.pi * x)))


def rastrigin_gradient(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return 2.0 * x + 20.0 * np.pi * np.sin(2.0 * np.pi * x)


def rastrigin_hessian(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.diag(2.0 + 40.0 * np.pi**2 * np.cos(2.0 * np.pi * x))


def rastrigin(dim: int = 2) -> Objective:
    """Rastrigin on [-5.12, 5.12]^dim: a local minimum near every integer point,
    the global minimum 0 at the origin."""
    return Objective(
        rastrigin_value, dim, grad=rastrigin_gradient, hess=rastrigin_hessian,
        bounds=[(-5.12, 5.12)] * dim, x0=np.full(dim, 3.3), name="rastrigin",
    )


def volcano_value(x: np.ndarray) -> float:
    """A cone whose rim (radius 2) is higher on the +x side, around a crater
    with a pit at the centre: one ridge of maxima and minima inside and out."""
    x = np.asarray(x, dtype=float)
    r = np.hypot(x[0], x[1])
    return float((1.0 + 0.25 * x[0]) * np.exp(-2.0 * (r - 2.0) ** 2) - 0.6 * np.exp(-2.0 * r * r))


def volcano(dim: int = 2) -> Objective:
    """The two-dimensional volcano of the Spotlight illustration, on [-4, 4]^2."""
    if dim != 2:
        raise ValueError("volcano is two-dimensional")
    return Objective(volcano_value, 2, bounds=[(-4.0, 4.0)] * 2, x0=[1.0, 1.0], name="volcano")


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array([
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
])
_HARTMANN_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
])
HARTMANN6_MINIMUM = (-3.32237, np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]))


def _hartmann_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = np.asarray(x, dtype=float) - _HARTMANN_P
    return _HARTMANN_ALPHA * np.exp(-np.sum(_HARTMANN_A * diff * diff, axis=1)), diff


def hartmann6_value(x: np.ndarray) -> float:
    return float(-np.sum(_hartmann_terms(x)[0]))


def hartmann6_gradient(x: np.ndarray) -> np.ndarray:
    weights, diff = _hartmann_terms(x)
    return 2.0 * (weights[:, None] * _HARTMANN_A * diff).sum(axis=0)


def hartmann6_hessian(x: np.ndarray) -> np.ndarray:
    weights, diff = _hartmann_terms(x)
    scaled = _HARTMANN_A * diff  # A_ij d_ij
    return (
        2.0 * np.diag(weights @ _HARTMANN_A)
        - 4.0 * np.einsum("i,ij,ik->jk", weights, scaled, scaled)
    )


def hartmann6(dim: int = 6) -> Objective:
    """Hartmann's 6-parameter function on [0, 1]^6: six local minima, the
    global one -3.32237 (HARTMANN6_MINIMUM)."""
    if dim != 6:
        raise ValueError("hartmann6 has six parameters")
    return Objective(
        hartmann6_value, 6, grad=hartmann6_gradient, hess=hartmann6_hessian, bounds=[(0.0, 1.0)] * 6,
        x0=np.full(6, 0.5), name="hartmann6",
    )


# A line y = 2x + 1 measured at 40 points, 12 of them wild (impurity-like) values:
# fixed data, so the function is the same in every process.
_LINE_X = np.linspace(0.0, 1.0, 40)
_LINE_Y = 2.0 * _LINE_X + 1.0 + 0.01 * np.sin(37.0 * _LINE_X)
_LINE_Y[::10] += 5.0
_LINE_Y[3::10] -= 4.0
_LINE_Y[7::10] += 3.0
LINE_TRUTH = np.array([2.0, 1.0])
_LINE_SCALE = 0.05


def cauchy_line_value(x: np.ndarray) -> float:
    r = (_LINE_Y - x[0] * _LINE_X - x[1]) / _LINE_SCALE
    return float(np.sum(np.log1p(r * r)))


def cauchy_line_resample(x: np.ndarray, step: int, rng: np.random.Generator) -> Objective:
    """Three quarters of the points, weighted as iteratively reweighted least squares does at ``x``."""
    keep = np.sort(rng.choice(_LINE_X.size, 3 * _LINE_X.size // 4, replace=False))
    r = (_LINE_Y[keep] - x[0] * _LINE_X[keep] - x[1]) / _LINE_SCALE
    design = np.column_stack([_LINE_X[keep], np.ones(keep.size)])
    return WeightedLeastSquares(design, _LINE_Y[keep], 1.0 / (1.0 + r * r)).objective("cauchy_line_model")


def cauchy_line(dim: int = 2) -> Objective:
    """A robust (Cauchy) fit of a line to data with 30 % wild points: non-convex, with a
    minimum near (slope, intercept) = (2, 1) (LINE_TRUTH) and wrong ones the outliers pull
    towards; it resamples itself, for ``metropolis`` chains."""
    if dim != 2:
        raise ValueError("cauchy_line has two parameters")
    return Objective(cauchy_line_value, 2, bounds=[(-10.0, 10.0), (-10.0, 10.0)], x0=np.array([0.0, 0.0]),
                     name="cauchy_line", resample=cauchy_line_resample)


TEST_FUNCTIONS: dict[str, Callable[..., Objective]] = {
    "rosenbrock": rosenbrock,
    "rastrigin": rastrigin,
    "volcano": volcano,
    "hartmann6": hartmann6,
    "cauchy_line": cauchy_line,
}

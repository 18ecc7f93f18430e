"""Objective functions: a scalar function of a parameter vector with optional
analytic derivatives and bounds.

Everything here must pickle, because objectives travel to worker processes and
dask workers: hold module-level functions or picklable callables, never lambdas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from powdex.optim.errors import ConfigError

ArrayFn = Callable[[np.ndarray], object]


@dataclass(frozen=True)
class Bounds:
    """Box bounds; ``-inf``/``inf`` mark an unbounded side."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=float).ravel()
        upper = np.asarray(self.upper, dtype=float).ravel()
        if lower.shape != upper.shape:
            raise ConfigError(f"bounds: {lower.size} lower but {upper.size} upper values")
        if np.isnan(lower).any() or np.isnan(upper).any():
            bad = np.flatnonzero(np.isnan(lower) | np.isnan(upper)).tolist()
            raise ConfigError(f"bounds: NaN for parameters {bad}; give a number, or -inf/inf for an open side")
        if np.any(lower > upper):
            bad = np.flatnonzero(lower > upper).tolist()
            raise ConfigError(f"bounds: lower > upper for parameters {bad}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @classmethod
    def unbounded(cls, dim: int) -> Bounds:
        return cls(np.full(dim, -np.inf), np.full(dim, np.inf))

    @property
    def dim(self) -> int:
        return self.lower.size

    def unbounded_parameters(self) -> list[int]:
        return np.flatnonzero(~(np.isfinite(self.lower) & np.isfinite(self.upper))).tolist()

    @property
    def finite(self) -> bool:
        return not self.unbounded_parameters()

    def as_pairs(self) -> list[tuple[float | None, float | None]]:
        """scipy's ``bounds=`` form: ``None`` for an open side."""
        return [
            (lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
            for lo, hi in zip(self.lower, self.upper)
        ]


class Objective:
    """A function to minimize, with optional gradient, Hessian, bounds and start.

    Without an analytic gradient, minimizers that need one use central
    differences (atomicrex's ``gradient-epsilon``), costing ``2 * dim``
    evaluations each.

    ``resample(x, step, rng)`` gives a random local model of the function
    around ``x`` for step ``step`` of a Metropolis chain
    (``powdex.optim.MetropolisChain``): the function on a random subsample of
    its data, say, with weights frozen at ``x``. Only chains use it.

    ``key`` names the version of the function: a results store resumes only
    runs made with the same name, key, dimension, bounds and start, so change
    the key whenever the function changes under the same name.

    A least-squares objective also gives its residual vector r(x) (f = Σ r²)
    and, optionally, the Jacobian ∂r/∂x (a dense array or a scipy.sparse
    matrix): ``Objective.least_squares`` builds one from them, and
    least-squares minimizers (Levenberg–Marquardt, trust-region reflective)
    use them instead of f and its gradient.
    """

    def __init__(
        self,
        fun: ArrayFn,
        dim: int,
        *,
        grad: ArrayFn | None = None,
        hess: ArrayFn | None = None,
        bounds: Bounds | Sequence[tuple[float, float]] | None = None,
        x0: Sequence[float] | np.ndarray | None = None,
        name: str | None = None,
        key: str | None = None,
        resample: Callable[[np.ndarray, int, np.random.Generator], Objective] | None = None,
        residuals: ArrayFn | None = None,
        jacobian: ArrayFn | None = None,
    ):
        if dim < 1:
            raise ConfigError(f"objective: dimension must be >= 1, got {dim}")
        if bounds is None:
            bounds = Bounds.unbounded(dim)
        elif not isinstance(bounds, Bounds):
            pairs = np.asarray(bounds, dtype=float)
            if pairs.ndim != 2 or pairs.shape[1] != 2:
                raise ConfigError("objective: bounds must be (lower, upper) pairs, one per parameter")
            bounds = Bounds(pairs[:, 0], pairs[:, 1])
        if bounds.dim != dim:
            raise ConfigError(f"objective: {bounds.dim} bounds for {dim} parameters")
        self.fun = fun
        self.dim = dim
        self.grad = grad
        self.hess = hess
        self.bounds = bounds
        self.x0 = None if x0 is None else np.asarray(x0, dtype=float).ravel()
        if self.x0 is not None and self.x0.size != dim:
            raise ConfigError(f"objective: start point has {self.x0.size} values for {dim} parameters")
        self.name: str = name or getattr(fun, "__name__", type(fun).__name__)
        self.key = key
        self.resample = resample
        if jacobian is not None and residuals is None:
            raise ConfigError("objective: a Jacobian needs the residuals it differentiates")
        self.residuals = residuals
        self.jacobian = jacobian

    @classmethod
    def least_squares(cls, residuals: ArrayFn, dim: int, *, jacobian: ArrayFn | None = None, **options) -> Objective:
        """f(x) = Σ rᵢ(x)² from the residual function, with the gradient 2 Jᵀr
        when the Jacobian is given; ``options`` are the other keywords of
        ``Objective`` (bounds, x0, name, key...)."""
        grad = SumOfSquaresGradient(residuals, jacobian) if jacobian is not None else None
        return cls(SumOfSquares(residuals), dim, grad=grad, residuals=residuals, jacobian=jacobian, **options)

    def __call__(self, x: np.ndarray) -> float:
        return float(self.fun(x))

    def identity(self, with_start: bool) -> dict:
        """What runs on this objective depend on, for a study's fingerprint.
        An analytic gradient changes the runs (no central differences); a
        Hessian cannot, since the methods that use one refuse to run without."""
        return {
            "name": self.name, "key": self.key, "dim": self.dim,
            "lower": self.bounds.lower.tolist(), "upper": self.bounds.upper.tolist(),
            "x0": None if not with_start or self.x0 is None else self.x0.tolist(),
            "analytic_gradient": self.grad is not None,
        }


class SumOfSquares:
    """Σ rᵢ(x)² of a residual function (a class, not a closure, so that it pickles)."""

    def __init__(self, residuals: ArrayFn):
        self.residuals = residuals

    def __call__(self, x: np.ndarray) -> float:
        r = np.asarray(self.residuals(x), dtype=float)
        return float(r @ r)


class SumOfSquaresGradient:
    """2 Jᵀr, the gradient of Σ rᵢ(x)², from the residuals and their Jacobian."""

    def __init__(self, residuals: ArrayFn, jacobian: ArrayFn):
        self.residuals = residuals
        self.jacobian = jacobian

    def __call__(self, x: np.ndarray) -> np.ndarray:
        r = np.asarray(self.residuals(x), dtype=float)
        return 2.0 * np.asarray(self.jacobian(x).T @ r, dtype=float).ravel()


class WeightedLeastSquares:
    """f(x) = Σ wᵢ (yᵢ − (A x)ᵢ)² with its gradient and constant Hessian 2 AᵀWA: the local model an
    iteratively reweighted fit minimizes, and what a ``resample`` typically returns (``objective``)."""

    def __init__(self, design: np.ndarray, target: np.ndarray, weights: np.ndarray):
        self.design = np.asarray(design, dtype=float)
        self.target = np.asarray(target, dtype=float)
        self.weights = np.asarray(weights, dtype=float)

    def value(self, x: np.ndarray) -> float:
        r = self.target - self.design @ x
        return float(np.sum(self.weights * r * r))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return -2.0 * self.design.T @ (self.weights * (self.target - self.design @ x))

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * (self.design.T * self.weights) @ self.design

    def objective(self, name: str) -> Objective:
        return Objective(self.value, self.design.shape[1], grad=self.gradient, hess=self.hessian, name=name)


def central_difference_gradient(fun: ArrayFn, x: np.ndarray, epsilon: float) -> np.ndarray:
    """(f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for each parameter i."""
    x = np.asarray(x, dtype=float)
    grad = np.empty_like(x)
    step = np.zeros_like(x)
    for i in range(x.size):
        step[i] = epsilon
        grad[i] = (float(fun(x + step)) - float(fun(x - step))) / (2.0 * epsilon)
        step[i] = 0.0
    return grad

"""Objective functions: a scalar function of a parameter vector with optional
analytic derivatives and bounds.

Everything here must pickle, because objectives travel to worker processes and
dask workers: hold module-level functions or picklable callables, never lambdas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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


class _Negated:
    """``-f``: turns a maximization into the minimization the minimizers do."""

    def __init__(self, fn: ArrayFn):
        self.fn = fn

    def __call__(self, x: np.ndarray):
        return -np.asarray(self.fn(x), dtype=float)


class Objective:
    """A function to minimize, with optional gradient, Hessian, bounds and start.

    Without an analytic gradient, minimizers that need one use central
    differences (the seed's ``gradient-epsilon``), costing ``2 * dim``
    evaluations each.
    """

    def __init__(
        self,
        fun: ArrayFn,
        dim: int,
        *,
        grad: ArrayFn | None = None,
        hess: ArrayFn | None = None,
        bounds: Bounds | Sequence[tuple[float, float]] | None = None,
        x0: Sequence[float] | None = None,
        name: str | None = None,
    ):
        if dim < 1:
            raise ConfigError(f"objective: dimension must be >= 1, got {dim}")
        if bounds is None:
            bounds = Bounds.unbounded(dim)
        elif not isinstance(bounds, Bounds):
            pairs = np.asarray(bounds, dtype=float)
            bounds = Bounds(pairs[:, 0], pairs[:, 1])
        if bounds.dim != dim:
            raise ConfigError(f"objective: {bounds.dim} bounds for {dim} parameters")
        self.fun = fun
        self.dim = dim
        self.grad = grad
        self.hess = hess
        self.bounds = bounds
        self.x0 = None if x0 is None else np.asarray(x0, dtype=float)
        self.name = name or getattr(fun, "__name__", type(fun).__name__)

    def __call__(self, x: np.ndarray) -> float:
        return float(self.fun(x))

    def negated(self) -> Objective:
        """The objective whose minima are this one's maxima."""
        return Objective(
            _Negated(self.fun),
            self.dim,
            grad=None if self.grad is None else _Negated(self.grad),
            hess=None if self.hess is None else _Negated(self.hess),
            bounds=self.bounds,
            x0=self.x0,
            name=f"-{self.name}",
        )


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

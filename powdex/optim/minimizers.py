"""Local minimizers: L-BFGS, second-order trust regions, and any NLopt algorithm.

Each minimizer is a frozen pydantic model, so its options are validated once on
construction (from Python or from the ``[fitting]`` TOML table) and it pickles
cleanly to worker processes.  ``kind`` names the minimizer in configuration.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import nlopt
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator
from scipy.optimize import minimize as scipy_minimize

from powdex.optim.errors import ConfigError
from powdex.optim.objective import Objective, central_difference_gradient
from powdex.optim.result import LocalResult

MACHINE_PRECISION = float(np.finfo(float).eps)


class _Tracker:
    """Counts evaluations and records the points the minimizer visits.

    ``path`` holds the start and then each iterate for the scipy methods (from
    their per-iteration callback), or every evaluated point for NLopt, which
    has no notion of iterations.  Finite-difference probes are counted in
    ``nfev`` (they cost as much as any other evaluation) but never recorded:
    they sit ``epsilon`` apart and would make surface interpolation
    ill-conditioned.
    """

    def __init__(self, objective: Objective, epsilon: float, record_evaluations: bool = False):
        self.objective = objective
        self.epsilon = epsilon
        self.record_evaluations = record_evaluations
        self.nfev = 0
        self.visited: list[np.ndarray] = []
        self.best: tuple[float, np.ndarray] | None = None

    def _evaluate(self, x: np.ndarray) -> float:
        self.nfev += 1
        return float(self.objective.fun(x))

    def value(self, x: np.ndarray) -> float:
        f = self._evaluate(x)
        if self.record_evaluations or not self.visited:
            self.visited.append(np.append(x, f))
        if not np.isnan(f) and (self.best is None or f < self.best[0]):
            self.best = (f, np.array(x, dtype=float))
        return f

    def iterate(self, intermediate_result) -> None:
        """scipy ``callback``: one row per completed iteration."""
        self.visited.append(np.append(intermediate_result.x, intermediate_result.fun))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        if self.objective.grad is not None:
            return np.asarray(self.objective.grad(x), dtype=float)
        return central_difference_gradient(self._evaluate, x, self.epsilon)

    def result(self, start, x, value, grad, nit, status, success, message, started) -> LocalResult:
        path = np.array(self.visited) if self.visited else np.empty((0, start.size + 1))
        return LocalResult(
            start=np.array(start, dtype=float),
            x=np.array(x, dtype=float),
            value=float(value),
            grad_norm=float(np.linalg.norm(grad)),
            nit=int(nit),
            nfev=self.nfev,
            status=int(status),
            success=bool(success),
            message=str(message),
            wall_time=time.perf_counter() - started,
            path=path,
        )


def _clip_into(objective: Objective, x0: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x0, dtype=float), objective.bounds.lower, objective.bounds.upper)


class _Minimizer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def check(self, objective: Objective) -> None:
        """Raise ConfigError if this minimizer cannot run on ``objective``."""


class LBFGS(_Minimizer):
    """Bound-constrained L-BFGS (scipy's L-BFGS-B).

    Stops when (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= conv_threshold * p_m,
    p_m the machine precision; this is exactly L-BFGS-B's ``ftol`` test, so
    ``ftol = conv_threshold * p_m``.  The projected-gradient test is switched
    off (``gtol=0``) so that the seed's criterion alone decides convergence.
    """

    kind: Literal["lbfgs"] = "lbfgs"
    conv_threshold: PositiveFloat = 1e-5
    max_iter: PositiveInt = 100
    gradient_epsilon: PositiveFloat = 1e-6

    def minimize(self, objective: Objective, x0: np.ndarray, seed: np.random.SeedSequence) -> LocalResult:
        started = time.perf_counter()
        tracker = _Tracker(objective, self.gradient_epsilon)
        start = _clip_into(objective, x0)
        res = scipy_minimize(
            tracker.value,
            start,
            jac=tracker.gradient,
            method="L-BFGS-B",
            callback=tracker.iterate,
            bounds=objective.bounds.as_pairs(),
            options={
                "ftol": self.conv_threshold * MACHINE_PRECISION,
                "gtol": 0.0,
                "maxiter": self.max_iter,
                # Function evaluations are limited by iterations, not separately.
                "maxfun": 1_000_000_000,
            },
        )
        return tracker.result(start, res.x, res.fun, res.jac, res.nit, res.status, res.success, res.message, started)


class TrustRegion(_Minimizer):
    """Newton trust-region methods (dogleg, trust-exact): analytic gradient and
    Hessian required.  They are unconstrained: bounds only shape the starts."""

    kind: Literal["dogleg", "trust-exact"] = "trust-exact"
    gtol: PositiveFloat = 1e-8
    max_iter: PositiveInt = 100

    def check(self, objective: Objective) -> None:
        if objective.grad is None or objective.hess is None:
            raise ConfigError(
                f"fitting.minimizer.kind: {self.kind} needs an analytic gradient and Hessian; "
                f"objective '{objective.name}' lacks "
                + " and ".join(n for n, f in (("a gradient", objective.grad), ("a Hessian", objective.hess)) if f is None)
            )

    def minimize(self, objective: Objective, x0: np.ndarray, seed: np.random.SeedSequence) -> LocalResult:
        self.check(objective)
        started = time.perf_counter()
        tracker = _Tracker(objective, epsilon=0.0)
        start = _clip_into(objective, x0)
        res = scipy_minimize(
            tracker.value,
            start,
            jac=tracker.gradient,
            hess=objective.hess,
            method=self.kind,
            callback=tracker.iterate,
            options={"gtol": self.gtol, "maxiter": self.max_iter},
        )
        return tracker.result(start, res.x, res.fun, res.jac, res.nit, res.status, res.success, res.message, started)


NLOPT_ALGORITHMS = sorted(
    name for name in dir(nlopt)
    if name.startswith(("GN_", "GD_", "G_MLSL", "LN_", "LD_", "AUGLAG"))
)
# These drive a subsidiary local optimizer that NLopt cannot pick by itself.
_NEEDS_LOCAL_ALGORITHM = {"G_MLSL", "G_MLSL_LDS", "AUGLAG", "AUGLAG_EQ"}
_NLOPT_MESSAGES = {
    1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
    5: "maxeval reached", 6: "maxtime reached", -1: "failure", -2: "invalid arguments",
    -3: "out of memory", -4: "roundoff limited", -5: "forced stop",
}


class NLopt(_Minimizer):
    """Any NLopt algorithm by name, with the seed's stopping options.

    ``maxeval`` defaults to 10,000 because NLopt's global algorithms have no
    natural end; set it to 0 to lift the limit.  ``seed`` replaces the
    ensemble seed for NLopt's random numbers (still combined with the run
    index, so runs differ); derivative-free algorithms get no gradients, and
    gradient-based ones get the analytic gradient or central differences.
    NLopt counts no iterations, so ``nit`` is the number of visited points.
    """

    kind: Literal["nlopt"] = "nlopt"
    algorithm: str
    local_algorithm: str | None = None
    seed: int | None = Field(default=None, ge=0)
    stopval: float | None = None
    maxeval: int = Field(default=10_000, ge=0)
    maxtime: PositiveFloat | None = None
    ftol_rel: PositiveFloat | None = None
    ftol_abs: PositiveFloat | None = None
    xtol_rel: PositiveFloat | None = 1e-8
    gradient_epsilon: PositiveFloat = 1e-6

    @field_validator("algorithm", "local_algorithm")
    @classmethod
    def _known_algorithm(cls, name: str | None) -> str | None:
        if name is not None and name not in NLOPT_ALGORITHMS:
            raise ValueError(f"unknown NLopt algorithm '{name}'; known: {', '.join(NLOPT_ALGORITHMS)}")
        return name

    @model_validator(mode="after")
    def _check_needs_local(self) -> NLopt:
        if self.algorithm in _NEEDS_LOCAL_ALGORITHM and self.local_algorithm is None:
            raise ValueError(f"NLopt {self.algorithm} needs a local_algorithm (e.g. LN_BOBYQA)")
        return self

    @property
    def is_global(self) -> bool:
        return self.algorithm.startswith(("GN_", "GD_", "G_"))

    def check(self, objective: Objective) -> None:
        if self.is_global and not objective.bounds.finite:
            raise ConfigError(
                f"fitting.minimizer.algorithm: NLopt {self.algorithm} is a global algorithm and needs finite "
                f"bounds on every parameter; objective '{objective.name}' is unbounded in parameters "
                f"{objective.bounds.unbounded_parameters()}"
            )

    def _configure(self, opt: nlopt.opt, objective: Objective) -> None:
        opt.set_lower_bounds(objective.bounds.lower)
        opt.set_upper_bounds(objective.bounds.upper)
        opt.set_maxeval(self.maxeval)
        for setter, value in (
            (opt.set_stopval, self.stopval), (opt.set_maxtime, self.maxtime),
            (opt.set_ftol_rel, self.ftol_rel), (opt.set_ftol_abs, self.ftol_abs),
            (opt.set_xtol_rel, self.xtol_rel),
        ):
            if value is not None:
                setter(value)

    def minimize(self, objective: Objective, x0: np.ndarray, seed: np.random.SeedSequence) -> LocalResult:
        self.check(objective)
        started = time.perf_counter()
        tracker = _Tracker(objective, self.gradient_epsilon, record_evaluations=True)

        def nlopt_objective(x: np.ndarray, grad: np.ndarray) -> float:
            if grad.size:
                grad[:] = tracker.gradient(x)
            return tracker.value(x)

        if self.seed is not None:
            seed = np.random.SeedSequence(self.seed, spawn_key=seed.spawn_key)
        # NLopt's generator is global to the process; seeding it right before
        # each run makes the run reproducible on any worker.
        nlopt.srand(int(seed.generate_state(1)[0]))
        opt = nlopt.opt(getattr(nlopt, self.algorithm), objective.dim)
        self._configure(opt, objective)
        if self.local_algorithm is not None:
            local = nlopt.opt(getattr(nlopt, self.local_algorithm), objective.dim)
            self._configure(local, objective)
            opt.set_local_optimizer(local)
        opt.set_min_objective(nlopt_objective)
        start = _clip_into(objective, x0)
        try:
            opt.optimize(start)
            status = opt.last_optimize_result()
        except nlopt.RoundoffLimited:
            status = nlopt.ROUNDOFF_LIMITED
        # NLopt's own answer is the best point it evaluated, which the tracker holds
        # even when NLopt stopped by exception.
        value, x = tracker.best if tracker.best is not None else (np.nan, start)
        grad = tracker.gradient(x)
        return tracker.result(
            start, x, value, grad, nit=len(tracker.visited), status=status, success=status > 0,
            message=_NLOPT_MESSAGES.get(status, f"NLopt status {status}"), started=started,
        )


Minimizer = Annotated[LBFGS | TrustRegion | NLopt, Field(discriminator="kind")]

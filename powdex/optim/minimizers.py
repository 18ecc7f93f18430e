"""Local minimizers: L-BFGS, second-order trust regions, and any NLopt algorithm.

Each minimizer is a frozen pydantic model, so its options are validated once on
construction (from Python or from the ``[fitting]`` TOML table) and it pickles
cleanly to worker processes.  ``kind`` names the minimizer in configuration.

What all of them share lives in ``Minimizer.run`` and ``Tracker``:
maximization as minimization of ``-f``, counting evaluations, the visited path,
status lines, the projected gradient norm, and turning a run that raised or
ended outside the bounds into a failed result rather than an error.  A new
minimizer subclasses ``Minimizer`` (see its docstring for what the engine
calls when) and registers with ``powdex.optim.registry.register_minimizer``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import nlopt
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator
from scipy.optimize import minimize as scipy_minimize

from powdex.optim.errors import ConfigError
from powdex.optim.objective import Objective, central_difference_gradient
from powdex.optim.registry import chain_minimizer_classes, kinds_of, register_minimizer, registered_union
from powdex.optim.result import (
    STATUS_OUT_OF_BOUNDS,
    STATUS_RAISED,
    STATUS_TIME_LIMIT,
    LocalResult,
    Sense,
    format_point,
)

MACHINE_PRECISION = float(np.finfo(float).eps)
BOUND_SLACK = 64 * MACHINE_PRECISION


class ObjectiveRaised(Exception):
    """The user's function (value, gradient or Hessian) raised: told apart from
    the algorithm's own errors, which NLopt turns into its failure codes."""


class DeadlineReached(Exception):
    """Raised by the ``Tracker`` at the first call to the objective after the run's deadline: it unwinds the
    algorithm (scipy, NLopt, a chain) from inside, wherever it is, and ``Minimizer.run`` ends the run there."""


@dataclass
class SearchEnd:
    """Where an algorithm stopped, in the minimized quantity's sign (what ``Minimizer.search`` returns)."""

    x: np.ndarray
    value: float
    gradient: np.ndarray | None
    status: int
    success: bool
    message: str
    nit: int | None = None


@dataclass
class Iterate:
    """One completed iteration, in the shape of scipy's per-iteration callback argument:
    what ``Tracker.iterate`` takes from a minimizer that is not scipy's."""

    x: np.ndarray
    fun: float


class Tracker:
    """Counts evaluations, records the points the minimizer visits and prints
    status lines, between the algorithm and the objective.

    The algorithm always minimizes ``sign * f``: it calls ``value``,
    ``gradient`` and ``hessian`` (never the objective itself), and
    ``iterate`` once per completed iteration; recorded values stay ``f``.
    ``path`` holds the start and then each iterate for the scipy methods (from
    their per-iteration callback), or every evaluated point for NLopt, which
    has no notion of iterations.  Finite-difference probes are counted in
    ``nfev`` (they cost as much as any other evaluation) but never recorded:
    they sit ``epsilon`` apart and would make surface interpolation
    ill-conditioned.

    ``deadline`` (``time.time()`` seconds, so that it means the same on every
    machine of a cluster) ends the run at the first call to the objective
    after it (``DeadlineReached``); a run that ends before its deadline is
    computed exactly as without one.
    """

    def __init__(self, objective: Objective, sense: Sense, epsilon: float, record_evaluations: bool,
                 output_interval: int | None, label: str, deadline: float | None = None):
        self.objective = objective
        self.sign = 1.0 if sense == "min" else -1.0
        self.epsilon = epsilon
        self.record_evaluations = record_evaluations
        self.output_interval = output_interval
        self.label = label
        self.deadline = deadline
        self.nfev = 0
        self.iterations = 0
        self.raised: ObjectiveRaised | None = None
        self.visited: list[np.ndarray] = []
        # (minimized value, x, gradient there if the algorithm asked for it)
        self.best: tuple[float, np.ndarray, np.ndarray | None] | None = None

    @property
    def nit(self) -> int:
        return len(self.visited) if self.record_evaluations else self.iterations

    def _call(self, fn, x: np.ndarray):
        if self.deadline is not None and time.time() >= self.deadline:
            raise DeadlineReached
        try:
            return fn(x)
        except Exception as error:
            raised = ObjectiveRaised(f"objective '{self.objective.name}' raised {type(error).__name__}: {error}")
            # The first is the user's error: an algorithm in C (NLopt's DIRECT) may call again with the
            # exception still pending, and Python then raises a SystemError about that instead.
            self.raised = self.raised or raised
            raise raised from error

    def _evaluate(self, x: np.ndarray) -> float:
        self.nfev += 1
        return self.sign * float(self._call(self.objective.fun, x))

    def _record(self, x: np.ndarray, minimized: float) -> None:
        self.visited.append(np.append(x, self.sign * minimized))
        if self.output_interval and self.nit and self.nit % self.output_interval == 0:
            step = "evaluation" if self.record_evaluations else "iteration"
            print(f"{self.label}{step} {self.nit}: f = {self.sign * minimized:.10g}, x = {format_point(x)}",
                  file=sys.stderr, flush=True)

    def value(self, x: np.ndarray, gradient: np.ndarray | None = None) -> float:
        f = self._evaluate(x)
        if self.record_evaluations or not self.visited:
            self._record(x, f)
        if not np.isnan(f) and (self.best is None or f < self.best[0]):
            self.best = (f, np.array(x, dtype=float), gradient)
        return f

    def iterate(self, intermediate_result) -> None:
        """One row per completed iteration: scipy's ``callback``, or an ``Iterate``."""
        self.iterations += 1
        self._record(intermediate_result.x, intermediate_result.fun)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        if self.objective.grad is not None:
            return self.sign * np.asarray(self._call(self.objective.grad, x), dtype=float)
        return central_difference_gradient(self._evaluate, x, self.epsilon)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self.sign * np.asarray(self._call(self.objective.hess, x), dtype=float)

    def _projected_gradient_norm(self, x: np.ndarray, gradient: np.ndarray | None) -> float:
        # At an active bound a gradient pushing outward is the box minimum's
        # KKT condition, not a sign of unfinished work: it counts as zero.
        if gradient is None:
            return np.nan
        # A point a few rounding errors inside its bound is on it: NLopt 2.11's SLSQP
        # ends 7e-16 above a lower bound of 0.3.
        bounds = self.objective.bounds
        slack = BOUND_SLACK * np.maximum(1.0, np.abs(x))
        held = ((x <= bounds.lower + slack) & (gradient > 0)) | ((x >= bounds.upper - slack) & (gradient < 0))
        return float(np.linalg.norm(np.where(held, 0.0, gradient)))

    def truncated(self, start: np.ndarray) -> SearchEnd:
        """Where a run stopped at its deadline ended: the best point evaluated (the start if none was)."""
        value, x, gradient = (np.nan, start, None) if self.best is None else self.best
        return SearchEnd(x, value, gradient, STATUS_TIME_LIMIT, False,
                         f"stopped at its time limit after {self.nfev} evaluations; the best point so far")

    def result(self, start: np.ndarray, end: SearchEnd, started: float) -> LocalResult:
        x = np.array(end.x, dtype=float)
        status, success, message = end.status, end.success, end.message
        bounds = self.objective.bounds
        outside = np.flatnonzero((x < bounds.lower) | (x > bounds.upper)).tolist()
        if outside:
            status, success = STATUS_OUT_OF_BOUNDS, False
            message = f"ended outside the bounds in parameters {outside} (the algorithm said: {message})"
        elif np.isnan(end.value) and success:
            # NLopt can meet its tolerances on an objective that returns only NaN.
            success, message = False, f"{message}, but the objective returned no finite value"
        path = np.array(self.visited) if self.visited else np.empty((0, start.size + 1))
        return LocalResult(
            start=np.array(start, dtype=float),
            x=x,
            value=self.sign * float(end.value),
            grad_norm=self._projected_gradient_norm(x, end.gradient),
            nit=self.nit if end.nit is None else int(end.nit),
            nfev=self.nfev,
            status=int(status),
            success=bool(success),
            message=str(message),
            wall_time=time.perf_counter() - started,
            path=path,
        )


def _seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence | None:
    return np.random.SeedSequence(int(seed)) if isinstance(seed, (int, np.integer)) else seed


class Minimizer(BaseModel):
    """Base of every local minimizer: a frozen pydantic model of its options.

    A subclass declares ``kind: Literal["name"] = "name"`` and its options as
    fields, implements ``search``, and registers with ``register_minimizer``.
    The engine calls, in this order:

    1. ``check(objective)`` once, in the driver, before any run (optional: the
       default accepts every objective).  Raise ``ConfigError`` for settings
       that cannot work on this objective (missing derivatives, bounds...).
    2. ``run(objective, start, seed, sense, output_interval, label)`` once per
       local run, in a worker process: it clips the start into the bounds,
       wraps the objective in a ``Tracker`` and calls
    3. ``search(tracker, start, seed) -> SearchEnd`` (required): minimize
       ``tracker.value`` (with ``tracker.gradient``/``tracker.hessian`` where
       the algorithm uses them) from ``start``.  ``seed`` (a SeedSequence
       derived from the ensemble seed and the run index, or None) must be the
       only source of randomness, so that a run is the same on any executor.
       Anything ``search`` raises becomes a failed result, not a crash.

    The model must pickle (it travels to workers): options only, no state.
    ``usable_in_chains`` says whether it may be a Metropolis chain's local
    minimizer; ``records_evaluations`` whether its path holds every evaluation
    (an algorithm without iterations) instead of one row per ``iterate``.
    """

    # Strict: a TOML string "25" or a float 1.0 is no count, and no setting is inf or NaN.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    kind: str
    usable_in_chains: ClassVar[bool] = True
    records_evaluations: ClassVar[bool] = False

    @classmethod
    def examples(cls) -> list[Minimizer]:
        """Instances that the contract checks (``powdex.optim.testing``) run: one per kind
        with default options; override where an option has no default."""
        return [cls(kind=kind) for kind in kinds_of(cls)]

    def check(self, objective: Objective) -> None:
        """Raise ConfigError if this minimizer cannot run on ``objective``."""

    def minimize(
        self, objective: Objective, x0, seed: int | np.random.SeedSequence | None = None, *,
        sense: Sense = "min", output_interval: int | None = None, time_limit: float | None = None,
    ) -> LocalResult:
        """One local run from ``x0`` (clipped into the bounds); ``sense="max"``
        searches a maximum.  Settings that cannot work raise ConfigError before
        any evaluation; anything raised during the run ends it as a failed
        result (status ``STATUS_RAISED``) whose message names the error.
        ``seed`` matters only to stochastic algorithms.  With
        ``output_interval``, a status line (iteration, f, x) goes to stderr
        every that many iterations (evaluations for NLopt).  With
        ``time_limit`` (seconds), the run stops at the first evaluation after
        that long and ends with status ``STATUS_TIME_LIMIT`` at the best point
        it had evaluated."""
        if np.size(x0) != objective.dim:
            raise ConfigError(f"minimize: start point has {np.size(x0)} values for {objective.dim} parameters")
        self.check(objective)
        deadline = None if time_limit is None else time.time() + time_limit
        return self.run(objective, x0, _seed_sequence(seed), sense, output_interval, deadline=deadline)

    def run(self, objective: Objective, x0, seed: np.random.SeedSequence | None, sense: Sense,
            output_interval: int | None, label: str = "", *, deadline: float | None = None) -> LocalResult:
        """``minimize`` without ``check``: what the ensemble calls, having checked once for all runs.
        ``deadline``: see ``Tracker``."""
        started = time.perf_counter()
        # Trust regions have no gradient_epsilon: they refuse objectives without analytic derivatives.
        epsilon = getattr(self, "gradient_epsilon", 0.0)
        tracker = Tracker(objective, sense, epsilon, self.records_evaluations, output_interval, label, deadline)
        start = np.clip(np.asarray(x0, dtype=float), objective.bounds.lower, objective.bounds.upper)
        try:
            end = self.search(tracker, start, seed)
        except DeadlineReached:
            end = tracker.truncated(start)
        except Exception as error:
            # One failing run must not end an ensemble of thousands.
            message = str(tracker.raised or error) if isinstance(error, ObjectiveRaised) or tracker.raised else \
                f"{type(error).__name__}: {error}"
            end = SearchEnd(start, np.nan, None, STATUS_RAISED, False, message)
        return tracker.result(start, end, started)

    def search(self, tracker: Tracker, start: np.ndarray, seed: np.random.SeedSequence | None) -> SearchEnd:
        raise NotImplementedError(f"{type(self).__name__} must implement search()")


@register_minimizer
class LBFGS(Minimizer):
    """Bound-constrained L-BFGS (scipy's L-BFGS-B).

    Stops when (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= conv_threshold * p_m,
    p_m the machine precision; this is exactly L-BFGS-B's ``ftol`` test, so
    ``ftol = conv_threshold * p_m``.  The projected-gradient test is switched
    off (``gtol=0``) so that this relative-decrease criterion alone decides convergence.
    """

    kind: Literal["lbfgs"] = "lbfgs"
    conv_threshold: PositiveFloat = 1e-5
    max_iter: PositiveInt = 100
    gradient_epsilon: PositiveFloat = 1e-6

    def search(self, tracker: Tracker, start: np.ndarray, seed: np.random.SeedSequence | None) -> SearchEnd:
        res = scipy_minimize(
            tracker.value,
            start,
            jac=tracker.gradient,
            method="L-BFGS-B",
            callback=tracker.iterate,
            bounds=tracker.objective.bounds.as_pairs(),
            options={
                "ftol": self.conv_threshold * MACHINE_PRECISION,
                "gtol": 0.0,
                "maxiter": self.max_iter,
                # Function evaluations are limited by iterations, not separately.
                "maxfun": 1_000_000_000,
            },
        )
        return SearchEnd(res.x, res.fun, res.jac, res.status, res.success, res.message, res.nit)


@register_minimizer
class TrustRegion(Minimizer):
    """Newton trust-region methods (dogleg, trust-exact): analytic gradient and
    Hessian required.

    They are unconstrained: bounds only shape the starts, and a run that ends
    outside them is marked failed (``STATUS_OUT_OF_BOUNDS``).  Dogleg needs a
    positive-definite Hessian at every iterate and fails on non-convex
    stretches; trust-exact solves the subproblem exactly and is the choice
    where the Hessian can be indefinite.
    """

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

    def search(self, tracker: Tracker, start: np.ndarray, seed: np.random.SeedSequence | None) -> SearchEnd:
        res = scipy_minimize(
            tracker.value,
            start,
            jac=tracker.gradient,
            hess=tracker.hessian,
            method=self.kind,
            callback=tracker.iterate,
            options={"gtol": self.gtol, "maxiter": self.max_iter},
        )
        return SearchEnd(res.x, res.fun, res.jac, res.status, res.success, res.message, res.nit)


# Listed by the nlopt module but never built into it (its code is not free
# software): creating it raises invalid_argument.
_NOT_BUILT = {"LD_LBFGS_NOCEDAL"}
NLOPT_ALGORITHMS = sorted(
    name for name in dir(nlopt)
    if name.startswith(("GN_", "GD_", "G_MLSL", "LN_", "LD_", "AUGLAG")) and name not in _NOT_BUILT
)


def _takes_local_algorithm(name: str) -> bool:
    return "MLSL" in name or "AUGLAG" in name


def _needs_local_algorithm(name: str) -> bool:
    # The variants without a derivative prefix (G_MLSL, AUGLAG...) have no
    # default subsidiary optimizer; GN_MLSL, LD_AUGLAG... pick their own.
    return _takes_local_algorithm(name) and not name.startswith(("GN_", "GD_", "LN_", "LD_"))


_NLOPT_MESSAGES = {
    1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
    5: "maxeval reached", 6: "maxtime reached", -1: "failure", -2: "invalid arguments",
    -3: "out of memory", -4: "roundoff limited", -5: "forced stop",
}
# The Python binding raises these instead of returning NLopt's negative codes.
_NLOPT_FAILURES = (
    (nlopt.RoundoffLimited, nlopt.ROUNDOFF_LIMITED), (nlopt.ForcedStop, nlopt.FORCED_STOP),
    (nlopt.invalid_argument, nlopt.INVALID_ARGS), (MemoryError, nlopt.OUT_OF_MEMORY),
    (nlopt.exception, nlopt.FAILURE),
)
_NLOPT_FAILURE_TYPES = tuple(kind for kind, _ in _NLOPT_FAILURES)


@register_minimizer
class NLopt(Minimizer):
    """Any NLopt algorithm by name, with NLopt's own stopping options.

    ``maxeval`` defaults to 10,000 because NLopt's global algorithms have no
    natural end; set it to 0 to lift the limit.  It counts NLopt's calls: a
    gradient-based algorithm on an objective without an analytic gradient
    makes ``1 + 2 * dim`` evaluations per call (central differences), all in
    ``nfev``.  ``seed`` replaces the ensemble seed for NLopt's random numbers
    (still combined with the run index, so runs differ); derivative-free
    algorithms get no gradients, so their ``grad_norm`` is NaN unless the
    objective has an analytic one.  NLopt counts no iterations, so ``nit`` is
    the number of visited points.  ``local_algorithm`` is the subsidiary
    optimizer of the MLSL and AUGLAG variants, and required by G_MLSL,
    G_MLSL_LDS, AUGLAG and AUGLAG_EQ.
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

    records_evaluations: ClassVar[bool] = True

    @field_validator("algorithm", "local_algorithm")
    @classmethod
    def _known_algorithm(cls, name: str | None) -> str | None:
        if name is not None and name not in NLOPT_ALGORITHMS:
            raise ValueError(f"unknown NLopt algorithm '{name}'; known: {', '.join(NLOPT_ALGORITHMS)}")
        return name

    @model_validator(mode="after")
    def _check_local_algorithm(self) -> NLopt:
        if self.local_algorithm is None:
            if _needs_local_algorithm(self.algorithm):
                raise ValueError(f"NLopt {self.algorithm} needs a local_algorithm (e.g. LN_BOBYQA)")
        elif not _takes_local_algorithm(self.algorithm):
            raise ValueError(f"NLopt {self.algorithm} takes no local_algorithm; only the MLSL and AUGLAG variants do")
        elif not self.local_algorithm.startswith(("LN_", "LD_")) or _takes_local_algorithm(self.local_algorithm):
            raise ValueError(
                f"local_algorithm: {self.local_algorithm} is not a plain local algorithm (LN_... or LD_..., "
                "not MLSL or AUGLAG)"
            )
        return self

    @classmethod
    def examples(cls) -> list[NLopt]:
        return [cls(algorithm="LN_BOBYQA"), cls(algorithm="LD_LBFGS"), cls(algorithm="GN_DIRECT_L", maxeval=2000)]

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

    def search(self, tracker: Tracker, start: np.ndarray, seed: np.random.SeedSequence | None) -> SearchEnd:
        objective = tracker.objective

        def nlopt_objective(x: np.ndarray, grad: np.ndarray) -> float:
            gradient = None
            if grad.size:
                gradient = tracker.gradient(x)
                grad[:] = gradient
            return tracker.value(x, gradient)

        spawn_key = () if seed is None else seed.spawn_key
        if self.seed is not None:
            seed = np.random.SeedSequence(self.seed, spawn_key=spawn_key)
        elif seed is None:
            seed = np.random.SeedSequence(0)
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
        try:
            opt.optimize(start)
            status = opt.last_optimize_result()
        except _NLOPT_FAILURE_TYPES as error:
            status = next(code for kind, code in _NLOPT_FAILURES if isinstance(error, kind))
        # NLopt's own answer is the best point it evaluated, which the tracker holds
        # even when NLopt stopped by exception.
        if tracker.best is None:
            value, x, gradient = np.nan, start, None
        else:
            value, x, gradient = tracker.best
        if gradient is None and objective.grad is not None:
            gradient = tracker.gradient(x)  # analytic: costs no evaluation
        return SearchEnd(x, value, gradient, status, status > 0, _NLOPT_MESSAGES[status])


@register_minimizer
class MetropolisChain(Minimizer):
    """A Markov chain of local minimizations on random models of the objective, each end Metropolis-accepted.

    Step s asks the objective for a random local model around the current point
    (``objective.resample(x, s, rng)``: the function on a subsample of its data,
    weights frozen at x), minimizes it from x with ``local``, and moves to that
    minimum with probability min(1, exp(−Δf / temperature)), Δf measured on the
    objective itself. The answer is the best point visited; the chain stops after
    ``steps`` steps or ``patience`` steps without a new best. Basin hopping
    (``scipy.optimize.basinhopping``) perturbs the point; this perturbs the
    function, which is how a fit escapes a wrong assignment of data to model
    (the indexer's chains reassign Miller indices at every step).

    Every random choice comes from the run's seed, so a chain is the same on any
    executor. The path holds the start and every accepted point.
    """

    kind: Literal["metropolis"] = "metropolis"
    # Typed as the union of the registered minimizers usable in chains (registered_union below).
    local: Minimizer = Field(default_factory=lambda: TrustRegion(kind="dogleg"))
    steps: PositiveInt = 20
    patience: PositiveInt = 5
    temperature: PositiveFloat = 1.0

    usable_in_chains: ClassVar[bool] = False

    def check(self, objective: Objective) -> None:
        if objective.resample is None:
            raise ConfigError(
                f"fitting.minimizer.kind: metropolis needs an objective that can resample itself; "
                f"objective '{objective.name}' has no resample"
            )

    def search(self, tracker: Tracker, start: np.ndarray, seed: np.random.SeedSequence | None) -> SearchEnd:
        seed = seed if seed is not None else np.random.SeedSequence(0)
        rng = np.random.default_rng(seed)
        sense: Sense = "min" if tracker.sign > 0 else "max"
        x, f = start, tracker.value(start)
        best_x, best_f = x, f
        accepted = since_best = steps = 0
        for step in range(self.steps):
            steps = step + 1
            model = tracker._call(lambda point: tracker.objective.resample(point, step, rng), x)  # noqa: B023  (called at once)
            if step == 0:
                self.local.check(model)
            # The chain's deadline stops the local run too; the chain itself stops at its next evaluation.
            end = self.local.run(model, x, seed.spawn(1)[0], sense, None, deadline=tracker.deadline)
            trial = tracker.value(end.x) if end.admissible else np.nan
            # Drawn at every step, so the stream does not depend on which steps were uphill.
            threshold = rng.random()
            if np.isfinite(trial) and (not np.isfinite(f) or trial <= f
                                       or threshold < np.exp(-(trial - f) / self.temperature)):
                x, f = end.x, trial
                accepted += 1
                tracker.iterate(Iterate(x, f))
            if np.isfinite(f) and (not np.isfinite(best_f) or f < best_f):
                best_x, best_f, since_best = x, f, 0
            else:
                since_best += 1
                if since_best >= self.patience:
                    break
        return SearchEnd(best_x, best_f, None, 0, bool(np.isfinite(best_f)),
                    f"{steps} steps, {accepted} accepted", steps)


registered_union(MetropolisChain, "local", chain_minimizer_classes)

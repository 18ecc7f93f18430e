"""Least-squares minimization of f(x) = Σ rᵢ(x)² from the residual vector and its Jacobian.

Two methods:

- ``marquardt``: Levenberg–Marquardt (Marquardt 1963) on the normal
  equations (JᵀJ + λ diag JᵀJ) δ = −Jᵀr, with JᵀJ formed from a sparse or dense
  Jacobian.  Its cost per iteration is one Jacobian, one product JᵀJ and one
  Cholesky factorization of a (parameters × parameters) matrix, whatever the
  number of residuals: the method for whole-pattern fits with thousands of
  points and hundreds of parameters.  Bounds are kept by projection: a
  parameter held at a bound with the gradient pushing outward is left out of
  the step (an active set), the others' step is clipped into the box.
- ``trf``: scipy's trust-region reflective (``scipy.optimize.least_squares``),
  which handles bounds by reflection; with a sparse Jacobian it solves its
  subproblems iteratively (LSMR).

Both need ``objective.residuals``; without ``objective.jacobian`` the
Jacobian comes from central differences (``2 · dim`` residual evaluations).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import PositiveFloat, PositiveInt

from powdex.optim.errors import ConfigError
from powdex.optim.minimizers import Minimizer, SearchEnd, Tracker
from powdex.optim.objective import Objective
from powdex.optim.registry import register_minimizer

# Beyond this damping no step is worth trying.
_DAMPING_MAX = 1e12
# A fit whose sum of squares falls by less than ftol (relative) over this many iterations has
# stalled in a flat valley: the Gauss–Newton promise there comes from directions the data hardly fix.
_STALL_ITERATIONS = 3


@register_minimizer
class LeastSquares(Minimizer):
    """Levenberg–Marquardt or trust-region reflective least squares on an
    objective's residuals (``Objective.least_squares``).

    Marquardt stops when the Gauss–Newton step of the linearized residuals
    would lower Σr² by less than ``ftol`` relative, when Σr² fell by less than
    that over the last three iterations, when an accepted step
    changes no parameter by more than ``xtol`` relative (absolute below 1), or
    after ``max_iter`` iterations (Jacobians); trf passes ``ftol`` and ``xtol``
    to scipy."""

    kind: Literal["least-squares"] = "least-squares"
    method: Literal["marquardt", "trf"] = "marquardt"
    ftol: PositiveFloat = 1e-8
    xtol: PositiveFloat = 1e-10
    max_iter: PositiveInt = 100
    initial_damping: PositiveFloat = 1e-3
    gradient_epsilon: PositiveFloat = 1e-6

    def check(self, objective: Objective) -> None:
        if objective.residuals is None:
            raise ConfigError(
                f"fitting.minimizer.kind: least-squares needs an objective with residuals "
                f"(Objective.least_squares); objective '{objective.name}' has none"
            )

    def search(self, tracker: Tracker, start: np.ndarray, seed: np.random.SeedSequence | None) -> SearchEnd:
        if tracker.sign < 0:
            return SearchEnd(start, np.nan, None, -1, False, "least squares only minimizes (a sum of squares has no maximum)")
        if self.method == "trf":
            return self._trust_region_reflective(tracker, start)
        return self._marquardt(tracker, start)

    # -- helpers shared by both methods --------------------------------------------------------
    def _residuals(self, tracker: Tracker, x: np.ndarray) -> np.ndarray:
        tracker.nfev += 1
        return np.asarray(tracker._call(tracker.objective.residuals, x), dtype=float).ravel()

    def _jacobian(self, tracker: Tracker, x: np.ndarray, r: np.ndarray):
        objective = tracker.objective
        if objective.jacobian is not None:
            jacobian = tracker._call(objective.jacobian, x)
            return jacobian if sp.issparse(jacobian) else np.atleast_2d(np.asarray(jacobian, dtype=float))
        columns = []
        for i in range(x.size):
            step = self.gradient_epsilon * max(1.0, abs(x[i]))
            up, down = x.copy(), x.copy()
            up[i] += step
            down[i] -= step
            columns.append((self._residuals(tracker, up) - self._residuals(tracker, down)) / (2 * step))
        return np.column_stack(columns)

    def _marquardt(self, tracker: Tracker, start: np.ndarray) -> SearchEnd:
        lower, upper = tracker.objective.bounds.lower, tracker.objective.bounds.upper
        x = start.copy()
        r = self._residuals(tracker, x)
        cost = float(r @ r)
        tracker._record(x, cost)
        if not np.isfinite(cost):
            return SearchEnd(x, np.nan, None, -1, False, "the residuals at the start are not finite")
        damping, growth = self.initial_damping, 2.0
        history = [cost]
        gradient = None
        message, status, success = f"no convergence in {self.max_iter} iterations", 0, False
        for _ in range(self.max_iter):
            jacobian = self._jacobian(tracker, x, r)
            normal = jacobian.T @ jacobian
            normal = normal.toarray() if sp.issparse(normal) else np.asarray(normal)
            gradient = np.asarray(jacobian.T @ r).ravel()
            # Active set: at a bound with the descent direction (−gradient) pointing outside.
            held = ((x <= lower) & (gradient > 0)) | ((x >= upper) & (gradient < 0))
            free = np.flatnonzero(~held)
            if not free.size:
                message, status, success = "every parameter held at a bound", 1, True
                break
            sub = normal[np.ix_(free, free)]
            diagonal = np.diag(sub).copy()
            diagonal[diagonal <= 0] = 1.0
            # The most the linear model can still gain, gᵀ(JᵀJ)⁻¹g at its Gauss–Newton step: when that
            # is below ftol the fit is done, however short the damped steps have become.
            newton = _solve(sub + 1e-12 * np.diag(diagonal), -gradient[free])
            if -float(gradient[free] @ newton) <= self.ftol * max(cost, 1e-300):
                message, status, success = "the linear model promises a relative decrease below ftol", 3, True
                break
            accepted = False
            while damping <= _DAMPING_MAX:
                step = np.zeros_like(x)
                step[free] = _solve(sub + damping * np.diag(diagonal), -gradient[free])
                trial = np.clip(x + step, lower, upper)
                r_trial = self._residuals(tracker, trial)
                cost_trial = float(r_trial @ r_trial)
                if np.isfinite(cost_trial) and cost_trial <= cost:
                    accepted = True
                    break
                damping *= growth
                growth *= 2.0
            if not accepted:
                message, status, success = "no step lowers the sum of squares (damping exhausted)", 2, True
                break
            # Nielsen's (1999) update: shrink the damping by how well the linear model predicted the gain.
            taken = (trial - x)[free]
            predicted = -(2.0 * gradient[free] @ taken + taken @ sub @ taken)
            ratio = (cost - cost_trial) / predicted if predicted > 0 else 0.0
            damping = max(damping * max(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3), 1e-12)
            growth = 2.0
            change = np.abs(trial - x)
            x, r, cost = trial, r_trial, cost_trial
            tracker.iterate(SimpleNamespace(x=x, fun=cost))
            history.append(cost)
            if len(history) > _STALL_ITERATIONS and history[-1 - _STALL_ITERATIONS] - cost <= self.ftol * cost:
                message, status, success = (f"the sum of squares fell by less than ftol in {_STALL_ITERATIONS} "
                                            "iterations"), 5, True
                break
            if np.all(change <= self.xtol * np.maximum(np.abs(x), 1.0)):
                message, status, success = "parameter change below xtol", 4, True
                break
        return SearchEnd(x, cost, None if gradient is None else 2.0 * gradient, status, success, message)

    def _trust_region_reflective(self, tracker: Tracker, start: np.ndarray) -> SearchEnd:
        from scipy.optimize import least_squares

        bounds = tracker.objective.bounds
        # scipy's trf needs a start strictly inside the box.
        inside = np.clip(start, np.nextafter(bounds.lower, np.inf), np.nextafter(bounds.upper, -np.inf))
        jacobian = (lambda x: self._jacobian(tracker, x, None)) if tracker.objective.jacobian is not None else "2-point"
        res = least_squares(
            lambda x: self._residuals(tracker, x), inside, jac=jacobian, bounds=(bounds.lower, bounds.upper),
            method="trf", ftol=self.ftol, xtol=self.xtol, max_nfev=self.max_iter * (1 + start.size),
        )
        tracker.iterate(SimpleNamespace(x=res.x, fun=2.0 * res.cost))
        return SearchEnd(res.x, 2.0 * res.cost, 2.0 * np.asarray(res.grad), res.status, res.status > 0, res.message,
                    res.njev)


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        return cho_solve(cho_factor(matrix, check_finite=False), rhs, check_finite=False)
    except (LinAlgError, ValueError):
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]

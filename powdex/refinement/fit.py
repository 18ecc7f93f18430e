"""Staged Pawley and Le Bail fits of a ``ProfileModel`` on the least-squares minimizer.

Pawley (1981): every line's integrated intensity is a linear least-squares
parameter.  With the intensities refined, they and the background
coefficients are solved exactly at each step by variable projection
(``ProjectedResiduals``), so that the minimizer works on the dozen profile,
cell and shift parameters only; negative intensities are pulled towards zero
by a penalty of ``pawley_penalty · I / Ī`` (Ī the mean line intensity).
Le Bail (1988): the intensities are not refined but apportioned from the
observed counts by the current profiles (``ProfileModel.partition``, repeated
at a fixed profile until they settle) between least-squares cycles on the
other parameters.  The cycles start from the staged Pawley fit, which reaches
their neighbourhood in a few steps where cycles from the starting cell took
tens, and stop when χ² changes by less than ``LEBAIL_TOLERANCE`` of itself.
A fit whose χ² rises by more than ``DIVERGENCE_RISE`` (Le Bail's partition
runs away on a wrong cell) ends at its last good state, marked ``diverged``.

Parameters are released in stages, as done by hand in GSAS-II or TOPAS:
background (and intensities), then cell and zero shift, then the profile
(U, V, W, X, Y), then asymmetry and sample displacement.  A Pawley fit by
variable projection needs only the first and the last: the intermediate
stages prepared the intensities that it solves for at every step.  Before
them, Le Bail cycles with widened peaks (``coarse_stages``) bring a cell that is a
percent off onto its lines: a narrow peak a few FWHM from its line gives no
gradient toward it, a wide one does.  Each coarse stage fits only the
pattern up to its n-th line, where a cell error shifts the lines least (the
shift grows as tan θ) and fewest lines overlap.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from powdex.optim import Objective
from powdex.optim.least_squares import LeastSquares
from powdex.refinement.profile import (
    DISPLACEMENT,
    HL,
    SL,
    TRANSPARENCY,
    X_DISPLACEMENT,
    Y_DISPLACEMENT,
    ZERO,
    ProfileModel,
    U,
    V,
    W,
    X,
    Y,
    Z,
)

logger = logging.getLogger(__name__)

Method = Literal["pawley", "lebail"]
# Least-squares iterations per Le Bail cycle: the intensities change after each, so
# converging one cycle fully is wasted work.
LEBAIL_ITERATIONS = 4
# Relative χ² change between Le Bail cycles at which they stop: χ² is about the number of
# points N, so this is a change of about 1e-4 N, far below one (a parameter's one-s.u. change).
LEBAIL_TOLERANCE = 1e-4
# Le Bail cycles of a stage before the last: the next stage goes on from where it stops.
LEBAIL_STAGE_CYCLES = 3
# Partitions at a fixed profile per Le Bail cycle, at most, and the largest relative change of
# an intensity at which they have settled.
PARTITION_ITERATIONS = 20
PARTITION_TOLERANCE = 1e-4
# A rise of χ² by more than this fraction of its lowest value in a fit is divergence: the fit ends
# at the state of lowest χ².  Le Bail cycles from a Pawley fit settle up to a few percent above it
# (partitioned intensities are not the least-squares ones); runaway ones rise by tens of percent.
DIVERGENCE_RISE = 0.05
# Widened peaks hide the asymmetry's detail: fewer quadrature nodes for the coarse stages.
COARSE_ASYMMETRY_ORDER = 1
# Windows of the coarse stages, in (widened) FWHM: wide peaks need no far tails to pull a cell.
COARSE_WINDOW_FWHM = 3.0
# Least-squares iterations of a stage before the last: the next stage goes on from where it stops.
STAGE_ITERATIONS = 5
# Width of the Pawley penalty's bend, relative to the mean line intensity.
PENALTY_WIDTH = 0.01
# "sample_broadening" is X and Y alone: the Lorentzian terms a sample adds to a held instrument's profile.
GROUPS = ("background", "intensities", "cell", "zero", "profile", "asymmetry", "displacement", "sample_broadening")
# Refined only when asked (calibration): Bragg–Brentano transparency, and Debye–Scherrer capillary x and y
# displacement; each is nearly the same function of 2θ as another shift, which a sample fit cannot separate.
GEOMETRY_GROUPS = ("transparency", "capillary")
# Refined only when asked: the Stephens (1999) anisotropic microstrain of a model with that extra width.
STRAIN_GROUP = "anisotropic_strain"
# Refined only when asked: GSAS-II's constant Lorentzian Z.  It differs from Y / cosθ only by how 1/cosθ grows
# with angle (15 % up to 60° 2θ), so a fit trades one against the other, to large values of opposite sign
# (Xerus' MiniFlex calibration has Y = −0.042°, Z = +0.064°); and GSAS's and FullProf's profiles have no Z.
CONSTANT_LORENTZIAN_GROUP = "constant_lorentzian"
OPTIONAL_GROUPS = (*GEOMETRY_GROUPS, STRAIN_GROUP, CONSTANT_LORENTZIAN_GROUP)
STAGES: tuple[tuple[str, ...], ...] = (
    ("background", "intensities"),
    ("background", "intensities", "cell", "zero"),
    ("background", "intensities", "cell", "zero", "profile", "sample_broadening"),
    ("background", "intensities", "cell", "zero", "profile", "sample_broadening", "asymmetry", "displacement",
     *OPTIONAL_GROUPS),
)


def group_indices(model: ProfileModel, group: str) -> np.ndarray:
    # With Stephens's anisotropic strain the isotropic strain term X is held: the S_HKL span it (the
    # isotropic spread σ(M) ∝ M is one of their combinations), so refining both leaves the fit singular.
    lorentzian = [Y] if model.extra_width is not None else [X, Y]
    ranges = {
        "background": np.arange(model.background_slice.start, model.background_slice.stop),
        "intensities": np.arange(model.intensity_slice.start, model.intensity_slice.stop),
        "cell": np.arange(model.cell_slice.start, model.cell_slice.stop),
        "zero": np.array([ZERO]), "displacement": np.array([DISPLACEMENT]),
        "profile": np.array([U, V, W, *lorentzian]), "asymmetry": np.array([SL, HL]),
        "sample_broadening": np.array(lorentzian), "transparency": np.array([TRANSPARENCY]),
        CONSTANT_LORENTZIAN_GROUP: np.array([Z]),
        "capillary": np.array([X_DISPLACEMENT, Y_DISPLACEMENT]),
        STRAIN_GROUP: np.arange(model.width_slice.start, model.width_slice.stop),
    }
    return ranges[group]


class StageResiduals:
    """Weighted residuals (y − y_calc)/σ of the free parameters, the others held
    at ``full``; for Pawley, one penalty row per line after them,
    weight · (√(I² + width²) − I)/2: about −weight · I below zero, vanishing
    above, and smooth (a kink at zero stalls Levenberg–Marquardt).  A class,
    not a closure, so that it pickles to worker processes."""

    def __init__(self, model: ProfileModel, observed: np.ndarray, sqrt_weight: np.ndarray, full: np.ndarray,
                 free: np.ndarray, penalty: tuple[float, float] | None):
        self.model, self.observed, self.sqrt_weight = model, observed, sqrt_weight
        self.full, self.free, self.penalty = full, free, penalty

    def expand(self, x: np.ndarray) -> np.ndarray:
        p = self.full.copy()
        p[self.free] = x
        return p

    def __call__(self, x: np.ndarray) -> np.ndarray:
        p = self.expand(x)
        r = self.sqrt_weight * (self.observed - self.model.evaluate(p))
        if self.penalty is None:
            return r
        weight, width = self.penalty
        intensity = p[self.model.intensity_slice]
        return np.concatenate([r, weight * (np.hypot(intensity, width) - intensity) / 2.0])

    def jacobian(self, x: np.ndarray) -> sp.csr_matrix:
        p = self.expand(x)
        data = -(sp.diags(self.sqrt_weight) @ self.model.jacobian(p, columns=self.free))
        if self.penalty is None:
            return data.tocsr()
        weight, width = self.penalty
        start = self.model.intensity_slice.start
        positions = np.flatnonzero(self.free >= start)
        lines = self.free[positions] - start
        intensity = p[start + lines]
        slope = weight * (intensity / np.hypot(intensity, width) - 1.0) / 2.0
        penalty = sp.csr_matrix((slope, (lines, positions)), shape=(self.model.n_lines, self.free.size))
        return sp.vstack([data, penalty], format="csr")


class LinearSolve:
    """The weighted linear least-squares problem of the background coefficients and
    line intensities at fixed profile parameters, factorized once for many
    right-hand sides: the intensity block of the normal matrix is banded (lines
    sorted by angle overlap only their neighbours) and is solved by a banded
    Cholesky factorization; the few background columns, which touch every line,
    by its Schur complement."""

    def __init__(self, lines: sp.csc_matrix, background: np.ndarray, extra_diagonal: np.ndarray):
        self.lines, self.background = lines, background
        normal = (lines.T @ lines).tocoo()
        diagonal = np.asarray(lines.multiply(lines).sum(axis=0)).ravel() + extra_diagonal
        # A line no point determines (or one tied to another by an exact overlap) would make
        # the matrix singular: a ridge far below the counting statistics lifts it.
        ridge = 1e-10 * max(float(diagonal.max(initial=0.0)), 1e-300)
        upper = normal.row < normal.col
        bandwidth = int((normal.col - normal.row)[upper].max(initial=0))
        n = lines.shape[1]
        self.banded = np.zeros((bandwidth + 1, n))
        self.banded[bandwidth + normal.row[upper] - normal.col[upper], normal.col[upper]] = normal.data[upper]
        self.banded[bandwidth] = diagonal + ridge
        from scipy.linalg import LinAlgError, cho_factor, cholesky_banded

        try:
            self.factor = cholesky_banded(self.banded, lower=False, check_finite=False)
        except LinAlgError:
            # Rounding left a nearly dependent pair of lines indefinite: a ridge that still stays
            # far below one count of the strongest line settles it.
            self.banded[bandwidth] += 1e-6 * max(float(diagonal.max(initial=0.0)), 1e-300)
            self.factor = cholesky_banded(self.banded, lower=False, check_finite=False)
        self.cross = np.asarray(lines.T @ background)
        self.inner = self._solve_lines(self.cross)
        schur = background.T @ background - self.cross.T @ self.inner
        schur[np.diag_indices_from(schur)] += 1e-12 * max(float(np.abs(np.diag(schur)).max(initial=0.0)), 1e-300)
        self.schur = cho_factor(schur, check_finite=False) if schur.size else None

    def _solve_lines(self, rhs: np.ndarray) -> np.ndarray:
        from scipy.linalg import cho_solve_banded

        return cho_solve_banded((self.factor, False), rhs, check_finite=False)

    def solve(self, rhs_lines: np.ndarray, rhs_background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The line and background coefficients for right-hand sides (Aᵀt, Bᵀt)."""
        from scipy.linalg import cho_solve

        first = self._solve_lines(rhs_lines)
        if self.schur is None:
            return first, np.zeros((0,) + first.shape[1:])
        coefficients = cho_solve(self.schur, rhs_background - self.cross.T @ first, check_finite=False)
        return first - self.inner @ coefficients, coefficients

    def fit(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The coefficients that best fit ``target`` (or its columns)."""
        return self.solve(np.asarray(self.lines.T @ target), self.background.T @ target)


class ProjectedResiduals:
    """Pawley residuals by variable projection (Golub–Pereyra 1973): at each set of
    profile, cell and shift parameters the background coefficients and line
    intensities, which enter linearly, are solved for exactly, so that the
    least-squares minimizer sees only the few non-linear parameters.  Its
    Jacobian is Kaufman's (1975): the derivatives of the pattern at fixed linear
    parameters, projected off the span of the linear ones.  Negative intensities
    are pulled towards zero by a quadratic penalty (``penalty`` times I/Ī, in
    σ units) in a second solve.  A class, not a closure, so that it pickles to
    worker processes."""

    def __init__(self, model: ProfileModel, observed: np.ndarray, sqrt_weight: np.ndarray, full: np.ndarray,
                 free: np.ndarray, linear: np.ndarray, penalty: float):
        self.model, self.observed, self.sqrt_weight = model, observed, sqrt_weight
        self.full, self.free, self.penalty = full, free, penalty
        start, stop = model.background_slice.start, model.background_slice.stop
        self.background_free = linear[(linear >= start) & (linear < stop)]
        self.lines_free = linear[linear >= model.intensity_slice.start]
        self.weighted_background = sqrt_weight[:, None] * model.background[:, self.background_free - start]
        self._cache: tuple | None = None

    def _state(self, x: np.ndarray):
        key = x.tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1:]
        model = self.model
        p = self.full.copy()
        p[self.free] = x
        p[self.background_free] = 0.0
        p[self.lines_free] = 0.0
        windows, unit = model.peak_profiles(p)
        # Everything held: the target of the linear fit is what is left of the counts.
        held = model.background_of(p) + np.bincount(
            windows.point, unit * p[model.intensity_slice][model.line_of[windows.component]],
            minlength=model.two_theta.size)
        target = self.sqrt_weight * (self.observed - held)
        lines = model.line_matrix(windows, unit * self.sqrt_weight[windows.point])
        if self.lines_free.size < model.n_lines:
            lines = lines[:, self.lines_free - model.intensity_slice.start]
        extra = np.zeros(self.lines_free.size)
        system = LinearSolve(lines, self.weighted_background, extra)
        intensities, background = system.fit(target)
        negative = intensities < 0
        if negative.any() and self.penalty > 0:
            scale = float(np.mean(np.abs(intensities))) or 1.0
            extra[negative] = (self.penalty / scale) ** 2
            system = LinearSolve(lines, self.weighted_background, extra)
            intensities, background = system.fit(target)
        p[self.lines_free], p[self.background_free] = intensities, background
        residual = target - lines @ intensities - self.weighted_background @ background
        self._cache = (key, p, windows, system, residual)
        return p, windows, system, residual

    def expand(self, x: np.ndarray) -> np.ndarray:
        """The full parameter vector at non-linear parameters ``x``, linear ones solved."""
        return self._state(x)[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._state(x)[3]

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        p, windows, system, _ = self._state(x)
        derivative = self.sqrt_weight[:, None] * self.model.peak_derivatives(p, windows, self.free)
        lines, background = system.fit(derivative)
        projected = derivative - system.lines @ lines - system.background @ background
        return -projected


@dataclass
class FitState:
    """Where a fit stands: the full parameter vector, which parameters the last
    stage refined, and what the minimizer said."""

    parameters: np.ndarray
    free: np.ndarray
    chi2: float
    converged: bool
    message: str
    diverged: bool = False


class StagedFit:
    """One staged refinement of ``model`` against ``observed`` ± ``sigma``."""

    def __init__(self, model: ProfileModel, observed: np.ndarray, sigma: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, *, method: Method, groups: tuple[str, ...], coarse_stages: tuple[tuple[float, int], ...],
                 lebail_cycles: int, pawley_penalty: float, minimizer: LeastSquares):
        self.model, self.observed = model, observed
        self.sqrt_weight = 1.0 / sigma
        self.lower, self.upper = lower, upper
        self.method, self.groups, self.coarse_stages = method, groups, coarse_stages
        self.lebail_cycles, self.pawley_penalty, self.minimizer = lebail_cycles, pawley_penalty, minimizer

    def with_method(self, method: Method) -> StagedFit:
        """The same fit by ``method``."""
        twin = copy.copy(self)
        twin.method = method
        return twin

    def _data(self, model: ProfileModel) -> tuple[np.ndarray, np.ndarray]:
        """The observed counts and weights of the points ``model`` covers (a prefix of the pattern's)."""
        n = model.two_theta.size
        return self.observed[:n], self.sqrt_weight[:n]

    def chi2(self, model: ProfileModel, p: np.ndarray) -> float:
        observed, sqrt_weight = self._data(model)
        r = sqrt_weight * (observed - model.evaluate(p))
        return float(r @ r)

    def _free(self, stage: tuple[str, ...], lebail: bool) -> np.ndarray:
        chosen = [g for g in stage if g in self.groups and not (lebail and g == "intensities")]
        # unique: "profile" and "sample_broadening" share X and Y.
        return np.unique(np.concatenate([group_indices(self.model, g) for g in chosen]))

    def _least_squares(self, model: ProfileModel, p: np.ndarray, free: np.ndarray, penalty: tuple[float, float] | None,
                       max_iter: int | None = None) -> tuple[np.ndarray, str, bool]:
        free = self.covered(model, p, free)
        residuals = StageResiduals(model, *self._data(model), p, free, penalty)
        objective = Objective.least_squares(residuals, free.size, jacobian=residuals.jacobian,
                                            bounds=list(zip(self.lower[free], self.upper[free])),
                                            name="whole-pattern fit")
        minimizer = self.minimizer if max_iter is None else self.minimizer.model_copy(update={"max_iter": max_iter})
        result = minimizer.minimize(objective, p[free])
        logger.debug("least squares on %d parameters: %d iterations, %d evaluations, %.2f s", free.size, result.nit,
                     result.nfev, result.wall_time)
        if not result.admissible:
            # A failed run keeps the last good state: the start of this stage.
            return p, result.message, False
        return residuals.expand(result.x), result.message, result.success

    @staticmethod
    def covered(model: ProfileModel, p: np.ndarray, free: np.ndarray) -> np.ndarray:
        """``free`` without the intensities of lines whose windows hold no point
        (lines just outside the range): no data determine them."""
        windows = model.windows(p)
        points = np.bincount(model.line_of[windows.component], minlength=model.n_lines)
        empty = model.intensity_slice.start + np.flatnonzero(points == 0)
        return np.setdiff1d(free, empty)

    def _projected(self, p: np.ndarray, free: np.ndarray, max_iter: int | None) -> tuple[np.ndarray, str, bool]:
        """A Pawley least-squares run on ``free`` by variable projection: the free
        background and intensities solved at each step, the rest by the minimizer."""
        free = self.covered(self.model, p, free)
        linear = free[free >= self.model.background_slice.start]
        nonlinear = free[free < self.model.background_slice.start]
        residuals = ProjectedResiduals(self.model, self.observed, self.sqrt_weight, p, nonlinear, linear,
                                       self.pawley_penalty)
        if not nonlinear.size:
            return residuals.expand(p[nonlinear]), "background and intensities solved (linear)", True
        objective = Objective.least_squares(residuals, nonlinear.size, jacobian=residuals.jacobian,
                                            bounds=list(zip(self.lower[nonlinear], self.upper[nonlinear])),
                                            name="whole-pattern fit")
        minimizer = self.minimizer if max_iter is None else self.minimizer.model_copy(update={"max_iter": max_iter})
        result = minimizer.minimize(objective, p[nonlinear])
        logger.debug("variable projection on %d + %d parameters: %d iterations, %d evaluations, %.2f s",
                     nonlinear.size, linear.size, result.nit, result.nfev, result.wall_time)
        if not result.admissible:
            return p, result.message, False
        return residuals.expand(result.x), result.message, result.success

    def _partition(self, model: ProfileModel, p: np.ndarray) -> np.ndarray:
        """``p`` with Le Bail's (1988) partition of the observed counts repeated at its
        fixed profile until the intensities settle.  One partition is one step of a
        fixed-point iteration that converges only linearly where lines overlap; a
        single step per least-squares cycle left each cycle's profile refinement
        chasing intensities that were still moving, and the cycles never converged."""
        observed = self._data(model)[0]
        windows = model.windows(p)
        p = p.copy()
        for _ in range(PARTITION_ITERATIONS):
            before = p[model.intensity_slice]
            after = model.partition(p, observed, windows)
            p[model.intensity_slice] = after
            if np.max(np.abs(after - before), initial=0.0) <= PARTITION_TOLERANCE * max(np.max(np.abs(after), initial=0.0), 1e-300):
                break
        return p

    def _lebail(self, model: ProfileModel, p: np.ndarray, free: np.ndarray, cycles: int
                ) -> tuple[np.ndarray, str, bool, bool]:
        """Le Bail cycles (intensities partitioned, then least squares on ``free``) until
        χ² changes by less than ``LEBAIL_TOLERANCE`` of itself, at most ``cycles``.
        Converged cycles end at their fixed point; otherwise at the state of lowest χ²
        on the way.  A rise of more than ``DIVERGENCE_RISE`` above that state (a
        partition and a least-squares step pulling apart) ends the cycles as divergence.
        Returns the parameters, a message, whether they converged and whether they diverged."""
        # The starting intensities are not a partition of these counts: only states after one compete.
        best_p, best, previous, change = p, np.inf, np.inf, np.inf
        for cycle in range(cycles):
            p = self._partition(model, p)
            # The partitioned state competes too: on a wrong cell the least-squares step after it
            # can move lines off the peaks they were given.
            partitioned = self.chi2(model, p)
            if partitioned < best:
                best_p, best = p, partitioned
            if free.size:
                p, _, _ = self._least_squares(model, p, free, None, max_iter=LEBAIL_ITERATIONS)
            current = self.chi2(model, p)
            logger.debug("Le Bail cycle %d: chi2 %.8g", cycle + 1, current)
            if not np.isfinite(current):
                return best_p, f"Le Bail diverged: χ² not finite at cycle {cycle + 1}; kept the state of lowest χ²", \
                    False, True
            if current < best:
                best_p, best = p, current
            change = abs(previous - current) / current
            if change <= LEBAIL_TOLERANCE:
                # Le Bail's answer is the fixed point of its cycles, not their lowest χ² on the way.
                return p, (f"Le Bail converged after {cycle + 1} cycles (χ² changed by less than "
                                f"{LEBAIL_TOLERANCE:g} of itself)"), True, False
            # A partition is no χ² minimization: a cycle may end a little higher than the last one and
            # the cycles still settle.  A rise beyond DIVERGENCE_RISE is no such step.
            if current > best * (1 + DIVERGENCE_RISE):
                return best_p, f"Le Bail diverged: χ² rose from {best:.6g} to {current:.6g} at cycle {cycle + 1}", \
                    False, True
            previous = current
        return best_p, (f"Le Bail: χ² still changing by {change:.1e} of itself after {cycles} cycles; kept the state "
                        "of lowest χ²"), False, False

    def ensemble(self, starts: list[np.ndarray], *, executor=None, store=None, study: str | None = None
                 ) -> tuple[FitState, np.ndarray]:
        """Pawley fits from several ``starts`` as one ensemble on the optimization
        engine: each start is brought onto its lines by the coarse Le Bail stages
        (all but the first, the given cell), then ``run_ensemble`` runs the
        minimizer on the variable-projection residuals from every one (a
        ``Points`` strategy), on ``executor``, kept in ``store`` under ``study``
        (resumed by the same call).  Returns the best fit and every start's χ²."""
        from powdex.optim import Points, run_ensemble

        prepared = [self.run_coarse(np.clip(p, self.lower, self.upper)) if k else np.clip(p, self.lower, self.upper)
                    for k, p in enumerate(starts)]
        free = self.covered(self.model, prepared[0], self._free(STAGES[-1], lebail=False))
        linear = free[free >= self.model.background_slice.start]
        nonlinear = free[free < self.model.background_slice.start]
        residuals = ProjectedResiduals(self.model, self.observed, self.sqrt_weight, prepared[0], nonlinear, linear,
                                       self.pawley_penalty)
        objective = Objective.least_squares(residuals, nonlinear.size, jacobian=residuals.jacobian,
                                            bounds=list(zip(self.lower[nonlinear], self.upper[nonlinear])),
                                            name="Pawley fit")
        strategy = Points(points=tuple(tuple(float(v) for v in p[nonlinear]) for p in prepared),
                          minimizer=self.minimizer)
        outcome = run_ensemble(objective, strategy, executor=executor, store=store, study=study)
        chi2 = np.full(len(starts), np.inf)
        for run in outcome.results:
            if np.isfinite(run.value):
                chi2[run.run_index] = run.value
        best = outcome.best
        if best is None or not np.isfinite(best.value):
            return FitState(prepared[0], free, np.inf, False, "no start gave a finite fit"), chi2
        p = residuals.expand(best.x)
        return FitState(p, free, self.chi2(self.model, p), best.success, best.message), chi2

    def run_coarse(self, p: np.ndarray) -> np.ndarray:
        """The coarse Le Bail stages from ``p``: widened peaks pull a cell a percent off onto its lines."""
        coarse_free = self._free(("background", "cell", "zero"), lebail=True)
        for factor, lines in self.coarse_stages:
            coarse = self.model.coarsened(factor, COARSE_ASYMMETRY_ORDER, COARSE_WINDOW_FWHM).up_to_line(p, lines)
            p, _, _, _ = self._lebail(coarse, p, coarse_free, LEBAIL_STAGE_CYCLES)
            logger.debug("coarse stage, peaks %g times wider, %d points: chi2 %.6g", factor, coarse.two_theta.size,
                         self.chi2(self.model, p))
        return p

    def _run_stages(self, p: np.ndarray, stages: list[np.ndarray]) -> tuple[np.ndarray, float, np.ndarray, str, bool,
                                                                            bool]:
        """Refine from ``p`` the parameters of each of ``stages`` in turn: (parameters, χ², the last stage's
        free parameters, the minimizer's message, success, diverged)."""
        message, success, diverged, chi2 = "", True, False, np.inf
        free = np.empty(0, int)
        lowest = (p, np.inf)
        for number, free in enumerate(stages):
            last = number == len(stages) - 1
            if self.method == "lebail":
                p, message, success, diverged = self._lebail(self.model, p, free,
                                                             self.lebail_cycles if last else LEBAIL_STAGE_CYCLES)
            elif self.model.intensity_slice.start <= free.max(initial=-1):
                p, message, success = self._projected(p, free, max_iter=None if last else STAGE_ITERATIONS)
            else:
                scale = np.mean(np.abs(p[self.model.intensity_slice])) or 1.0
                p, message, success = self._least_squares(self.model, p, free,
                                                          (self.pawley_penalty / scale, PENALTY_WIDTH * scale),
                                                          max_iter=None if last else STAGE_ITERATIONS)
            chi2 = self.chi2(self.model, p)
            logger.debug("stage %d: %d parameters, chi2 %.6g (%s)", number + 1, free.size, chi2, message)
            if self.method != "lebail":
                # Each stage starts from the last one's end: one that ends higher has diverged.
                if not chi2 <= lowest[1] * (1 + DIVERGENCE_RISE):
                    message = (f"diverged: χ² rose from {lowest[1]:.6g} to {chi2:.6g} in stage {number + 1} "
                               f"({message}); kept the state of lowest χ²")
                    p, chi2, success, diverged = lowest[0], lowest[1], False, True
                    break
                if chi2 < lowest[1]:
                    lowest = (p, chi2)
        return p, chi2, free, message, success, diverged

    def run(self, p: np.ndarray, staged: bool = True, coarse: bool = True) -> FitState:
        """Fit from ``p``; without ``coarse``, no coarse stages; without ``staged``,
        only the last stage (every group at once), for a start that is already
        close: a neighbour's refinement."""
        p = np.clip(p, self.lower, self.upper)
        if self.method == "lebail" and staged:
            # Le Bail cycles alternate a partition, which absorbs the misfit of a misplaced or
            # mis-shaped peak into its intensity, and a least-squares step that then sees little of
            # it: they converge linearly, and from a start far off in tens of cycles.  The staged
            # Pawley fit (variable projection) reaches the same neighbourhood in a few steps, and
            # Le Bail cycles with every parameter released go on from there to their own fixed point.
            prefit = self.with_method("pawley").run(p, staged=True, coarse=coarse)
            if prefit.diverged:
                return prefit
            p, staged = prefit.parameters, False
        elif staged and coarse:
            p = self.run_coarse(p)
        start = p
        stages = [self._free(stage, lebail=self.method == "lebail") for stage in STAGES]
        # A stage whose groups are all held adds nothing.
        stages = [f for k, f in enumerate(stages) if k == 0 or not np.array_equal(f, stages[k - 1])]
        if not staged:
            plans = [stages[-1:]]
        elif self.method == "pawley" and len(stages) > 2:
            # Variable projection solves the background and intensities exactly at every step, which is what
            # the intermediate stages prepare: after the linear start, everything is released at once, and
            # also, as GSAS-II's tutorials refine, the cell and zero first; the lower χ² is kept.  Released at
            # once from a cell 0.2 % off, a zero shift and specimen displacement can trade against each other
            # into a valley (a cubic pattern of tests/series: zero −0.36°, displacement +0.33°, χ²_red 1.56
            # against 0.96, on some machines' BLAS kernels and not others); the cell and zero first reach the
            # truth there.  On the GSAS-II fluorapatite tutorial's data they end 0.1 % higher in χ², in another
            # basin of the Lorentzian X and Y, which everything at once finds.
            plans = [[stages[0], stages[-1]], [stages[0], stages[1], stages[-1]]]
        else:
            plans = [stages]
        outcomes = [self._run_stages(start, plan) for plan in plans]
        # The lowest χ² of the plans that did not diverge (of all, if each did).
        p, chi2, free, message, success, diverged = min(outcomes, key=lambda o: (o[5], o[1]))
        if self.method == "lebail" and diverged:
            # Le Bail's partition is unstable on a wrong cell (the ratio y_obs/y_calc is unbounded
            # where a line sits on a peak's flank): the last good state is where its cycles began,
            # a Pawley fit (the staged one, or the ensemble's best) whose intensities are solved.
            p = start
            message += f"; kept the Pawley fit the cycles started from (χ² {self.chi2(self.model, p):.6g})"
        elif self.method == "lebail":
            p = self._partition(self.model, p)
        chi2 = self.chi2(self.model, p)
        observed = self._data(self.model)[0]
        if chi2 >= float(np.sum((self.sqrt_weight * observed) ** 2)):
            # Rwp ≥ 100 %: the calculated pattern fits worse than none at all.
            message = f"diverged: Rwp {100 * np.sqrt(chi2 / np.sum((self.sqrt_weight * observed) ** 2)):.0f} % ({message})"
            success, diverged = False, True
        return FitState(p, self.covered(self.model, p, free), chi2, success, message, diverged)

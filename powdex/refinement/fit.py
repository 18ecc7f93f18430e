"""Staged Pawley and Le Bail fits of a ``ProfileModel`` on the least-squares minimizer.

Pawley (1981): every line's integrated intensity is a linear least-squares
parameter, refined together with the rest; a smooth penalty residual of
about ``pawley_penalty · I / Ī`` per negative intensity keeps them
non-negative (Ī the mean line intensity).  Le Bail (1988): the intensities are not refined
but apportioned from the observed counts by the current profiles
(``ProfileModel.partition``) between least-squares cycles on the other
parameters.

Parameters are released in stages, as done by hand in GSAS-II or TOPAS:
background (and intensities), then cell and zero shift, then the profile
(U, V, W, X, Y), then asymmetry and sample displacement.  Before them, Le Bail
cycles with widened peaks (``coarse_stages``) bring a cell that is a
percent off onto its lines: a narrow peak a few FWHM from its line gives no
gradient toward it, a wide one does.  Each coarse stage fits only the
pattern up to its n-th line, where a cell error shifts the lines least (the
shift grows as tan θ) and fewest lines overlap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from powdex.optim import Objective
from powdex.optim.least_squares import LeastSquares
from powdex.refinement.profile import DISPLACEMENT, HL, SL, ZERO, ProfileModel, U, V, W, X, Y

logger = logging.getLogger(__name__)

Method = Literal["pawley", "lebail"]
# Least-squares iterations per Le Bail cycle: the intensities change after each, so
# converging one cycle fully is wasted work.
LEBAIL_ITERATIONS = 4
# Relative χ² change between Le Bail cycles at which they stop.
LEBAIL_TOLERANCE = 1e-4
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
STAGES: tuple[tuple[str, ...], ...] = (
    ("background", "intensities"),
    ("background", "intensities", "cell", "zero"),
    ("background", "intensities", "cell", "zero", "profile", "sample_broadening"),
    ("background", "intensities", "cell", "zero", "profile", "sample_broadening", "asymmetry", "displacement"),
)


def group_indices(model: ProfileModel, group: str) -> np.ndarray:
    ranges = {
        "background": np.arange(model.background_slice.start, model.background_slice.stop),
        "intensities": np.arange(model.intensity_slice.start, model.intensity_slice.stop),
        "cell": np.arange(model.cell_slice.start, model.cell_slice.stop),
        "zero": np.array([ZERO]), "displacement": np.array([DISPLACEMENT]),
        "profile": np.array([U, V, W, X, Y]), "asymmetry": np.array([SL, HL]),
        "sample_broadening": np.array([X, Y]),
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


@dataclass
class FitState:
    """Where a fit stands: the full parameter vector, which parameters the last
    stage refined, and what the minimizer said."""

    parameters: np.ndarray
    free: np.ndarray
    chi2: float
    converged: bool
    message: str


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

    def _lebail(self, model: ProfileModel, p: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, str, bool]:
        previous = self.chi2(model, p)
        for cycle in range(self.lebail_cycles):
            p = p.copy()
            p[model.intensity_slice] = model.partition(p, self._data(model)[0])
            if free.size:
                p, _, _ = self._least_squares(model, p, free, None, max_iter=LEBAIL_ITERATIONS)
            current = self.chi2(model, p)
            if abs(previous - current) <= LEBAIL_TOLERANCE * current:
                return p, f"Le Bail cycles converged after {cycle + 1} (χ² changed by less than {LEBAIL_TOLERANCE:g})", True
            previous = current
        return p, f"Le Bail: χ² still changing after {self.lebail_cycles} cycles", False

    def run(self, p: np.ndarray, staged: bool = True, coarse: bool = True) -> FitState:
        """Fit from ``p``; without ``coarse``, no coarse stages; without ``staged``,
        only the last stage (every group at once), for a start that is already
        close: a neighbour's refinement."""
        p = np.clip(p, self.lower, self.upper)
        message, success = "", True
        if staged:
            # Starting intensities (and background) for both methods: Le Bail partitions.
            p, message, success = self._lebail(self.model, p, self._free(("background",), lebail=True))
        coarse_free = self._free(("background", "cell", "zero"), lebail=True)
        for factor, lines in self.coarse_stages if staged and coarse else ():
            coarse = self.model.coarsened(factor, COARSE_ASYMMETRY_ORDER, COARSE_WINDOW_FWHM).up_to_line(p, lines)
            p, message, success = self._lebail(coarse, p, coarse_free)
            logger.debug("coarse stage, peaks %g times wider, %d points: chi2 %.6g", factor, coarse.two_theta.size,
                         self.chi2(self.model, p))
        free = np.empty(0, int)
        stages = [self._free(stage, lebail=self.method == "lebail") for stage in STAGES]
        # A stage whose groups are all held adds nothing.
        stages = [f for k, f in enumerate(stages) if k == 0 or not np.array_equal(f, stages[k - 1])]
        if not staged:
            stages = stages[-1:]
        for number, free in enumerate(stages):
            last = number == len(stages) - 1
            if self.method == "lebail":
                p, message, success = self._lebail(self.model, p, free)
            else:
                scale = np.mean(np.abs(p[self.model.intensity_slice])) or 1.0
                p, message, success = self._least_squares(self.model, p, free,
                                                          (self.pawley_penalty / scale, PENALTY_WIDTH * scale),
                                                          max_iter=None if last else STAGE_ITERATIONS)
            logger.debug("stage %d: %d parameters, chi2 %.6g (%s)", number + 1, free.size, self.chi2(self.model, p),
                         message)
        if self.method == "lebail":
            p = p.copy()
            p[self.model.intensity_slice] = self.model.partition(p, self.observed)
        return FitState(p, self.covered(self.model, p, free), self.chi2(self.model, p), success, message)

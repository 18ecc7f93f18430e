"""Candidate cells: least-squares polish against all peaks, figures of merit and the ranking score.

The ranking score is the log of the Bayesian evidence of the peak list under a
simple generative model of a powder pattern, the piece of powdex that decides
between a true cell and its sub-cells, super-cells and lower-symmetry
descriptions:

* the cell predicts reflections; reflections closer than the resolution form
  one *line*, observed at the mean of their positions (with unknown
  intensities that is the expected position, and a distortion that splits a
  line below the resolution gains nothing by letting each peak pick the
  nearer component);
* every observed peak is either one of the lines, off by Gaussian noise of
  unknown standard deviation σ (probability 1 − π), or an impurity line
  anywhere in the observed range (probability π);
* every resolvable line the cell predicts in the observed range is seen with
  probability p_obs and missed (weak, absent) with 1 − p_obs;
* the cell parameters, the zero shift and σ are integrated out rather than
  fitted: flat priors on the logarithms of the diagonal reciprocal
  coefficients (cell edges over ``cell_length_range``), on the cosines of the
  reciprocal angles, on the zero shift, and Jeffreys' 1/σ prior on σ over
  ``error_range``. The integral over the parameters is Laplace's (exact for
  this linear model); the one over σ is an incomplete gamma function.

The evidence is what separates the hard cases. A super-cell explains the same
lines but predicts many that are not there, and pays ln(1 − p_obs) for each; a
sub-cell leaves real lines unexplained, which cost ln(π / span) instead of a
line's likelihood; a lower-symmetry description of the same lattice, or one
that bends the lattice to reach an impurity line, pays the Occam factor of its
extra parameters, ln(prior width / posterior width), about ten nats for a
parameter that 20 lines pin to 10⁻⁴; and because σ is integrated out, a
description whose residuals are twice as large loses about ν ln 2 (ν the
degrees of freedom) instead of the little a fixed σ would charge. M_N alone
cannot do any of this: it rises for a sub-cell that drops a line or two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from powdex.crystal import (
    BravaisLattice,
    Cell,
    LatticeSignature,
    lattice_signature,
    niggli_reduce,
    reference_miller_indices,
    standard_setting,
)
from powdex.crystal.miller import MAX_INDEX
from powdex.indexing.extinction import ExtinctionClass
from powdex.indexing.figures_of_merit import FiguresOfMerit, figures_of_merit
from powdex.indexing.observations import Observations
from powdex.peaks import q2_to_two_theta, two_theta_to_q2


@dataclass(frozen=True)
class ScoringModel:
    """Parameters of the ranking evidence (see the module docstring)."""

    two_theta_error: float = 0.02  # ° 2θ: the error that decides whether a peak is a line or an impurity
    impurity_fraction: float = 0.05
    detection_probability: float = 0.7
    resolution: float = 0.06  # ° 2θ: reflections closer than this form one line
    n_figure_of_merit: int = 20
    cell_length_range: tuple[float, float] = (2.0, 50.0)  # Å, the range of the log-uniform prior on cell edges
    # Å: no lattice vector may be shorter (hcp hydrogen at 245 GPa has a = 1.70 Å, so nothing above that).
    min_length: float = 1.5
    # Å: lattice vectors shorter than this are rare at ambient pressure (hcp Be, a = 2.29 Å, is about the
    # shortest): each costs ((short_length − length) / short_width)² nats of prior.
    short_length: float = 2.3
    short_width: float = 0.12
    cosine_range: float = 1.0  # width of the uniform prior on the cosine of a free reciprocal angle
    zero_shift_range: float = 0.2  # ° 2θ, width of the uniform prior on the zero shift
    zero_shift_window: float = 0.25  # ° 2θ: zero shifts beyond ± this are not searched
    error_range: tuple[float, float] = (0.001, 0.2)  # ° 2θ, Jeffreys prior on σ
    # ° 2θ: the polish first gathers the peaks within the window of this error (None: two_theta_error), then
    # narrows to two_theta_error's: a trial cell from SVD-Index is rarely within sharp lines' error of its optimum.
    capture_error: float | None = None

    def for_peak_widths(self, obs: Observations) -> ScoringModel:
        """This model for peaks whose widths were measured (``Observations.fwhm``): lines sharper than the
        defaults assume (synchrotron data, 0.005–0.02° wide against a laboratory's 0.05–0.15°) are resolved at
        ``RESOLUTION_PER_FWHM`` and placed to ``ERROR_PER_FWHM`` of their median width. With the defaults'
        0.06° resolution a dense synchrotron pattern's reflections merge into lines that every pseudo-symmetric
        description explains as well as the true cell (jadarite at λ = 0.41 Å: true cell M20 9, a
        pseudo-orthorhombic oC cell 7); at its own widths (0.009°) the true cell reaches M20 260 and the oC
        description leaves lines. Broad lines keep the defaults."""
        if obs.fwhm is None or obs.fwhm.size == 0:
            return self
        width = float(np.median(obs.fwhm))
        if not width > 0 or ERROR_PER_FWHM * width >= self.two_theta_error:
            return self
        return replace(self, resolution=min(self.resolution, RESOLUTION_PER_FWHM * width),
                       two_theta_error=ERROR_PER_FWHM * width, capture_error=self.two_theta_error)


# Two reflections closer than this many times the median peak width form one line (``for_peak_widths``).
RESOLUTION_PER_FWHM = 1.5
# The position error of a measured peak, as a fraction of the median peak width (``for_peak_widths``).
ERROR_PER_FWHM = 0.5


# The best extinction classes a candidate's JSON lists (an oP cell has 71).
SPACE_GROUP_CLASSES_REPORTED = 5


@dataclass(frozen=True)
class Candidate:
    """An indexing solution: a conventional cell (hR in hexagonal axes) and its Miller indices."""

    bravais: BravaisLattice
    cell: Cell
    zero_shift: float
    hkl: np.ndarray
    indexed: np.ndarray
    two_theta_calc: np.ndarray
    figures: FiguresOfMerit
    score: float
    n_lines_predicted: int
    # Extinction classes ranked by the indexed lines (see powdex.indexing.extinction); set for reported candidates.
    space_groups: tuple[ExtinctionClass, ...] = ()
    # Why the score was lowered beyond the fit (a lattice vector under ``ScoringModel.short_length``).
    penalties: tuple[str, ...] = ()

    @cached_property
    def lattice_signature(self) -> LatticeSignature:
        return lattice_signature(self.cell, self.bravais.centring)

    @property
    def n_indexed(self) -> int:
        return int(self.indexed.sum())

    @classmethod
    def from_dict(cls, data: dict) -> Candidate:
        """The inverse of ``to_dict`` (only the reported extinction classes come back)."""
        lines = data["miller_indices"]
        return cls(
            bravais=BravaisLattice(data["bravais"]),
            cell=Cell(*(float(data[k]) for k in ("a", "b", "c", "alpha", "beta", "gamma"))),
            zero_shift=float(data["zero_shift"]),
            hkl=np.array([line["hkl"] for line in lines], dtype=int).reshape(-1, 3),
            indexed=np.array([line["indexed"] for line in lines], dtype=bool),
            two_theta_calc=np.array([line["two_theta_calc"] for line in lines], dtype=float),
            figures=FiguresOfMerit.from_dict(data["figures_of_merit"]),
            score=float(data["score"]),
            n_lines_predicted=int(data["n_lines_predicted"]),
            space_groups=tuple(ExtinctionClass.from_dict(g) for g in data.get("space_groups", [])),
            penalties=tuple(data.get("penalties", [])),
        )

    def to_dict(self) -> dict:
        c = self.cell
        return {
            "bravais": self.bravais.value,
            "lattice_system": self.bravais.lattice_system.value,
            "a": c.a,
            "b": c.b,
            "c": c.c,
            "alpha": c.alpha,
            "beta": c.beta,
            "gamma": c.gamma,
            "volume": c.volume,
            "zero_shift": self.zero_shift,
            "score": self.score,
            "figures_of_merit": self.figures.as_dict(),
            "n_indexed": self.n_indexed,
            "n_lines_predicted": self.n_lines_predicted,
            "n_peaks": len(self.indexed),
            "space_groups": [group.to_dict() for group in self.space_groups[:SPACE_GROUP_CLASSES_REPORTED]],
            "penalties": list(self.penalties),
            # What a referee checks: the Niggli-reduced cell next to the conventional one, and the lines left out.
            "reduced_cell": niggli_reduce(c, self.bravais.centring).cell.parameters.tolist(),
            "unindexed_peaks": [int(i) for i in np.flatnonzero(~self.indexed)],
            "miller_indices": [
                {"hkl": [int(v) for v in h], "indexed": bool(ok), "two_theta_calc": float(t)}
                for h, ok, t in zip(self.hkl, self.indexed, self.two_theta_calc)
            ],
        }


@dataclass(frozen=True)
class _Lines:
    """The resolvable lines of a cell up to just past the last peak, in ascending 2θ."""

    q2: np.ndarray
    two_theta: np.ndarray
    design: np.ndarray  # (lines, free parameters): q² of a line = design @ x, the mean of its reflections
    first_reflection: np.ndarray  # index into the reference set of each line's first reflection

    def __len__(self) -> int:
        return len(self.q2)


class CandidateEvaluator:
    """Polishes trial solutions of one Bravais lattice and scores them against the observations."""

    def __init__(self, bravais: BravaisLattice, obs: Observations, model: ScoringModel, zero_shift: bool,
                 max_index: int = MAX_INDEX, max_unindexed: int | None = None):
        """``max_index``: the largest |h|, |k|, |l| of the reflections considered; cells whose edges reach
        further within the observed range (edge × q of the last line) lose lines. ``max_unindexed``: a polished
        cell that leaves more of the figure-of-merit lines unexplained is not scored (None; most polished
        trials of a wrong lattice system leave several, and scoring is most of a polish's time)."""
        self.bravais = bravais
        self.max_unindexed = max_unindexed
        self.obs = obs
        self.model = model
        self.refine_zero = zero_shift
        self.hkl = reference_miller_indices(bravais, max_index)
        self.design = bravais.axes.design_matrix(self.hkl)
        span = obs.two_theta[-1] + model.resolution
        self.tt_limit = span
        # Reflections past this q² lie beyond tt_limit + 1°: left out before their 2θ is computed.
        self.q2_limit = float(two_theta_to_q2(min(span + 1.0, 179.999), obs.wavelength))
        self.log_impurity = np.log(model.impurity_fraction / span)
        # A peak is a line when the noise model at σ = two_theta_error beats the impurity model.
        self.match_window = self._window(model.two_theta_error)
        capture = self._window(model.capture_error) if model.capture_error is not None else self.match_window
        self.polish_windows = (capture, self.match_window) if capture > self.match_window else (self.match_window,)
        self.prior_widths, self.prior_kinds = _prior_coordinates(bravais.axes.coefficient_map, model)
        # Polished cells refused for a lattice vector under ``model.min_length`` (the search reports them).
        self.rejected_short = 0
        # Polish results by first assignment, and scores by polished parameters (``evaluate``).
        self._evaluated: dict[tuple, Candidate | None] = {}
        self._scored: dict[tuple, Candidate | None] = {}
        if zero_shift:
            self.prior_widths = np.append(self.prior_widths, model.zero_shift_range)

    def _window(self, error: float) -> float:
        """° 2θ: the largest |residual| at which a peak is likelier a line, off by Gaussian noise of σ = ``error``,
        than an impurity line."""
        log_peak = np.log((1 - self.model.impurity_fraction) / (error * np.sqrt(2 * np.pi)))
        return float(error * np.sqrt(max(2 * (log_peak - self.log_impurity), 0.0)))

    def _lines(self, x: np.ndarray) -> _Lines:
        q2 = self.design @ x
        keep = np.flatnonzero((q2 >= 0) & (q2 <= self.q2_limit))
        # 2θ rises with q²: sorting by q² orders the lines.
        keep = keep[np.argsort(q2[keep], kind="stable")]
        tt_sorted = q2_to_two_theta(q2[keep], self.obs.wavelength)
        # Reflections closer than the resolution to the one before are one line: lines are runs of the sorted list.
        starts = np.flatnonzero(np.r_[True, np.diff(tt_sorted) > self.model.resolution]) if len(keep) else keep
        counts = np.diff(np.r_[starts, len(keep)])
        design = (np.add.reduceat(self.design[keep], starts, axis=0) / counts[:, None] if len(keep)
                  else np.zeros((0, self.design.shape[1])))
        line_q2 = design @ x
        return _Lines(line_q2, q2_to_two_theta(line_q2, self.obs.wavelength), design, keep[starts])

    def line_two_theta(self, cand: Candidate) -> np.ndarray:
        """2θ of the resolvable lines of ``cand`` (a candidate of this lattice), its zero shift added, ascending, up
        to just past the last peak: the positions its peaks are matched to."""
        return self._lines(self.bravais.axes.free_reciprocal_parameters(cand.cell)).two_theta + cand.zero_shift

    @staticmethod
    def _assign(tt_calc: np.ndarray, tt_true: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(tt_calc, tt_true), 1, len(tt_calc) - 1)
        left_closer = np.abs(tt_true - tt_calc[pos - 1]) <= np.abs(tt_calc[pos] - tt_true)
        return np.where(left_closer, pos - 1, pos)

    def _weighted_design(self, lines: _Lines, rows: np.ndarray, matched: np.ndarray) -> np.ndarray:
        """d(2θ_calc + zero)/d(x, zero) of the matched peaks: the linearised model in ° 2θ, each row times
        its peak's weight (``Observations.weight``)."""
        a = lines.design[rows] / self.obs.dq2_dtt[matched][:, None]
        a = np.column_stack([a, np.ones(len(a))]) if self.refine_zero else a
        return a * self.obs.weight[matched][:, None]

    def _assignment(self, x: np.ndarray, zero: float, window: float) -> tuple[_Lines, np.ndarray, np.ndarray] | None:
        """The lines of ``x``, the nearest line of each peak and which peaks lie within ``window`` of theirs; None
        where too few lines or matched peaks are left to fit the free parameters and zero shift."""
        obs = self.obs
        lines = self._lines(x)
        if len(lines) < 2:
            return None
        nearest = self._assign(lines.two_theta, obs.two_theta - zero)
        matched = np.abs(obs.two_theta - zero - lines.two_theta[nearest]) * obs.weight <= window
        if matched.sum() < len(x) + int(self.refine_zero) + 1:
            return None
        return lines, nearest, matched

    def evaluate(self, x: np.ndarray, zero: float = 0.0, iterations: int = 6) -> Candidate | None:
        """The polished and scored candidate from free parameters ``x`` and zero shift ``zero``; None where the
        polish fails, or leaves more than ``max_unindexed`` lines.

        The polish from ``x`` is a function of its first assignment alone (the matched peaks and the design rows
        of their lines fix the first least-squares step, and the steps after follow from it): trials that start
        from the same assignment, as the trials of a lattice that converged to one cell do stage after stage
        (on ``benchmarks/index_bravais.py`` four of five polishes), share one result, computed once."""
        first = self._assignment(x, zero, self.polish_windows[0])
        if first is None:
            return None
        lines, nearest, matched = first
        key = (zero, iterations, matched.tobytes(), lines.design[nearest[matched]].tobytes())
        if key not in self._evaluated:
            self._evaluated[key] = self._polish(x, zero, iterations)
        return self._evaluated[key]

    def _polish(self, x: np.ndarray, zero: float, iterations: int) -> Candidate | None:
        obs = self.obs
        for window in self.polish_windows:
            for _ in range(iterations):
                assignment = self._assignment(x, zero, window)
                if assignment is None:
                    return None
                lines, nearest, matched = assignment
                a = self._weighted_design(lines, nearest[matched], matched)
                target = obs.q2[matched] / obs.dq2_dtt[matched] * obs.weight[matched]
                solution, *_ = np.linalg.lstsq(a, target, rcond=None)
                new_x = solution[: len(x)]
                new_zero = float(solution[-1]) if self.refine_zero else 0.0
                if not _is_lattice(self.bravais.axes.coefficients(new_x)):
                    return None
                converged = bool(np.all(np.abs(new_x - x) <= 1e-10 * np.abs(x))) and abs(new_zero - zero) < 1e-8
                x, zero = new_x, new_zero
                if converged:
                    break
        if abs(zero) > self.model.zero_shift_window:
            return None  # outside the zero-shift window searched
        # Polishes from different first assignments (a line merged or a peak matched in one and not the other)
        # mostly end in the same last least-squares step, so on the same parameters to the bit: scored once.
        key = (x.tobytes(), zero)
        if key not in self._scored:
            self._scored[key] = self._score(x, zero)
        return self._scored[key]

    def _log_prior_volume(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """ln of the prior volume in (x, zero) and the diagonal of d(prior coordinates)/d(x, zero)."""
        coefficients = self.bravais.axes.coefficients(x)
        jacobian = np.ones(len(self.prior_widths))
        for i, (kind, p, q, j) in enumerate(self.prior_kinds):
            if kind == "log":
                jacobian[i] = 1.0 / abs(x[i])  # u = ln x
            else:
                jacobian[i] = abs(self.bravais.axes.coefficient_map[i, j]) / (
                    2.0 * np.sqrt(coefficients[p] * coefficients[q])
                )  # u = cos of the reciprocal angle
        return float(np.sum(np.log(self.prior_widths)) - np.sum(np.log(jacobian))), jacobian

    def _log_evidence(self, a: np.ndarray, rss: float, x: np.ndarray) -> float:
        """ln ∫∫ N(peaks | x, zero, σ) p(x, zero) p(σ) over the matched peaks (module docstring)."""
        lo, hi = self.model.error_range
        m, k = a.shape
        nu = m - k
        rss = max(rss, 1e-6 * nu * lo**2)  # a perfect fit: the integral saturates at σ = lo
        log_volume, jacobian = self._log_prior_volume(x)
        # The prior's precision keeps the Laplace integral finite for a parameter the
        # matched peaks do not constrain (it then costs nothing, as it should).
        prior_precision = np.diag(12.0 * (jacobian / self.prior_widths) ** 2) * (rss / nu)
        _, log_det = np.linalg.slogdet(a.T @ a + prior_precision)
        shape = nu / 2
        mass = regularized_lower_gamma(shape, rss / (2 * lo**2)) - regularized_lower_gamma(shape, rss / (2 * hi**2))
        return float(
            math.lgamma(shape) + np.log(max(mass, 1e-300)) - np.log(2 * np.log(hi / lo))
            - shape * np.log(np.pi * rss) - 0.5 * log_det - log_volume
        )

    def _score(self, x: np.ndarray, zero: float) -> Candidate | None:
        obs, model = self.obs, self.model
        try:
            cell = self.bravais.axes.cell(x)
        except ValueError:
            return None
        # A cell with a very short vector puts its reflections with that index non-zero past the pattern and
        # indexes every line in one zone (silicon as oC with c = 0.96 Å): below ``min_length`` no crystal
        # repeats, and short vectors above it pay the prior of ``short_vector_penalty``. The Niggli cell's
        # a, b, c are the shortest lattice vectors; checked first, so that the shortest-vector search of the
        # lattice signature never meets a degenerate trial cell.
        shortest = niggli_reduce(cell, self.bravais.centring).cell.parameters[:3]
        if shortest.min() < model.min_length:
            self.rejected_short += 1
            return None
        penalty, penalties = short_vector_penalty(shortest, model)
        lines = self._lines(x)
        if len(lines) < 2:
            return None
        tt_true = obs.two_theta - zero
        nearest = self._assign(lines.two_theta, tt_true)
        resid = (tt_true - lines.two_theta[nearest]) * obs.weight
        matched = np.abs(resid) <= self.match_window
        n_fom = min(model.n_figure_of_merit, obs.n)
        if self.max_unindexed is not None and n_fom - int(matched[:n_fom].sum()) > self.max_unindexed:
            return None
        n_matched = int(matched.sum())
        a = self._weighted_design(lines, nearest[matched], matched)
        if n_matched <= a.shape[1]:
            return None
        observed_term = (
            n_matched * np.log(1 - model.impurity_fraction)
            + (obs.n - n_matched) * self.log_impurity
            + self._log_evidence(a, float(np.sum(resid[matched] ** 2)), x)
        )
        # Resolvable predicted lines in the observed range, seen when they explain a peak.
        n_lines = int(np.count_nonzero(lines.two_theta <= obs.two_theta[-1] + model.resolution))
        n_seen = len(np.unique(nearest[matched & (nearest < n_lines)]))
        p = model.detection_probability
        predicted_term = n_seen * np.log(p) + (n_lines - n_seen) * np.log(1 - p)
        score = float(observed_term + predicted_term) - penalty

        q2_all = self.design @ x
        figures = figures_of_merit(
            obs.q2 - zero * obs.dq2_dtt,
            lines.q2[nearest],
            tt_true,
            lines.two_theta[nearest],
            matched,
            # Only lines up to the N-th peak count (q2_limit lies past the last peak).
            np.unique(np.round(q2_all[(q2_all > 0) & (q2_all <= self.q2_limit)], 12)),
            model.n_figure_of_merit,
        )
        try:
            cell, to_standard = standard_setting(self.bravais, cell)
        except ValueError:
            return None  # metrically of higher symmetry: that lattice's own search describes it
        return Candidate(
            bravais=self.bravais,
            cell=cell,
            zero_shift=zero,
            hkl=np.rint(self.hkl[lines.first_reflection[nearest]] @ to_standard.T).astype(int),
            indexed=matched,
            two_theta_calc=lines.two_theta[nearest] + zero,
            figures=figures,
            score=score,
            n_lines_predicted=n_lines,
            penalties=penalties,
        )


def _is_lattice(coefficients: np.ndarray) -> bool:
    """Whether reciprocal coefficients (hh, kk, ll, hk, hl, kl) describe a lattice: a finite, positive-definite
    reciprocal metric (Sylvester's criterion in plain floats: the polish asks once per iteration, and numpy's
    per-call overhead on one 3 × 3 matrix is most of a polish's time)."""
    a, b, c, d, e, f = (float(v) for v in coefficients)
    d, e, f = d / 2, e / 2, f / 2
    minor2 = a * b - d * d
    det = a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)
    return bool(math.isfinite(det) and a > 0 and minor2 > 0 and det > 0)


def short_vector_penalty(lengths: np.ndarray, model: ScoringModel) -> tuple[float, tuple[str, ...]]:
    """Nats of prior that the shortest lattice vectors ``lengths`` (Å) cost, and a reason for each that pays.

    Lattice vectors under about 2.3 Å are very rare in crystals at ambient pressure, yet a sub-cell with one
    indexes the same lines as the true cell whenever the reflections it adds lie past the pattern: a soft
    Gaussian prior below ``short_length`` lets the true cell win such ties without forbidding the short axes
    of high-pressure phases."""
    short = np.sort(lengths[lengths < model.short_length])
    costs = ((model.short_length - short) / model.short_width) ** 2
    # Equal short vectors (a = b of a hexagonal cell) are said once, with their count.
    shown, counts = np.unique(np.round(short, 3), return_counts=True)
    reasons = tuple(
        f"{count} lattice vector{'s' if count > 1 else ''} of {length:.3f} Å (under {model.short_length:g} Å, rare "
        f"at ambient pressure) lower the ranking score by {count * cost:.1f}"
        for length, count, cost in zip(shown, counts, ((model.short_length - shown) / model.short_width) ** 2)
    )
    return float(costs.sum()), reasons


def _prior_coordinates(coefficient_map: np.ndarray, model: ScoringModel):
    """Prior width and kind of each free reciprocal parameter.

    A parameter that sets a diagonal coefficient (1/d² of an axis) gets a flat
    prior on its logarithm, over the range the cell lengths allow; one that
    sets only a mixed coefficient (hk, hl or kl) gets a flat prior on the
    cosine of that reciprocal angle, c_hk / (2√(c_hh c_kk)). Kinds are
    ("log", -, -, -) or ("cos", p, q, j): the diagonal coefficients p, q and
    the mixed coefficient j that the cosine is made of.
    """
    lo, hi = model.cell_length_range
    pairs = {3: (0, 1), 4: (0, 2), 5: (1, 2)}
    widths, kinds = [], []
    for row in coefficient_map:
        if np.any(row[:3] != 0):
            widths.append(2 * np.log(hi / lo))
            kinds.append(("log", -1, -1, -1))
        else:
            j = int(np.flatnonzero(row[3:])[0]) + 3
            widths.append(model.cosine_range)
            kinds.append(("cos", *pairs[j], j))
    return np.array(widths), kinds


def regularized_lower_gamma(a: float, x: float) -> float:
    """P(a, x) = γ(a, x) / Γ(a) for a > 0, x ≥ 0 (scipy's ``gammainc``, whose import costs half a second of a
    one-pattern run): the power series below x = a + 1, Legendre's continued fraction for 1 − P above
    (evaluated by Lentz's method), both to double precision."""
    if x <= 0:
        return 0.0
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10_000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return min(1.0, total * math.exp(log_prefactor))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    fraction = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        fraction *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_prefactor) * fraction)

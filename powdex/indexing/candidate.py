"""Candidate cells: least-squares polish against all peaks, figures of merit and the ranking score.

The ranking score is a log-likelihood of the peak list under a simple
generative model of a powder pattern, the piece of powdex that decides between
a true cell and its sub-cells, super-cells and lower-symmetry descriptions:

* every observed line is either a reflection of the cell, off by Gaussian noise
  of standard deviation σ in 2θ (probability 1 − π), or an impurity line
  anywhere in the observed range (probability π);
* every resolvable line the cell predicts in the observed range is seen with
  probability p_obs and missed (weak, absent) with 1 − p_obs;
* each free parameter costs ½ ln n (the Bayesian information criterion).

A super-cell explains the same lines but predicts many that are not there, so
it pays ln(1 − p_obs) for each; a sub-cell predicts fewer lines but leaves real
ones unexplained, which cost ln(π / span) instead of ln((1 − π) N(r; σ)); a
lower-symmetry description of the same lattice predicts the same resolvable
lines (coincident reflections are merged) and pays for its extra parameters.
M_N alone cannot do this: it rises for a sub-cell that drops a line or two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from powdex.crystal import (
    BravaisLattice,
    Cell,
    LatticeSignature,
    lattice_signature,
    reference_miller_indices,
    standard_setting,
)
from powdex.indexing.figures_of_merit import FiguresOfMerit, figures_of_merit
from powdex.indexing.observations import Observations
from powdex.peaks import q2_to_two_theta


@dataclass(frozen=True)
class ScoringModel:
    """Parameters of the ranking likelihood (see the module docstring)."""

    two_theta_error: float = 0.02
    impurity_fraction: float = 0.05
    detection_probability: float = 0.7
    resolution: float = 0.06
    n_figure_of_merit: int = 20


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

    @cached_property
    def lattice_signature(self) -> LatticeSignature:
        return lattice_signature(self.cell, self.bravais.centring)

    @property
    def n_indexed(self) -> int:
        return int(self.indexed.sum())

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
            "miller_indices": [
                {"hkl": [int(v) for v in h], "indexed": bool(ok), "two_theta_calc": float(t)}
                for h, ok, t in zip(self.hkl, self.indexed, self.two_theta_calc)
            ],
        }


class CandidateEvaluator:
    """Polishes trial solutions of one Bravais lattice and scores them against the observations."""

    def __init__(self, bravais: BravaisLattice, obs: Observations, model: ScoringModel, zero_shift: bool):
        self.bravais = bravais
        self.obs = obs
        self.model = model
        self.refine_zero = zero_shift
        self.hkl = reference_miller_indices(bravais)
        self.design = bravais.axes.design_matrix(self.hkl)
        span = obs.two_theta[-1] + model.resolution
        self.tt_limit = span
        self.log_impurity = np.log(model.impurity_fraction / span)
        # A line is explained when the noise model beats the impurity model.
        log_peak = np.log((1 - model.impurity_fraction) / (model.two_theta_error * np.sqrt(2 * np.pi)))
        self.match_window = model.two_theta_error * np.sqrt(max(2 * (log_peak - self.log_impurity), 0.0))
        self.log_peak = log_peak

    def _calculated(self, x: np.ndarray):
        q2 = self.design @ x
        tt = q2_to_two_theta(q2, self.obs.wavelength)
        keep = np.isfinite(tt) & (tt <= self.tt_limit + 1.0)
        order = np.argsort(tt[keep])
        return q2[keep][order], tt[keep][order], np.flatnonzero(keep)[order]

    def _assign(self, tt_calc: np.ndarray, tt_true: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(tt_calc, tt_true), 1, len(tt_calc) - 1)
        left_closer = np.abs(tt_true - tt_calc[pos - 1]) <= np.abs(tt_calc[pos] - tt_true)
        return np.where(left_closer, pos - 1, pos)

    def evaluate(self, x: np.ndarray, zero: float = 0.0, iterations: int = 6) -> Candidate | None:
        obs = self.obs
        n_par = len(x) + int(self.refine_zero)
        for _ in range(iterations):
            q2c, ttc, ref_index = self._calculated(x)
            if len(ttc) < 2:
                return None
            nearest = self._assign(ttc, obs.two_theta - zero)
            resid = obs.two_theta - zero - ttc[nearest]
            matched = np.abs(resid) <= self.match_window
            if matched.sum() < n_par + 1:
                return None
            rows = self.design[ref_index[nearest[matched]]]
            weight = 1.0 / obs.dq2_dtt[matched]  # residuals in q² scaled to 2θ degrees
            a = rows * weight[:, None]
            if self.refine_zero:
                a = np.column_stack([a, obs.dq2_dtt[matched] * weight])
            solution, *_ = np.linalg.lstsq(a, obs.q2[matched] * weight, rcond=None)
            new_x = solution[: len(x)]
            new_zero = float(solution[-1]) if self.refine_zero else 0.0
            if not np.all(np.isfinite(self.bravais.axes.lattice_parameters(new_x))):
                return None
            converged = np.allclose(new_x, x, rtol=1e-10, atol=0) and abs(new_zero - zero) < 1e-8
            x, zero = new_x, new_zero
            if converged:
                break
        return self._score(x, zero)

    def _score(self, x: np.ndarray, zero: float) -> Candidate | None:
        obs, model = self.obs, self.model
        try:
            cell = self.bravais.axes.cell(x)
        except ValueError:
            return None
        q2c, ttc, ref_index = self._calculated(x)
        if len(ttc) < 2:
            return None
        tt_true = obs.two_theta - zero
        nearest = self._assign(ttc, tt_true)
        resid = tt_true - ttc[nearest]
        log_line = self.log_peak - 0.5 * (resid / model.two_theta_error) ** 2
        matched = log_line > self.log_impurity
        observed_term = np.where(matched, log_line, self.log_impurity).sum()

        # Resolvable predicted lines in the observed range: reflections closer than
        # the resolution form one line, seen when any of them explains a peak.
        in_range = ttc <= obs.two_theta[-1] + model.resolution
        tt_range = ttc[in_range]
        line_id = np.concatenate([[0], np.cumsum(np.diff(tt_range) > model.resolution)])
        n_lines = int(line_id[-1]) + 1 if len(line_id) else 0
        seen = np.unique(line_id[nearest[matched & (nearest < len(tt_range))]])
        n_seen = len(seen)
        p = model.detection_probability
        predicted_term = n_seen * np.log(p) + (n_lines - n_seen) * np.log(1 - p)
        n_par = len(x) + int(self.refine_zero)
        score = float(observed_term + predicted_term - 0.5 * n_par * np.log(obs.n))

        q2_all = self.design @ x
        figures = figures_of_merit(
            obs.q2 - zero * obs.dq2_dtt,
            q2c[nearest],
            tt_true,
            ttc[nearest],
            matched,
            np.unique(np.round(q2_all[q2_all > 0], 12)),
            model.n_figure_of_merit,
        )
        cell, to_standard = standard_setting(self.bravais, cell)
        return Candidate(
            bravais=self.bravais,
            cell=cell,
            zero_shift=zero,
            hkl=np.rint(self.hkl[ref_index[nearest]] @ to_standard.T).astype(int),
            indexed=matched,
            two_theta_calc=ttc[nearest] + zero,
            figures=figures,
            score=score,
            n_lines_predicted=n_lines,
        )

"""Parametric Rietveld refinement of a whole series at once (Stinton & Evans 2007,
J. Appl. Cryst. 40, 87).

Every pattern's free reciprocal cell parameters are one polynomial of degree
``degree`` in the series variable (temperature, time, or the position), per
stretch between breakpoints; every other parameter the plan frees (scale,
background, zero, profile, ...) stays each pattern's own.  All patterns'
weighted residuals form one least-squares problem, solved by the engine's
Levenberg–Marquardt minimizer (``powdex.optim.LeastSquares``) with a sparse
Jacobian: each pattern's block from its own Rietveld model, the cell columns
chained to the polynomial coefficients.  It starts from a sequential
refinement (``refine_series``), so the local parameters start converged.

Transitions are located by model comparison, not guessed: the Bayesian
information criterion BIC = χ² + k ln n (χ² the weighted sum of squares over
all n points, k the parameters refined) of the model with no breakpoint and of
each breakpoint among the ``candidates`` that a screen ranks first.  The screen
fits the same polynomials to the sequential cell lengths with their esds (cheap)
for every breakpoint that leaves ``min_stretch`` patterns on each side; the whole-
pattern fits then decide.  The lowest BIC wins.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from powdex.files import write_atomically
from powdex.instrument import monochromator_polarisation
from powdex.optim import Objective
from powdex.optim.least_squares import LeastSquares
from powdex.refinement.errors import RefinementError
from powdex.refinement.plan import RefinementPlan
from powdex.refinement.profile import k_beta_line
from powdex.refinement.rietveld import PhaseModel, RietveldModel, RietveldResult, default_bounds
from powdex.series.refinement import PatternData, RietveldFits, SeriesRefinementResult, fits_of

logger = logging.getLogger(__name__)


@dataclass
class ParametricModel:
    """One candidate: its breakpoints (index of the first pattern of each later stretch) and fit."""

    breakpoints: list[int]
    chi2: float
    parameters: int
    points: int
    converged: bool

    @property
    def bic(self) -> float:
        return self.chi2 + self.parameters * math.log(self.points)

    def to_dict(self) -> dict:
        return {"breakpoints": self.breakpoints, "chi2": self.chi2, "parameters": self.parameters,
                "points": self.points, "bic": self.bic, "converged": self.converged}


@dataclass
class ParametricResult:
    """The chosen model, every candidate compared, and per pattern the cell lengths and angles of each
    phase the chosen polynomials give (``cells[phase][k]``) at the series variable ``variable[k]``."""

    degree: int
    variable: list[float]
    chosen: ParametricModel
    candidates: list[ParametricModel]
    cells: dict[str, list[list[float]]] = field(default_factory=dict)
    coefficients: dict[str, list[list[list[float]]]] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        write_atomically(Path(path), json.dumps(self.to_dict(), indent=1))
        return Path(path)

    def to_dict(self) -> dict:
        return {"method": "parametric Rietveld (Stinton & Evans 2007)", "degree": self.degree,
                "variable": self.variable, "chosen": self.chosen.to_dict(),
                "candidates": [c.to_dict() for c in self.candidates], "cells": self.cells,
                "coefficients": self.coefficients}


class _SeriesResiduals:
    """Weighted residuals of every pattern for the global vector u = polynomial coefficients (per stretch,
    phase cell parameter and power) then each pattern's local parameters."""

    def __init__(self, models: list[RietveldModel], data: list[PatternData], base: list[np.ndarray],
                 local: list[np.ndarray], cells: list[np.ndarray], basis: np.ndarray, stretch: np.ndarray,
                 n_stretches: int):
        self.models, self.base, self.local, self.cells = models, base, local, cells
        self.observed = [d.arrays[1] for d in data]
        self.weight = [1.0 / d.arrays[2] for d in data]
        self.basis, self.stretch = basis, stretch  # basis (patterns, degree + 1): powers of the variable
        self.n_cell = cells[0].size
        self.n_global = n_stretches * self.n_cell * basis.shape[1]
        self.offsets = np.cumsum([self.n_global] + [idx.size for idx in local])

    def coefficients(self, u: np.ndarray) -> np.ndarray:
        return u[: self.n_global].reshape(-1, self.n_cell, self.basis.shape[1])

    def expand(self, u: np.ndarray, k: int) -> np.ndarray:
        p = self.base[k].copy()
        p[self.cells[k]] = self.coefficients(u)[self.stretch[k]] @ self.basis[k]
        p[self.local[k]] = u[self.offsets[k]: self.offsets[k + 1]]
        return p

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return np.concatenate([w * (y - m.evaluate(self.expand(u, k)))
                               for k, (m, y, w) in enumerate(zip(self.models, self.observed, self.weight))])

    def jacobian(self, u: np.ndarray) -> sp.csr_matrix:
        blocks = []
        powers = self.basis.shape[1]
        for k, model in enumerate(self.models):
            p = self.expand(u, k)
            columns = np.concatenate([self.cells[k], self.local[k]])
            block = -(model.jacobian(p, columns).toarray() * self.weight[k][:, None])
            cell_part, local_part = block[:, : self.n_cell], block[:, self.n_cell:]
            global_part = np.zeros((block.shape[0], self.n_global))
            first = self.stretch[k] * self.n_cell * powers
            for j in range(self.n_cell):
                global_part[:, first + j * powers: first + (j + 1) * powers] = np.outer(cell_part[:, j], self.basis[k])
            row = [sp.csr_matrix(global_part)]
            row += [sp.csr_matrix((block.shape[0], self.offsets[k] - self.n_global)), sp.csr_matrix(local_part),
                    sp.csr_matrix((block.shape[0], self.offsets[-1] - self.offsets[k + 1]))]
            blocks.append(sp.hstack(row))
        return sp.vstack(blocks).tocsr()


def series_variable(series: SeriesRefinementResult, patterns: list, order: str | Path) -> list[float] | None:
    """The series variable in series order: the metadata value the patterns were ordered by
    (temperature, time), or None (the position) when they were ordered by name or a list."""
    if str(order) == "name" or str(order).endswith(".csv"):
        return None
    value = {PatternData.of(p).name: float(p.metadata[order]) for p in patterns}
    return [value[entry.name] for entry in series.entries]


def _cell_parameters(model: RietveldModel) -> np.ndarray:
    return np.concatenate([np.arange(w["cell"].start, w["cell"].stop) for w in model.slices])


def parametric_refine(series: SeriesRefinementResult, patterns: list, plan: RefinementPlan, *,
                      variable: list[float] | None = None, degree: int = 2, candidates: int = 3,
                      min_stretch: int = 3, max_iter: int = 30) -> ParametricResult:
    """Fit the whole series at once from its sequential refinement ``series`` (of ``patterns`` with
    ``plan``), cell parameters polynomial in ``variable`` (default: the position), and choose between
    no breakpoint and the ``candidates`` best-screened single breakpoints by BIC (module docstring)."""
    fits = fits_of(plan)
    if not isinstance(fits, RietveldFits):
        raise RefinementError("a parametric fit refines CIF phases (Rietveld); this plan has a Pawley or Le Bail phase")
    if degree < 0:
        raise RefinementError(f"degree {degree}: a polynomial degree is 0 or more")
    by_name = {PatternData.of(p).name: PatternData.of(p) for p in patterns}
    missing = [e.name for e in series.entries if e.name not in by_name]
    if missing:
        raise RefinementError(f"{missing[0]}: in the series but not among the patterns given")
    data = [by_name[e.name] for e in series.entries]
    results = [e.result for e in series.entries]
    if not all(isinstance(r, RietveldResult) for r in results):
        raise RefinementError("a parametric fit starts from a Rietveld series")
    n = len(data)
    t = np.asarray(variable if variable is not None else range(n), float)
    if t.size != n:
        raise RefinementError(f"variable: {t.size} values for {n} patterns")
    span = t.max() - t.min()
    scaled = 2 * (t - t.min()) / span - 1 if span > 0 else np.zeros(n)
    basis = np.vander(scaled, degree + 1, increasing=True)

    models, base, local, cells = [], [], [], []
    for entry, d in zip(series.entries, data):
        result = entry.result
        assert isinstance(result, RietveldResult)
        values = {p.name: p.value for p in result.parameters}
        phases = [_at(phase, values) for phase in fits.phases]
        options = fits.options
        # The perpendicular-polarised fraction and Kβ line the sequential fits used (rietveld_refine).
        instrument = fits.instrument
        polarisation = (instrument.polarisation if instrument is not None
                        else monochromator_polarisation(options["monochromator_two_theta"]))
        radiation = options["radiation"] or d.radiation
        k_beta = k_beta_line(d.wavelengths[0], radiation, instrument.k_beta_ratio if instrument else None, d.source)
        pattern_models = [PhaseModel(phase, d.arrays[0], d.wavelengths, d.ratio, radiation,
                                     polarisation, options["background_terms"], k_beta)
                          for phase in phases]
        model = RietveldModel(pattern_models, d.arrays[0], options["background_terms"])
        p = np.array([values[name] for name in model.names])
        cell = _cell_parameters(model)
        refined = np.array([k for k, prm in enumerate(result.parameters)
                            if prm.refined and not prm.at_bound and k not in set(cell.tolist())], int)
        models.append(model)
        base.append(p)
        local.append(refined)
        cells.append(cell)
    x_sequential = np.array([b[c] for b, c in zip(base, cells)])
    screen = _screen(series, scaled, degree, min_stretch)
    tried: list[list[int]] = [[]] + [[b] for b in screen[:candidates]]
    compared: list[ParametricModel] = []
    fitted: dict[tuple[int, ...], tuple[_SeriesResiduals, np.ndarray]] = {}
    for breakpoints in tried:
        stretch = np.searchsorted(np.array(breakpoints, int), np.arange(n), side="right")
        n_stretches = len(breakpoints) + 1
        coefficients = np.zeros((n_stretches, x_sequential.shape[1], degree + 1))
        for s in range(n_stretches):
            rows = stretch == s
            design = basis[rows]
            coefficients[s] = np.linalg.lstsq(design, x_sequential[rows], rcond=None)[0].T
        residuals = _SeriesResiduals(models, data, base, local, cells, basis, stretch, n_stretches)
        u0 = np.concatenate([coefficients.ravel()] + [b[idx] for b, idx in zip(base, local)])
        lower = np.full(u0.size, -np.inf)
        upper = np.full(u0.size, np.inf)
        for k, model in enumerate(models):
            low, high = default_bounds(model, base[k], 0.03)
            lower[residuals.offsets[k]: residuals.offsets[k + 1]] = low[local[k]]
            upper[residuals.offsets[k]: residuals.offsets[k + 1]] = high[local[k]]
        u0 = np.clip(u0, lower, upper)
        objective = Objective.least_squares(residuals, u0.size, jacobian=residuals.jacobian,
                                            bounds=list(zip(lower, upper)), name="parametric Rietveld")
        outcome = LeastSquares(max_iter=max_iter, ftol=1e-7).minimize(objective, u0)
        u = outcome.x if outcome.admissible else u0
        r = residuals(u)
        candidate = ParametricModel(breakpoints, float(r @ r), int(u.size), int(r.size), bool(outcome.success))
        logger.info("parametric fit, breakpoints %s: chi2 %.6g, %d parameters, BIC %.6g", breakpoints,
                    candidate.chi2, candidate.parameters, candidate.bic)
        compared.append(candidate)
        fitted[tuple(breakpoints)] = (residuals, u)
    chosen = min(compared, key=lambda c: c.bic)
    residuals, u = fitted[tuple(chosen.breakpoints)]
    whole = ParametricResult(degree, t.tolist(), chosen, compared)
    offset = 0
    for index, (phase, where) in enumerate(zip(fits.phases, models[0].slices)):
        width = where["cell"].stop - where["cell"].start
        system = models[0].phases[index].system
        whole.cells[phase.label] = [
            system.lattice_parameters(residuals.expand(u, k)[where["cell"]]).tolist() for k in range(n)]
        whole.coefficients[phase.label] = residuals.coefficients(u)[:, offset: offset + width].tolist()
        offset += width
    return whole


def _at(phase, values: dict[str, float]):
    """The phase with its structure's cell at the refined reciprocal parameters (its reflections listed there)."""
    from powdex.refinement.reflections import lattice_system_of

    system = lattice_system_of(phase.structure.space_group)
    x = np.array([values[f"{phase.label}:x{k}"] for k in range(system.n_free)])
    return replace(phase, structure=replace(phase.structure, cell=system.cell(x)))


def _screen(series: SeriesRefinementResult, scaled: np.ndarray, degree: int, min_stretch: int) -> list[int]:
    """Single breakpoints ranked by the χ² of polynomials fitted to the sequential cell lengths, weighted by
    their esds, on each side."""
    lengths, weights = [], []
    for entry in series.entries:
        row, weight = [], []
        for phase in entry.phases:
            for value, esd in zip(phase.cell[:3], phase.cell_esd[:3]):
                row.append(value)
                weight.append(1.0 / esd if esd else 0.0)
        lengths.append(row)
        weights.append(weight)
    y, w = np.array(lengths), np.array(weights)
    basis = np.vander(scaled, degree + 1, increasing=True)

    def chi2(rows: slice) -> float:
        total = 0.0
        for j in range(y.shape[1]):
            a = basis[rows] * w[rows, j, None]
            b = y[rows, j] * w[rows, j]
            solution = np.linalg.lstsq(a, b, rcond=None)[0]
            total += float(np.sum((a @ solution - b) ** 2))
        return total

    n = len(series.entries)
    options = range(max(min_stretch, degree + 1), n - max(min_stretch, degree + 1) + 1)
    return sorted(options, key=lambda b: chi2(slice(0, b)) + chi2(slice(b, n)))

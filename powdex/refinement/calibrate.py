"""``calibrate``: the instrument from a scan of a certified standard.

A Pawley (or Le Bail) fit with the standard's certified cell held refines the
zero shift, the geometry's shifts (Bragg–Brentano specimen displacement and
transparency; Debye–Scherrer capillary x and y displacement), the Thompson–Cox–Hastings profile
(U, V, W, X, Y) and the Finger–Cox–Jephcoat asymmetry (S/L, H/L); the result
is an ``Instrument``.  The Kα2/Kα1 ratio, on request, by a parabola through
χ² of fits at five ratios about the pattern's (the profile model holds the
ratio fixed within one fit), its s.u. from the parabola's curvature.  Each isolated line is then fitted alone with its whole
calculated profile scaled in width: the residual width per peak, the
fraction by which the line is wider (+) or narrower (−) than the calibrated
profile says, shows where the profile function does not describe the
instrument.

The standards' certified cells are those of ``powdex.crystal.standards``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from powdex.crystal.standards import STANDARDS, Standard
from powdex.instrument import GEOMETRIES, SHIFT_TERMS, Instrument
from powdex.patterns import Pattern
from powdex.refinement.api import refine
from powdex.refinement.errors import RefinementError
from powdex.refinement.profile import GLOBAL_NAMES, ProfileModel, tch_widths
from powdex.refinement.reflections import lattice_system_of, resolve_space_group
from powdex.refinement.result import RefinementResult

logger = logging.getLogger(__name__)


CALIBRATED_GROUPS = ("background", "intensities", "zero", "profile", "asymmetry")
# The shifts each geometry refines besides the zero: Bragg–Brentano specimen displacement (cosθ) and
# transparency (sin2θ); Debye–Scherrer capillary displacement along (cos2θ) and across (sin2θ) the beam.
GEOMETRY_TERMS = {"bragg-brentano": ("displacement", "transparency"), "debye-scherrer": ("capillary",)}
# A line is measured alone when no other line lies within this many FWHM of it.
ISOLATION_FWHM = 3.0
RATIO_STEPS = np.array([0.8, 0.9, 1.0, 1.1, 1.2])


@dataclass(frozen=True)
class PeakWidth:
    """One isolated line: ``residual`` = its fitted width / the calibrated profile's − 1."""

    hkl: tuple[int, int, int]
    two_theta: float
    fwhm: float
    residual: float
    residual_esd: float


@dataclass(frozen=True)
class Calibration:
    instrument: Instrument
    refinement: RefinementResult
    peak_widths: tuple[PeakWidth, ...]
    standard: Standard
    ratio_esd: float | None = None

    @property
    def worst_width_residual(self) -> float:
        return max((abs(p.residual) for p in self.peak_widths), default=float("nan"))


def calibrate(pattern: Pattern, standard: str | Standard, *, geometry: str = "bragg-brentano",
              method: str = "pawley", polarisation: float = 0.5, divergence_slit: str = "fixed",
              two_theta_range: tuple[float, float] | None = None, excluded: tuple[tuple[float, float], ...] = (),
              background_terms: int = 6, profile: dict[str, float] | None = None,
              refine_ratio: bool = False) -> Calibration:
    """Calibrate the instrument that measured ``pattern`` of ``standard`` (a name
    of ``STANDARDS`` or a ``Standard``).  ``polarisation`` (the perpendicular
    fraction, see ``powdex.instrument.monochromator_polarisation``) and
    ``divergence_slit`` are not refined, being invisible to a fit with free
    intensities: they are recorded in the instrument."""
    if isinstance(standard, str):
        if standard not in STANDARDS:
            raise RefinementError(f"standard: unknown {standard!r}; known: {', '.join(STANDARDS)}")
        standard = STANDARDS[standard]
    if geometry not in GEOMETRIES:
        raise RefinementError(f"geometry: {geometry!r} is not one of {', '.join(GEOMETRIES)}")
    groups = CALIBRATED_GROUPS + GEOMETRY_TERMS[geometry]
    options = dict(method=method, refine_groups=groups, two_theta_range=two_theta_range, excluded=excluded,
                   background_terms=background_terms, profile=profile)
    notes, ratio_esd = [], None
    if refine_ratio:
        if pattern.ratio <= 0:
            raise RefinementError(f"{pattern.source}: one wavelength; a Kα2/Kα1 ratio needs two")
        ratio, ratio_esd = _best_ratio(pattern, standard, options)
        pattern = replace(pattern, ratio=ratio)
        notes.append(f"Kα2/Kα1 ratio refined: {ratio:.4f}({ratio_esd:.4f})")
    result = refine(pattern, standard.cell, standard.space_group, **options)
    values = {p.name: p.value for p in result.parameters}
    notes = [f"calibrated on {standard.certificate} {standard.name} ({pattern.source}): Rwp {result.statistics.rwp:.4f}, "
             f"reduced chi2 {result.statistics.reduced_chi2:.3f}", *notes]
    instrument = Instrument(
        wavelengths=tuple(pattern.wavelengths[:2] if pattern.ratio > 0 else pattern.wavelengths[:1]),
        ratio=float(pattern.ratio), radiation=pattern.radiation, geometry=geometry,
        zero=values["zero"], **{name: values.get(name, 0.0) for name in SHIFT_TERMS[geometry]},
        polarisation=polarisation, divergence_slit=divergence_slit,
        U=values["U"], V=values["V"], W=values["W"], X=values["X"], Y=values["Y"],
        S_L=values.get("S/L", 0.0), H_L=values.get("H/L", 0.0), source=pattern.source, notes=tuple(notes),
    )
    widths = residual_widths(result, standard)
    logger.info("calibration on %s: Rwp %.4f, %d isolated lines", standard.name, result.statistics.rwp, len(widths))
    return Calibration(instrument, result, widths, standard, ratio_esd)


def _best_ratio(pattern: Pattern, standard: Standard, options: dict) -> tuple[float, float]:
    """The Kα2/Kα1 ratio at the minimum of a parabola through χ² at ``RATIO_STEPS`` × the pattern's, and its s.u."""
    ratios = np.clip(pattern.ratio * RATIO_STEPS, 0.01, 1.0)
    fits = [refine(replace(pattern, ratio=float(r)), standard.cell, standard.space_group, **options) for r in ratios]
    chi2 = np.array([f.statistics.reduced_chi2 * (f.statistics.points - f.statistics.parameters) for f in fits])
    curvature, slope, _ = np.polyfit(ratios, chi2, 2)
    if curvature <= 0:
        raise RefinementError(f"{pattern.source}: χ² has no minimum in the Kα2/Kα1 ratio near {pattern.ratio}")
    best = float(np.clip(-slope / (2 * curvature), ratios[0], ratios[-1]))
    reduced = float(np.min([f.statistics.reduced_chi2 for f in fits]))
    # Δχ² = 1 (scaled by χ²_red, as for the other s.u.) at σ from the minimum: σ² = χ²_red / curvature.
    return best, float(np.sqrt(reduced / curvature))


def residual_widths(result: RefinementResult, standard: Standard) -> tuple[PeakWidth, ...]:
    """Fit each isolated line of ``result`` alone — its calculated profile with
    a width factor, its intensity and a constant free, the other lines and the
    background held — and report the width factor − 1."""
    from scipy.optimize import least_squares

    values = {p.name: p.value for p in result.parameters}
    globals_ = np.array([values.get(name, 0.0) for name in GLOBAL_NAMES])
    cell_x = np.array([p.value for p in result.parameters if p.name.startswith("cell_")])
    group = resolve_space_group(standard.space_group)
    system = lattice_system_of(group)
    design = system.design_matrix(result.hkl)
    positions = result.line_two_theta
    fwhm, _, _, _ = tch_widths(np.radians(positions) / 2, *(values[name] for name in ("U", "V", "W", "X", "Y")))
    found = []
    x, observed, calculated = result.two_theta, result.observed, result.calculated
    sigma = result.sigma
    for k in range(len(positions)):
        others = np.delete(positions, k)
        if others.size and np.min(np.abs(others - positions[k])) < ISOLATION_FWHM * fwhm[k] * 2:
            continue
        window = np.abs(x - positions[k]) < ISOLATION_FWHM * fwhm[k]
        if window.sum() < 8 or not np.isfinite(result.line_intensity[k]) or result.line_intensity[k] <= 0:
            continue

        def line(factor: float, intensity: float, k=k, window=window) -> np.ndarray:
            model = ProfileModel(x[window], result.wavelengths, result.ratio, design[k:k + 1], background_terms=1,
                                 width_factor=factor)
            p = np.concatenate([globals_, cell_x, [0.0], [intensity]])
            return model.evaluate(p)

        own = line(1.0, result.line_intensity[k])
        target = observed[window] - calculated[window] + own

        def residual(q, target=target, window=window, line=line):
            return (target - line(q[0], q[1]) - q[2]) / sigma[window]

        fit = least_squares(residual, [1.0, result.line_intensity[k], 0.0],
                            bounds=([0.2, 0.0, -np.inf], [5.0, np.inf, np.inf]), x_scale="jac")
        jac = fit.jac
        dof = max(window.sum() - 3, 1)
        try:
            covariance = np.linalg.inv(jac.T @ jac) * (2 * fit.cost / dof)
            esd = float(np.sqrt(max(covariance[0, 0], 0.0)))
        except np.linalg.LinAlgError:
            esd = float("nan")
        found.append(PeakWidth(tuple(int(h) for h in result.hkl[k]), float(positions[k]), float(fwhm[k] * fit.x[0]),
                               float(fit.x[0] - 1.0), esd))
    return tuple(found)

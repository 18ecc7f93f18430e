"""``calibrate``: the instrument from a scan of a certified standard.

A Pawley (or Le Bail) fit with the standard's certified cell held refines the
zero shift, the geometry's shifts (Bragg–Brentano specimen displacement and
transparency; Debye–Scherrer capillary x and y displacement), the Thompson–Cox–Hastings profile
(U, V, W, X, Y; GSAS-II's constant Lorentzian Z only on request, so that the
instrument writes exactly to GSAS ``.prm`` and FullProf ``.irf``, which have no
such term) and the Finger–Cox–Jephcoat asymmetry (S/L, H/L); the result
is an ``Instrument``.  The Kα2/Kα1 ratio, on request, by a parabola through
χ² of fits at five ratios about the pattern's (the profile model holds the
ratio fixed within one fit), its s.u. from the parabola's curvature.  Each isolated line is then fitted alone
with its own Gaussian and Lorentzian widths, as in an individual-peak fit: the residual width per peak,
the fraction by which its pseudo-Voigt FWHM is wider (+) or narrower (−) than the calibrated
profile's at that angle, shows where the profile function does not describe the instrument.
A laboratory tube's Kβ, which a β filter weakens but does not remove, is measured after the
fit (``k_beta_ratio``): the fit leaves it out, so its replicas of the standard's lines are in
the residual, and one factor on the calibrated profile of every line at Kβ's wavelength
measures it.  Where it is seen, the standard is fitted again with every line's Kβ replica at
that ratio, so that the profile and χ² are the instrument's alone, and the residual widths come
from that fit.  The peak search of a sample measured on the instrument then knows the line
(``Instrument.k_beta_ratio``), and so do fits that hold the instrument.

The standards' certified cells are those of ``powdex.crystal.standards``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from powdex.crystal.standards import STANDARDS, Standard
from powdex.instrument import GEOMETRIES, SHIFT_TERMS, Instrument, tch_fwhm
from powdex.patterns import Pattern
from powdex.patterns.radiation import tube_of_k_alpha1
from powdex.refinement.api import refine
from powdex.refinement.errors import RefinementError
from powdex.refinement.fit import CONSTANT_LORENTZIAN_GROUP
from powdex.refinement.profile import GLOBAL_NAMES, ZERO, ProfileModel, tch_widths
from powdex.refinement.reflections import lattice_system_of, resolve_space_group
from powdex.refinement.result import RefinementResult

logger = logging.getLogger(__name__)


CALIBRATED_GROUPS = ("background", "intensities", "zero", "profile", "asymmetry")
# The shifts each geometry refines besides the zero: Bragg–Brentano specimen displacement (cosθ) and
# transparency (sin2θ); Debye–Scherrer capillary displacement along (cos2θ) and across (sin2θ) the beam.
GEOMETRY_TERMS = {"bragg-brentano": ("displacement", "transparency"), "debye-scherrer": ("capillary",)}
# A line is measured alone when no other line lies within twice this many FWHM of it; its fit
# spans this many FWHM either side.
ISOLATION_FWHM = 3.0
RATIO_STEPS = np.array([0.8, 0.9, 1.0, 1.1, 1.2])
# The Caglioti Gaussian width U tan²θ + V tanθ + W may bend down (U < 0), as a lab diffractometer's
# often does between 20 and 70° (GSAS-II and FullProf leave U's sign free): held at U ≥ 0, the
# GSAS-II tutorial's LaB6 scan ends with U at the bound and its (100) line 6 % narrower than the
# profile.  Only Γ_G² > 0 where the instrument is used matters; ``calibrate`` notes where it ends.
CALIBRATION_BOUNDS = {"U": (-1.0, 1.0)}
# The Thompson–Cox–Hastings widths' terms U, V, W, X, Y, Z in the profile's parameters.
WIDTH_COLUMNS = [GLOBAL_NAMES.index(name) for name in ("U", "V", "W", "X", "Y", "Z")]
# Where a calibrated instrument is expected to serve: Γ_G² ≤ 0 below this 2θ is noted.
USE_LIMIT_TWO_THETA = 150.0
# A Kβ/Kα1 ratio is taken as measured when it is at least this many s.u.
K_BETA_SIGNIFICANCE = 3.0


@dataclass(frozen=True)
class PeakWidth:
    """One isolated line fitted alone: ``fwhm`` its own pseudo-Voigt FWHM, ``profile_fwhm`` the
    calibrated profile's at its angle, ``residual`` = fwhm / profile_fwhm − 1 with its s.u."""

    hkl: tuple[int, int, int]
    two_theta: float
    fwhm: float
    profile_fwhm: float
    residual: float
    residual_esd: float


@dataclass(frozen=True)
class Calibration:
    instrument: Instrument
    refinement: RefinementResult
    peak_widths: tuple[PeakWidth, ...]
    standard: Standard
    ratio_esd: float | None = None
    k_beta_ratio: float | None = None  # as measured, significant or not (``k_beta_ratio``); None without a tube
    k_beta_ratio_esd: float | None = None

    @property
    def worst_width_residual(self) -> float:
        return max((abs(p.residual) for p in self.peak_widths), default=float("nan"))


def calibrate(pattern: Pattern, standard: str | Standard, *, geometry: str = "bragg-brentano",
              method: str = "pawley", polarisation: float = 0.5, divergence_slit: str = "fixed",
              two_theta_range: tuple[float, float] | None = None, excluded: tuple[tuple[float, float], ...] = (),
              background_terms: int = 6, profile: dict[str, float] | None = None,
              refine_ratio: bool = False, refine_constant_lorentzian: bool = False) -> Calibration:
    """Calibrate the instrument that measured ``pattern`` of ``standard`` (a name
    of ``STANDARDS`` or a ``Standard``).  ``polarisation`` (the perpendicular
    fraction, see ``powdex.instrument.monochromator_polarisation``) and
    ``divergence_slit`` are not refined, being invisible to a fit with free
    intensities: they are recorded in the instrument.  ``refine_constant_lorentzian``
    refines GSAS-II's Z as well (from ``profile``'s "Z", else 0); the instrument
    then writes only to ``instrument.toml`` and ``.instprm``."""
    if isinstance(standard, str):
        if standard not in STANDARDS:
            raise RefinementError(f"standard: unknown {standard!r}; known: {', '.join(STANDARDS)}")
        standard = STANDARDS[standard]
    if geometry not in GEOMETRIES:
        raise RefinementError(f"geometry: {geometry!r} is not one of {', '.join(GEOMETRIES)}")
    groups = CALIBRATED_GROUPS + GEOMETRY_TERMS[geometry] + \
        ((CONSTANT_LORENTZIAN_GROUP,) if refine_constant_lorentzian else ())
    options = dict(method=method, refine_groups=groups, two_theta_range=two_theta_range, excluded=excluded,
                   background_terms=background_terms, profile=profile, parameter_bounds=CALIBRATION_BOUNDS)
    notes, ratio_esd = [], None
    if refine_ratio:
        if pattern.ratio <= 0:
            raise RefinementError(f"{pattern.source}: one wavelength; a Kα2/Kα1 ratio needs two")
        ratio, ratio_esd = _best_ratio(pattern, standard, options)
        pattern = replace(pattern, ratio=ratio)
        notes.append(f"Kα2/Kα1 ratio refined: {ratio:.4f}({ratio_esd:.4f})")
    result = refine(pattern, standard.cell, standard.space_group, **options)
    k_beta, k_beta_esd = k_beta_ratio(result, standard) or (None, None)
    k_beta_seen = k_beta is not None and k_beta_esd is not None and k_beta >= K_BETA_SIGNIFICANCE * k_beta_esd
    if k_beta_seen:
        logger.info("calibration on %s: Kβ/Kα1 %.4f(%.4f) seen; fitted again with it (reduced χ² %.3f without)",
                    standard.name, k_beta, k_beta_esd, result.statistics.reduced_chi2)
        notes.append(f"fitted with every line's Kβ replica at Kβ/Kα1 {k_beta:.4f} (reduced chi2 "
                     f"{result.statistics.reduced_chi2:.3f} without)")
        result = refine(pattern, standard.cell, standard.space_group, k_beta_ratio=k_beta, **options)
    values = {p.name: p.value for p in result.parameters}
    notes = [f"calibrated on {standard.certificate} {standard.name} ({pattern.source}): Rwp {result.statistics.rwp:.4f}, "
             f"reduced chi2 {result.statistics.reduced_chi2:.3f}", *notes]
    instrument = Instrument(
        wavelengths=tuple(pattern.wavelengths[:2] if pattern.ratio > 0 else pattern.wavelengths[:1]),
        ratio=float(pattern.ratio), radiation=pattern.radiation, geometry=geometry,
        zero=values["zero"], **{name: values.get(name, 0.0) for name in SHIFT_TERMS[geometry]},
        polarisation=polarisation, divergence_slit=divergence_slit,
        U=values["U"], V=values["V"], W=values["W"], X=values["X"], Y=values["Y"], Z=values.get("Z", 0.0),
        S_L=values.get("S/L", 0.0), H_L=values.get("H/L", 0.0), source=pattern.source, notes=tuple(notes),
    )
    end = gaussian_width_end(instrument)
    if end is not None:
        fitted = f"{result.two_theta[0]:.1f}–{result.two_theta[-1]:.1f}°"
        logger.info("calibration on %s: the Gaussian width reaches zero at 2θ = %.1f° (fitted over %s)",
                    standard.name, end, fitted)
        instrument = instrument.with_values(notes=(*instrument.notes, (
            f"Gaussian width U tan²θ + V tanθ + W reaches zero at 2θ = {end:.1f}° (fitted over {fitted}): "
            "calibrate on a scan that reaches the angles of use")))
    widths = residual_widths(result, standard)
    logger.info("calibration on %s: Rwp %.4f, %d isolated lines", standard.name, result.statistics.rwp, len(widths))
    if k_beta is not None and k_beta_esd is not None:
        instrument = instrument.with_values(k_beta_ratio=k_beta if k_beta_seen else None, notes=(*instrument.notes, (
            f"Kβ/Kα1 ratio {k_beta:.4f}({k_beta_esd:.4f}) from the residual at the standard's Kβ replicas"
            if k_beta_seen else f"no Kβ seen: ratio {k_beta:.4f}({k_beta_esd:.4f}), under {K_BETA_SIGNIFICANCE:g} "
            "s.u.; the peak search looks for it in each pattern")))
    return Calibration(instrument, result, widths, standard, ratio_esd, k_beta, k_beta_esd)


def k_beta_ratio(result: RefinementResult, standard: Standard) -> tuple[float, float] | None:
    """The tube's Kβ/Kα1 ratio and its s.u. from a fit of ``standard`` that leaves Kβ out, or None for a
    pattern of no X-ray tube's Kα1 (synchrotron, neutrons).

    The fit's residual holds the Kβ replicas of the standard's lines: the calibrated profile of every line
    at Kβ's wavelength, with the line's fitted intensity, is scaled by one factor, fitted to the residual by
    weighted least squares; its s.u. is scaled by the fit's χ²/dof as the refined parameters' are.  A
    monochromator leaves a ratio within its s.u. of 0."""
    tube = tube_of_k_alpha1(result.wavelengths[0])
    if tube is None or result.radiation != "xray":
        return None
    globals_, cell_x, design = _fitted_lines(result, standard)
    model = ProfileModel(result.two_theta, (tube.k_beta,), 0.0, design, background_terms=1)
    intensity = np.nan_to_num(result.line_intensity, nan=0.0)
    replicas = model.evaluate(np.concatenate([globals_, cell_x, [0.0], intensity]))
    weight = 1.0 / result.sigma**2
    norm = float(np.sum(weight * replicas**2))
    if norm <= 0:
        return None
    ratio = float(np.sum(weight * (result.observed - result.calculated) * replicas)) / norm
    return ratio, float(np.sqrt(result.statistics.reduced_chi2 / norm))


def _fitted_lines(result: RefinementResult, standard: Standard) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fit's global parameters (``GLOBAL_NAMES``), its cell's free reciprocal parameters, and the design
    matrix of its lines (q² = design @ cell): what a ``ProfileModel`` of the fitted lines needs."""
    values = {p.name: p.value for p in result.parameters}
    globals_ = np.array([values.get(name, 0.0) for name in GLOBAL_NAMES])
    cell_x = np.array([p.value for p in result.parameters if p.name.startswith("cell_")])
    design = lattice_system_of(resolve_space_group(standard.space_group)).design_matrix(result.hkl)
    return globals_, cell_x, design


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


def gaussian_width_end(instrument: Instrument) -> float | None:
    """The lowest 2θ (deg) below ``USE_LIMIT_TWO_THETA`` where U tan²θ + V tanθ + W ≤ 0, or None."""
    two_theta = np.arange(0.0, USE_LIMIT_TWO_THETA, 0.1)
    t = np.tan(np.radians(two_theta) / 2)
    below = np.flatnonzero(instrument.U * t * t + instrument.V * t + instrument.W <= 0)
    return float(two_theta[below[0]]) if below.size else None


def residual_widths(result: RefinementResult, standard: Standard) -> tuple[PeakWidth, ...]:
    """Fit each isolated line of ``result`` alone, as an individual-peak fit does: its own Gaussian
    and Lorentzian FWHM, position, intensity and a straight background free, the asymmetry,
    the Kα2 doublet and the other lines' tails held; compare its pseudo-Voigt FWHM
    (Thompson–Cox–Hastings 1987) with the calibrated profile's at that angle.  A free width
    per line, rather than the calibrated shape scaled, lets a line whose Gaussian/Lorentzian
    mix differs from the profile's show its own FWHM."""
    from scipy.optimize import least_squares

    values = {p.name: p.value for p in result.parameters}
    globals_, cell_x, design = _fitted_lines(result, standard)
    positions = result.line_two_theta
    theta = np.radians(positions) / 2
    fwhm, _, _, _ = tch_widths(theta, *globals_[WIDTH_COLUMNS], derivatives=False)
    # Each line's fit starts from the calibrated profile's Gaussian and Lorentzian widths at its angle.
    calibrated = Instrument(wavelengths=tuple(result.wavelengths), **{name: values.get(name, 0.0) for name in "UVWXYZ"})
    gaussian = np.maximum(calibrated.gaussian_fwhm(positions), 1e-4)
    lorentzian = calibrated.lorentzian_fwhm(positions)
    x, observed, calculated, sigma = result.two_theta, result.observed, result.calculated, result.sigma
    found = []
    for k in range(len(positions)):
        others = np.delete(positions, k)
        if others.size and np.min(np.abs(others - positions[k])) < ISOLATION_FWHM * fwhm[k] * 2:
            continue
        window = np.abs(x - positions[k]) < ISOLATION_FWHM * fwhm[k]
        if window.sum() < 8 or not np.isfinite(result.line_intensity[k]) or result.line_intensity[k] <= 0:
            continue
        model = ProfileModel(x[window], result.wavelengths, result.ratio, design[k:k + 1], background_terms=2)

        def line(q: np.ndarray, model=model) -> np.ndarray:
            # q: shift, Γ_G, Γ_L, intensity, two background terms; the line's own widths enter as
            # W = Γ_G² and Z = Γ_L with U, V, X, Y at zero.
            p = globals_.copy()
            p[WIDTH_COLUMNS] = (0.0, 0.0, q[1] ** 2, 0.0, 0.0, q[2])
            p[ZERO] += q[0]
            return model.evaluate(np.concatenate([p, cell_x, q[4:6], q[3:4]]))

        start = np.array([0.0, gaussian[k], max(lorentzian[k], 1e-3), result.line_intensity[k], 0.0, 0.0])
        # The observed line alone: the other lines' tails and the background taken off.
        own = line(np.concatenate([start[:4], [0.0, 0.0]]))
        target = observed[window] - calculated[window] + own

        def residual(q, target=target, window=window, line=line):
            return (target - line(q)) / sigma[window]

        fit = least_squares(residual, start, x_scale="jac",
                            bounds=([-fwhm[k], 1e-4, 0.0, 0.0, -np.inf, -np.inf],
                                    [fwhm[k], 5 * fwhm[k], 5 * fwhm[k], np.inf, np.inf, np.inf]))
        width = float(tch_fwhm(fit.x[1], fit.x[2]))
        # ∂Γ/∂(Γ_G, Γ_L) by central differences; the covariance scaled by the window's χ²/dof.
        step = 1e-6
        gradient = np.array([(tch_fwhm(fit.x[1] + step, fit.x[2]) - tch_fwhm(fit.x[1] - step, fit.x[2])) / (2 * step),
                             (tch_fwhm(fit.x[1], fit.x[2] + step) - tch_fwhm(fit.x[1], fit.x[2] - step)) / (2 * step)])
        dof = max(int(window.sum()) - len(start), 1)
        try:
            covariance = np.linalg.inv(fit.jac.T @ fit.jac)[1:3, 1:3] * (2 * fit.cost / dof)
            esd = float(np.sqrt(max(gradient @ covariance @ gradient, 0.0))) / fwhm[k]
        except np.linalg.LinAlgError:
            esd = float("nan")
        found.append(PeakWidth(tuple(int(h) for h in result.hkl[k]), float(positions[k]), width, float(fwhm[k]),
                               width / float(fwhm[k]) - 1.0, esd))
    return tuple(found)

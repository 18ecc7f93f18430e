"""Sample broadening with the instrument held: isotropic crystallite size and microstrain.

A Pawley or Le Bail fit with ``refine(..., instrument=...)`` holds the
instrument's profile (its constant Lorentzian Z too) and refines the Lorentzian X and Y; what exceeds the
instrument's is the sample's.  Size from the 1/cosθ term by Scherrer's
equation, FWHM(2θ, rad) = Kλ / (D cosθ): D = K λ (180/π) / Y_sample.
Strain from the tanθ term by Stokes–Wilson, FWHM(2θ, rad) = 4 ε tanθ:
ε = (π/180) X_sample / 4.  Standard uncertainties follow from those of X
and Y (the instrument's taken as exact).

A sample cannot be sharper than the instrument.  Two checks: a fitted X or
Y significantly (2 s.u.) below the instrument's, or held at its lower bound
below it; and a second fit, started from the first, with the whole profile free (U, V, W too) whose
Gaussian FWHM falls below the instrument's at the lines by more than
``GAUSSIAN_TOLERANCE`` and 2 s.u. (U, V, W taken as independent, which
overstates the s.u.: the check errs toward silence where the pattern does not
determine the Gaussian part, as when a small size dominates the widths).  A
Lorentzian sample term can absorb a Gaussian part that is too wide, so the
first check alone misses a wrong W.  Either means the instrument's widths are
wrong for this pattern (a wrong instrument file, another slit), and the
result says the widths are inconsistent instead of giving a size.

With ``anisotropic_strain`` the strain is Stephens's (1999) S_HKL
(``powdex.refinement.stephens``) instead of the isotropic X, which stays at
the instrument's: ``strain`` is then 0 and ``stephens`` holds the terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from powdex.crystal import Cell
from powdex.instrument import Instrument
from powdex.patterns import Pattern
from powdex.refinement.api import refine
from powdex.refinement.result import RefinementResult

SCHERRER_K = 0.9
# How many standard uncertainties below the instrument a sample term may fall before it counts as sharper.
INCONSISTENT_SIGMAS = 2.0
# Fraction of the instrument's Gaussian FWHM by which a free fit's may fall short before it counts as sharper.
GAUSSIAN_TOLERANCE = 0.04


@dataclass(frozen=True)
class Broadening:
    """``size_nm`` is None where the size broadening is not significant (above
    what the pattern resolves); ``strain`` is the Stokes–Wilson ε (dimensionless)."""

    size_nm: float | None
    size_esd_nm: float | None
    strain: float
    strain_esd: float | None
    x_sample: float
    y_sample: float
    consistent: bool
    message: str
    refinement: RefinementResult
    stephens: tuple[tuple[str, float, float | None], ...] = ()  # (S_HKL name, value Å⁻⁴, s.u.)


def sample_broadening(pattern: Pattern, cell: Cell | tuple[float, ...], spacegroup: str | int,
                      instrument: Instrument, *, method: str = "pawley", scherrer_k: float = SCHERRER_K,
                      anisotropic_strain: bool = False, **refine_options) -> Broadening:
    """Fit ``pattern`` with ``instrument`` held and return the size and strain it implies."""
    refine_options["anisotropic_strain"] = anisotropic_strain
    result = refine(pattern, cell, spacegroup, method=method, instrument=instrument, **refine_options)
    by_name = {p.name: p for p in result.parameters}
    x, y = by_name["X"], by_name["Y"]
    x_sample, y_sample = x.value - instrument.X, y.value - instrument.Y
    problems = []
    stephens = tuple((p.name.removeprefix("strain_"), p.value, p.esd) for p in result.parameters
                     if p.name.startswith("strain_"))
    for name, parameter, sample in (("X (strain)", x, x_sample), ("Y (size)", y, y_sample)):
        if not parameter.refined:
            continue
        sharper = (parameter.at_bound and sample < 0) or (
            parameter.esd is not None and sample < -INCONSISTENT_SIGMAS * parameter.esd)
        if sharper:
            problems.append(f"{name} {parameter.value:.5g}° below the instrument's {getattr(instrument, name[0]):.5g}°")
    # Seeded from the held fit: started cold, a free profile under a dominant Lorentzian can fall into a
    # minimum with no Gaussian part at all.  Its X and Y may reach the instrument's where those are negative
    # (made up for by its constant Z, held from the held fit): at a bound of 0 the Lorentzian part would be
    # too wide, and the Gaussian part fall short of the instrument's for that alone.
    bounds = {name: (min(0.0, getattr(instrument, name)), 1.0) for name in ("X", "Y")}
    free_options = dict(refine_options, parameter_bounds={**bounds, **(refine_options.get("parameter_bounds") or {})})
    free = refine(pattern, cell, spacegroup, method=method, neighbour=result,
                  refine_groups=("background", "intensities", "cell", "profile"), **free_options)
    shortfall = _gaussian_shortfall(free, instrument)
    if shortfall is not None:
        problems.append(shortfall)
    wavelength = result.wavelengths[0]
    size = size_esd = None
    if y_sample > 0 and (y.esd is None or y_sample > INCONSISTENT_SIGMAS * y.esd):
        size = scherrer_k * wavelength * (180 / math.pi) / y_sample / 10.0
        size_esd = size * y.esd / y_sample if y.esd is not None else None
    strain = math.pi / 180 * x_sample / 4
    strain_esd = math.pi / 180 * x.esd / 4 if x.esd is not None else None
    if problems:
        message = ("widths inconsistent: the sample is sharper than the instrument (" + "; ".join(problems) +
                   "); check the instrument file — no size or strain reported")
        size = size_esd = None
    else:
        size_text = "not resolved" if size is None else f"{size:.1f}({size_esd or 0:.1f}) nm"
        strain_text = f"strain {strain:.3e}({strain_esd or 0:.1e})" if not stephens else \
            "anisotropic strain (Stephens) " + ", ".join(f"{name} {value:.3g}({esd or 0:.1g})" for name, value, esd in stephens)
        message = f"size {size_text}, {strain_text}"
    return Broadening(size, size_esd, strain, strain_esd, x_sample, y_sample, not problems, message, result, stephens)


def _gaussian_shortfall(free: RefinementResult, instrument: Instrument) -> str | None:
    """Where the freely fitted Gaussian FWHM is significantly below the instrument's, say so."""
    by_name = {p.name: p for p in free.parameters}
    if any(by_name[name].esd is None for name in ("U", "V", "W")):
        return None
    t = np.tan(np.radians(free.line_two_theta) / 2)
    variance = sum(by_name[name].esd ** 2 * term ** 2 for name, term in (("U", t * t), ("V", t), ("W", 1.0)))
    fitted = np.sqrt(np.clip(by_name["U"].value * t * t + by_name["V"].value * t + by_name["W"].value, 1e-12, None))
    expected = instrument.gaussian_fwhm(free.line_two_theta)
    fitted_esd = np.sqrt(variance) / (2 * fitted)
    short = expected - fitted > np.maximum(GAUSSIAN_TOLERANCE * expected, INCONSISTENT_SIGMAS * fitted_esd)
    if not np.any(short):
        return None
    worst = int(np.argmax((expected - fitted) / expected))
    return (f"Gaussian FWHM {fitted[worst]:.4f}° fitted at {free.line_two_theta[worst]:.1f}° 2θ, the instrument's "
            f"{expected[worst]:.4f}° ({int(short.sum())} of {short.size} lines sharper)")

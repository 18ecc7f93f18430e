"""Conversions between the peak-position scales used in powder diffraction.

The indexer works in q² = 1/d² (Å⁻²), where q = 1/d = 2 sin θ / λ (no 2π).
Positions in 2θ are in degrees; d and λ are in Å.  Every function accepts
scalars or arrays and returns float64 of the same shape.
"""

import numpy as np

from .errors import PeakInputError

CU_KA1 = 1.5406
"""Cu Kα1 wavelength in Å, the usual laboratory source."""

# Wavelengths (Å) a diffraction measurement can have: hard synchrotron X-rays reach
# 0.1 Å, cold neutrons 20 Å. Outside these a wavelength is a typo or another unit (nm, m).
MIN_WAVELENGTH = 0.01
MAX_WAVELENGTH = 20.0


def _checked_wavelength(wavelength: float) -> float:
    wavelength = float(wavelength)
    if not (np.isfinite(wavelength) and wavelength > 0):
        raise PeakInputError(f"wavelength must be a positive number of Å, got {wavelength}")
    return wavelength


def two_theta_to_q2(two_theta, wavelength: float) -> np.ndarray:
    """q² (Å⁻²) of a reflection seen at ``two_theta`` degrees."""
    wavelength = _checked_wavelength(wavelength)
    sin_theta = np.sin(np.radians(np.asarray(two_theta, dtype=np.float64)) / 2)
    return (2 * sin_theta / wavelength) ** 2


def q2_to_two_theta(q2, wavelength: float) -> np.ndarray:
    """2θ (degrees) at which a reflection of the given q² appears.

    Reflections that no angle can reach (sin θ = q λ / 2 > 1, i.e. d < λ/2)
    and negative q² give NaN rather than an error: predicted reflection lists
    routinely run past the accessible range, and NaN lets callers filter them
    with one ``np.isfinite`` mask.
    """
    wavelength = _checked_wavelength(wavelength)
    q2 = np.asarray(q2, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sin_theta = np.sqrt(q2) * wavelength / 2
        reachable = sin_theta <= 1
        theta = np.arcsin(np.where(reachable, sin_theta, np.nan))
    return np.degrees(2 * theta)


def d_to_q2(d) -> np.ndarray:
    """q² = 1/d² (Å⁻²) from d-spacings in Å."""
    return 1.0 / np.asarray(d, dtype=np.float64) ** 2


def q2_to_d(q2) -> np.ndarray:
    """d-spacing in Å from q² (Å⁻²)."""
    return 1.0 / np.sqrt(np.asarray(q2, dtype=np.float64))


def dq2_dtwo_theta(two_theta, wavelength: float) -> np.ndarray:
    """d(q²)/d(2θ) in Å⁻² per degree of 2θ.

    q² = 4 sin²θ / λ², so dq²/dθ = 4 sin 2θ / λ² and, with θ = 2θ/2 in
    radians, dq²/d(2θ) = 2 sin 2θ / λ² · π/180 per degree.  The indexer uses
    it to refine a zero shift Z linearly: q²(2θ − Z) ≈ q²(2θ) − Z · dq²/d2θ.
    """
    wavelength = _checked_wavelength(wavelength)
    two_theta_rad = np.radians(np.asarray(two_theta, dtype=np.float64))
    return 2 * np.sin(two_theta_rad) / wavelength**2 * (np.pi / 180)

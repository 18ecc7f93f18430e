"""Peak-position and intensity corrections of an ``Instrument`` (angles in degrees 2θ).

Positions: Bragg–Brentano, zero + displacement·cosθ + transparency·sin2θ
(a sample a distance s off the goniometer axis of radius R shifts peaks by
−2s cosθ / R rad; a weakly absorbing thick sample by −sin2θ / (2μR) rad);
Debye–Scherrer, zero + x·cos2θ + y·sin2θ for a capillary off the axis
along and across the beam.  Intensities: polarisation, P = f + (1 − f) cos²2θ
for a perpendicular-polarised fraction f (½ unpolarised); a variable
(automatic) divergence slit irradiates a length ∝ 1/sinθ less than a fixed one,
so its intensities are sinθ times the fixed slit's; the absorption of a
cylinder of μR (Debye–Scherrer), integrated over its cross-section.
"""

from __future__ import annotations

import numpy as np

from powdex.instrument.model import Instrument

# The shift terms of each geometry, in the order ``shift_terms`` gives their functions of 2θ.
SHIFT_TERMS = {"bragg-brentano": ("displacement", "transparency"),
               "debye-scherrer": ("x_displacement", "y_displacement")}


def shift_terms(geometry: str, two_theta) -> tuple[np.ndarray, np.ndarray]:
    """The functions of 2θ (deg) that multiply ``SHIFT_TERMS[geometry]`` in Δ2θ, and
    their derivatives with respect to 2θ (per degree): each (2, n).
    Bragg–Brentano cosθ and sin2θ; Debye–Scherrer cos2θ and sin2θ."""
    tth = np.radians(np.asarray(two_theta, dtype=float))
    per_degree = np.pi / 180.0
    if geometry == "bragg-brentano":
        values = np.stack([np.cos(tth / 2), np.sin(tth)])
        slopes = np.stack([-0.5 * np.sin(tth / 2), np.cos(tth)]) * per_degree
    else:
        values = np.stack([np.cos(tth), np.sin(tth)])
        slopes = np.stack([-np.sin(tth), np.cos(tth)]) * per_degree
    return values, slopes


def peak_shift(instrument: Instrument, two_theta) -> np.ndarray:
    """Δ2θ (deg) that ``instrument`` adds to a reflection at Bragg angle ``two_theta``."""
    values, _ = shift_terms(instrument.geometry, two_theta)
    coefficients = np.array([getattr(instrument, name) for name in SHIFT_TERMS[instrument.geometry]])
    return instrument.zero + coefficients @ values


def corrected_two_theta(instrument: Instrument, observed) -> np.ndarray:
    """The Bragg angles 2θ (deg) whose shifted positions are ``observed``: 2θ + Δ2θ(2θ) = observed,
    by fixed-point steps (Δ2θ changes by under 10⁻³ of itself per degree, so three steps reach 10⁻⁹°)."""
    observed = np.asarray(observed, dtype=float)
    bragg = observed - peak_shift(instrument, observed)
    for _ in range(3):
        bragg = observed - peak_shift(instrument, bragg)
    return bragg


def polarisation_factor(instrument: Instrument, two_theta) -> np.ndarray:
    if instrument.radiation == "neutron":
        return np.ones_like(np.asarray(two_theta, dtype=float))
    c2 = np.cos(np.radians(np.asarray(two_theta, dtype=float))) ** 2
    return instrument.polarisation + (1.0 - instrument.polarisation) * c2


def divergence_slit_factor(instrument: Instrument, two_theta) -> np.ndarray:
    """Intensity relative to a fixed slit's: 1, or sinθ for a variable slit."""
    theta = np.radians(np.asarray(two_theta, dtype=float)) / 2
    return np.ones_like(theta) if instrument.divergence_slit == "fixed" else np.sin(theta)


def cylinder_absorption(mu_r: float, two_theta, *, nodes: int = 48) -> np.ndarray:
    """Transmission A(2θ) of a cylinder of μR (1 at μR = 0): the mean over its
    cross-section of exp(−μ(l_in + l_out)), by Gauss–Legendre quadrature in
    polar coordinates; the beam along +x, scattered at 2θ in the plane."""
    tth = np.radians(np.atleast_1d(np.asarray(two_theta, dtype=float)))
    if mu_r == 0:
        return np.ones_like(tth)
    r_nodes, r_weights = np.polynomial.legendre.leggauss(nodes)
    radius = (r_nodes + 1) / 2
    r_weights = r_weights / 2
    phi = np.linspace(0, 2 * np.pi, 2 * nodes, endpoint=False)
    x = (radius[:, None] * np.cos(phi)).ravel()
    y = (radius[:, None] * np.sin(phi)).ravel()
    area_weight = (r_weights[:, None] * radius[:, None] * np.ones_like(phi)).ravel()
    area_weight /= area_weight.sum()
    # Path to the surface against the incident direction (−x) and along the scattered one.
    path_in = x + np.sqrt(np.clip(1 - y * y, 0, None))
    out = []
    for angle in tth:
        dx, dy = np.cos(angle), np.sin(angle)
        along = x * dx + y * dy
        path_out = -along + np.sqrt(np.clip(along * along - (x * x + y * y - 1), 0, None))
        out.append(np.sum(area_weight * np.exp(-mu_r * (path_in + path_out))))
    return np.array(out)


def intensity_factor(instrument: Instrument, two_theta) -> np.ndarray:
    """Polarisation × slit × (Debye–Scherrer) absorption, for a reflection at ``two_theta``."""
    factor = polarisation_factor(instrument, two_theta) * divergence_slit_factor(instrument, two_theta)
    if instrument.geometry == "debye-scherrer" and instrument.mu_r:
        factor = factor * cylinder_absorption(instrument.mu_r, two_theta)
    return factor

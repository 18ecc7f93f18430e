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


def peak_shift(instrument: Instrument, two_theta) -> np.ndarray:
    """Δ2θ (deg) that ``instrument`` adds to a reflection at Bragg angle ``two_theta``."""
    tth = np.radians(np.asarray(two_theta, dtype=float))
    if instrument.geometry == "bragg-brentano":
        return instrument.zero + instrument.displacement * np.cos(tth / 2) + instrument.transparency * np.sin(tth)
    return instrument.zero + instrument.x_displacement * np.cos(tth) + instrument.y_displacement * np.sin(tth)


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

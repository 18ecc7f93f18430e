"""The instrument's line shape: the Thompson–Cox–Hastings (1987) pseudo-Voigt
convolved with the Finger–Cox–Jephcoat (1994) axial-divergence weight, and
where that asymmetric line's apex lies.

``fcj_nodes`` is the quadrature ``powdex.refinement.profile`` evaluates every
line with; ``apex_offset`` says how far a peak search's apex of a line lies
from the line's reflection position, so that positions picked from a measured
pattern can be put where a profile fit (and the instrument's calibrated shifts)
place them.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from powdex.instrument.model import TCH_ETA_COEFFICIENTS, Instrument

# Pieces of the Finger–Cox–Jephcoat weight's sloping part, each with its own Gauss–Legendre nodes.
_FCJ_PIECES = 3
_FCJ_SMOOTHING = 2e-3
# The apex search: Gauss–Legendre nodes per piece of the axial-divergence weight, and points per FWHM of
# the grid the line is drawn on.  8 nodes and 200 points move the apex by under 10⁻⁵° against 32 and 1000.
_APEX_ORDER = 8
_APEX_POINTS_PER_FWHM = 200
# The grid reaches this many FWHM either side of the line, plus the asymmetry's reach below it.
_APEX_REACH_FWHM = 2.0


@cache
def _gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(order)


def fcj_nodes(two_theta: np.ndarray, s_l: float, h_l: float, order: int):
    """Finger–Cox–Jephcoat (1994) axial-divergence quadrature for peaks at ``two_theta`` (deg).

    Returns (delta, weight), each (n, 4·order): the profile is
    Σ_j weight_j · pV(2θ' − (2θ − delta_j)), weights summing to one.  The
    weight W(u) = 2 min(S, H)/L for u ≤ |H − S|/L and (H + S)/L − u above, as
    a density in u = h/L: W / ((1 + u²) sin 2φ).  Gauss–Legendre of ``order``
    nodes on [0, |H − S|/L] and on each of ``_FCJ_PIECES`` pieces of the rest
    in equal steps of u², nearly equal steps of the shift (δ ∝ u²), where the
    far tail of a low-angle peak would otherwise fall between nodes."""
    # |H − S| smoothed over _FCJ_SMOOTHING: S and H are exchangeable, and a fit that passes from
    # S > H to S < H would otherwise cross a kink that stalls Levenberg–Marquardt.
    a, b = math.hypot(h_l - s_l, _FCJ_SMOOTHING) - _FCJ_SMOOTHING, h_l + s_l
    nodes, gl_weights = _gauss_legendre(order)
    edges = np.sqrt(a * a + (b * b - a * a) * np.linspace(0.0, 1.0, _FCJ_PIECES + 1))
    edges = np.concatenate([[0.0], edges])
    low, high = edges[:-1, None], edges[1:, None]
    u = (low + (high - low) / 2 * (nodes + 1)).ravel()
    du = ((high - low) / 2 * gl_weights).ravel()
    height = np.concatenate([np.full(order, b - a), b - u[order:]])
    c = np.cos(np.radians(two_theta))[:, None]
    cos_phi = np.clip(c * np.sqrt(1.0 + u * u), -1.0, 1.0)
    two_phi = np.arccos(cos_phi)
    density = du * height / ((1.0 + u * u) * np.maximum(np.sin(two_phi), 1e-9))
    total = density.sum(axis=1, keepdims=True)
    return two_theta[:, None] - np.degrees(two_phi), density / np.where(total > 0, total, 1.0)


def apex_offset(instrument: Instrument, two_theta) -> np.ndarray:
    """How far (deg 2θ) the apex of the instrument's line at reflection position ``two_theta`` lies from it.

    The apex is measured as ``powdex.patterns.search`` measures a peak's: the vertex of a
    parabola fitted to the logarithm of the line's upper half, weighted by its height.  The
    pseudo-Voigt is symmetric, so only the axial-divergence asymmetry (S/L, H/L) moves the apex:
    below the reflection position under 90° 2θ (by about 0.015° at 20° for a lab
    diffractometer's S/L = H/L = 0.02), above it beyond.  The offset includes none of the
    instrument's zero or geometric shifts (``corrected_two_theta`` takes those off)."""
    two_theta = np.atleast_1d(np.asarray(two_theta, dtype=float))
    offsets = np.zeros_like(two_theta)
    if instrument.S_L + instrument.H_L <= 0 or two_theta.size == 0:
        return offsets
    gamma = np.asarray(instrument.fwhm(two_theta), dtype=float)
    q = np.asarray(instrument.lorentzian_fwhm(two_theta), dtype=float) / np.where(gamma > 0, gamma, 1.0)
    eta = np.clip(sum(c * q ** (k + 1) for k, c in enumerate(TCH_ETA_COEFFICIENTS)), 0.0, 1.0)
    delta, weight = fcj_nodes(two_theta, instrument.S_L, instrument.H_L, _APEX_ORDER)
    for i in np.flatnonzero(gamma > 0):
        step = gamma[i] / _APEX_POINTS_PER_FWHM
        reach = _APEX_REACH_FWHM * gamma[i]
        x = np.arange(-reach - max(float(delta[i].max()), 0.0), reach - min(float(delta[i].min()), 0.0), step)
        z = (x[:, None] + delta[i][None, :]) / (gamma[i] / 2)
        line = (eta[i] / (1 + z * z) + (1 - eta[i]) * np.exp(-math.log(2) * z * z)) @ weight[i]
        top = int(np.argmax(line))
        # The upper half around the apex, as the peak search takes it: contiguous, falling away from the apex.
        low, high = top, top
        while low > 0 and line[low - 1] > line[top] / 2:
            low -= 1
        while high < line.size - 1 and line[high + 1] > line[top] / 2:
            high += 1
        window = slice(low, high + 1)
        curvature, slope, _ = np.polyfit(x[window] - x[top], np.log(line[window]), 2, w=line[window])
        offsets[i] = x[top] - slope / (2 * curvature)
    return offsets

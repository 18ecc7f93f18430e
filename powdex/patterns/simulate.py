"""Synthetic lab patterns from a unit cell: Kα1 + Kα2 pseudo-Voigt lines on a sloping background.

For testing and benchmarking peak search where the true lines are known.
Line positions come from the cell (every reflection reachable, no
extinctions), intensities are random (log-uniform over three decades,
times multiplicity), widths follow Caglioti, Paoletti & Ricci (1958):
FWHM² = U tan²θ + V tan θ + W.  The noise is Gaussian with σ a fixed
fraction of the local intensity, as counting noise is at high counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from powdex.crystal import Cell
from powdex.patterns.pattern import Pattern
from powdex.patterns.radiation import tube_lines
from powdex.peaks.units import q2_to_two_theta, two_theta_to_q2

# Caglioti U, V, W (deg²) of a typical laboratory Bragg–Brentano diffractometer.
LAB_CAGLIOTI = (0.004, -0.002, 0.003)


@dataclass(frozen=True, eq=False)
class SimulatedPattern:
    """A synthetic pattern and its true Kα1 lines (2θ, peak height above background, FWHM)."""

    pattern: Pattern
    line_two_theta: np.ndarray
    line_height: np.ndarray
    line_fwhm: np.ndarray


def pseudo_voigt(x: np.ndarray, centre: float, fwhm: float, eta: float) -> np.ndarray:
    """Unit-height pseudo-Voigt: η Lorentzian + (1 − η) Gaussian of the same FWHM."""
    u = (x - centre) / (fwhm / 2)
    return eta / (1 + u**2) + (1 - eta) * np.exp(-np.log(2) * u**2)


def simulate_pattern(
    cell: Cell,
    *,
    anode: str = "Cu",
    two_theta_range: tuple[float, float] = (5.0, 90.0),
    step: float = 0.01,
    caglioti: tuple[float, float, float] = LAB_CAGLIOTI,
    eta: float = 0.5,
    noise: float = 0.02,
    background: tuple[float, float] = (300.0, -2.0),
    strongest: float = 20000.0,
    tube_replicas: tuple[tuple[float, float], ...] = (),
    seed: int = 0,
) -> SimulatedPattern:
    """A Kα1 + Kα2 pattern of ``cell`` with the tube lines of ``anode`` (ratio 1/2).

    ``background`` is (level at the first point, slope per degree);
    ``strongest`` the height of the strongest Kα1 line; ``noise`` the σ of
    the multiplicative Gaussian noise; ``tube_replicas`` adds, for each
    (wavelength Å, fraction), every line again at that wavelength with that
    fraction of its Kα1 height (Kβ, W Lα1: tube lines that are not the
    sample's; they are not among the true lines); ``seed`` fixes every random choice.
    """
    rng = np.random.default_rng(seed)
    tube = tube_lines(anode)
    low, high = two_theta_range
    x = np.arange(low, high + step / 2, step)
    q2_max = float(two_theta_to_q2(high + 1.0, tube.k_alpha1))
    _, q2 = cell.miller_indices_within(q2_max)
    distinct, multiplicity = np.unique(np.round(q2, 10), return_counts=True)
    positions = q2_to_two_theta(distinct, tube.k_alpha1)
    heights = multiplicity * 10.0 ** rng.uniform(-3, 0, distinct.size)
    theta = np.radians(positions / 2)
    u, v, w = caglioti
    widths = np.sqrt(u * np.tan(theta) ** 2 + v * np.tan(theta) + w)
    inside = (positions > low + 0.5) & (positions < high - 0.5)
    positions, heights, widths = positions[inside], heights[inside], widths[inside]
    heights *= strongest / heights.max()
    split = tube.k_alpha2 / tube.k_alpha1
    profile = np.zeros_like(x)
    for centre, height, width in zip(positions, heights, widths):
        near = np.abs(x - centre) < 40 * width
        profile[near] += height * pseudo_voigt(x[near], centre, width, eta)
        alpha2 = np.degrees(2 * np.arcsin(min(np.sin(np.radians(centre / 2)) * split, 1.0)))
        near = np.abs(x - alpha2) < 40 * width
        profile[near] += tube.ratio * height * pseudo_voigt(x[near], alpha2, width, eta)
        for wavelength, fraction in tube_replicas:
            sine = np.sin(np.radians(centre / 2)) * wavelength / tube.k_alpha1
            if sine < 1:
                replica = np.degrees(2 * np.arcsin(sine))
                near = np.abs(x - replica) < 40 * width
                profile[near] += fraction * height * pseudo_voigt(x[near], replica, width, eta)
    level, slope = background
    clean = profile + np.maximum(level + slope * (x - low), 1.0)
    counts = clean + rng.normal(0.0, 1.0, x.size) * noise * clean
    pattern = Pattern(
        x, counts, noise * clean, f"<simulated {cell}>",
        wavelengths=(tube.k_alpha1, tube.k_alpha2), ratio=tube.ratio, sigma_from_file=True,
    )
    return SimulatedPattern(pattern, positions, heights, widths)

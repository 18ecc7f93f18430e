"""Peak search on a measured pattern that knows the Kα doublet.

1. The grid: an uneven or rounded 2θ grid is interpolated onto an even one
   at its median step (positions are then read on the same 2θ scale).
2. Background: SNIP (:mod:`powdex.patterns.background`), with a window of
   twenty times the widest strong peak's FWHM (at least 1.5°).
3. Noise: σ as a function of the local intensity level, from the
   residuals of a smooth narrower than the peaks (see :func:`local_noise`).
4. Kα2 stripping (Rachinger 1948, J. Sci. Instrum. 25, 254): from low angle
   up, the Kα2 part at 2θ is R times the stripped Kα1 profile where the same
   d-spacing diffracts Kα1, sin θ₁ = sin θ · λ₁/λ₂, and is subtracted.
5. Detection on the stripped profile, lightly smoothed (Savitzky–Golay,
   narrower than half a FWHM): a peak must rise ``min_significance`` local
   noise σ above the background and be at least half as wide as the
   pattern's resolution (the median FWHM of its strongest peaks), so noise
   bumps and spikes are not peaks.
6. Each peak's position and height from a Gaussian fit to its upper half
   (the log of a Gaussian is a parabola, so the vertex does not depend on
   where the samples fall), its FWHM from the half-height crossings, its
   integrated intensity from height × FWHM, and the position's standard
   uncertainty from the noise.  A pick where a stronger peak's Kα2 line falls
   (a residue the strip left) is merged into that peak's Kα1 line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from powdex.patterns.background import estimate_background
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

logger = logging.getLogger(__name__)

# A grid whose steps differ by more than this (relative) is resampled onto an even one.
EVEN_GRID_RTOL = 1e-2
# The noise-versus-level curve: at most this many intensity bins, of at least this many points.
NOISE_BINS = 24
NOISE_BLOCK = 128
# Gaussian FWHM / σ and area / (height · FWHM).
FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))
GAUSSIAN_AREA = np.sqrt(np.pi / (4 * np.log(2)))
# A pick at a stronger peak's Kα2 position, within this many of that peak's
# FWHM and weaker than this fraction of it, is that peak's Kα2 line.
KALPHA2_MATCH_FWHM = 0.5
KALPHA2_MAX_HEIGHT_FRACTION = 0.8


@dataclass(frozen=True, eq=False)
class PeakSearch:
    """The peaks found in a pattern, with what the search saw.

    Per peak, sorted by 2θ: ``two_theta`` (the Kα1 line, degrees), its
    standard uncertainty ``sigma``, ``height`` above background,
    ``intensity`` (integrated, the file's units × degrees) and ``fwhm``
    (degrees).  Per point of ``grid``: ``background``, ``stripped`` (the
    Kα1-only net profile) and ``noise`` (σ).  ``notes`` say what was decided.
    """

    two_theta: np.ndarray
    sigma: np.ndarray
    height: np.ndarray
    intensity: np.ndarray
    fwhm: np.ndarray
    grid: np.ndarray
    background: np.ndarray
    stripped: np.ndarray
    noise: np.ndarray
    kalpha2_stripped: bool
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.two_theta.size)


def _odd(points: float, minimum: int) -> int:
    points = max(minimum, int(round(points)))
    return points if points % 2 else points + 1


def _even_grid(pattern: Pattern) -> tuple[np.ndarray, np.ndarray, list[str]]:
    x, y = pattern.two_theta, pattern.intensity
    steps = np.diff(x)
    step = float(np.median(steps))
    if np.ptp(steps) <= EVEN_GRID_RTOL * step:
        return x, y, []
    grid = x[0] + step * np.arange(int(np.floor((x[-1] - x[0]) / step)) + 1)
    note = f"2θ steps {steps.min():.4g}–{steps.max():.4g}°: searched on an even {step:.4g}° grid"
    return grid, np.interp(grid, x, y), [note]


def local_noise(intensity: np.ndarray, smoothing: int) -> np.ndarray:
    """σ of the noise at every point, as a function of the local intensity level.

    The residuals from a Savitzky–Golay smooth of ``smoothing`` points (narrower
    than the peaks, so it follows them) are scaled to σ by the filter's own
    noise gain, then their median is taken in bins of equal population by
    smoothed intensity: counting noise grows with the level (√I for counts,
    ∝ I for a multiplicative error), so a weak peak on a strong one's tail is
    judged against the tail's noise, not the background's.
    """
    from scipy.signal import savgol_coeffs, savgol_filter

    smoothing = max(smoothing, 5)
    smooth = savgol_filter(intensity, smoothing, polyorder=3)
    impulse_response = -savgol_coeffs(smoothing, 3)
    impulse_response[smoothing // 2] += 1
    residual = np.abs(intensity - smooth) / (0.6745 * np.sqrt(np.sum(impulse_response**2)))
    bins = max(1, min(NOISE_BINS, intensity.size // NOISE_BLOCK))
    order = np.argsort(smooth)
    groups = np.array_split(order, bins)
    levels = np.array([np.median(smooth[group]) for group in groups])
    sigmas = np.maximum.accumulate(np.array([np.median(residual[group]) for group in groups]))
    floor = 1e-9 * max(float(np.max(np.abs(intensity))), 1e-300)
    noise = np.interp(smooth, levels, sigmas)
    # Above the top bin's median few points remain to measure: let σ grow in
    # proportion to the level, as fast as any counting error does.
    above = smooth > levels[-1]
    noise[above] = sigmas[-1] * smooth[above] / max(levels[-1], floor)
    return np.maximum(noise, floor)


def strip_kalpha2(
    two_theta: np.ndarray, net: np.ndarray, noise: np.ndarray, wavelengths: tuple[float, float], ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """The Kα1 part of ``net`` on an even grid (Rachinger 1948), and its noise σ.

    Each stripped point carries R times the noise of the point it subtracts,
    which carried R times the noise of its own: σ²ₛ(2θ) = σ²(2θ) + R² σ²ₛ(2θ₁).
    """
    alpha1, alpha2 = wavelengths
    step = float(two_theta[1] - two_theta[0])
    sin_alpha1 = np.sin(np.radians(two_theta / 2)) * (alpha1 / alpha2)
    source = np.degrees(2 * np.arcsin(sin_alpha1))  # where the same d diffracts Kα1
    position = (source - two_theta[0]) / step
    below = np.floor(position).astype(int)
    weight = position - below
    # Cubic (four-point Lagrange) interpolation of the already stripped profile:
    # linear interpolation flattens the Kα1 apex it samples, and the error
    # comes back, alternating in sign, one splitting further on.
    t = weight
    cubic = np.stack([-t * (t - 1) * (t - 2) / 6, (t + 1) * (t - 1) * (t - 2) / 2,
                      -(t + 1) * t * (t - 2) / 2, (t + 1) * t * (t - 1) / 6], axis=1).tolist()
    stripped = net.tolist()
    variance = (noise**2).tolist()
    below = below.tolist()
    weight = weight.tolist()
    for i in range(len(stripped)):
        j = below[i]
        if j < 0:
            continue
        if j + 1 < i:
            variance[i] += ratio**2 * ((1 - weight[i]) * variance[j] + weight[i] * variance[j + 1])
        if j >= 1 and j + 2 < i:
            c0, c1, c2, c3 = cubic[i]
            stripped[i] -= ratio * (c0 * stripped[j - 1] + c1 * stripped[j] + c2 * stripped[j + 1] + c3 * stripped[j + 2])
        elif j + 1 < i:
            stripped[i] -= ratio * ((1 - weight[i]) * stripped[j] + weight[i] * stripped[j + 1])
        elif j + 1 == i:  # the Kα1 point lies within one step below: solve for stripped[i] itself
            w = weight[i]
            stripped[i] = (stripped[i] - ratio * (1 - w) * stripped[j]) / (1 + ratio * w)
        else:
            stripped[i] /= 1 + ratio
    return np.array(stripped), np.sqrt(variance)


def _apex_fit(x: np.ndarray, net: np.ndarray, smooth: np.ndarray, apex: int) -> tuple[float, float, float]:
    """Position, height and FWHM of the peak whose highest smoothed sample is ``apex``."""
    half = smooth[apex] / 2
    low = apex
    while low > 0 and smooth[low - 1] > half and smooth[low - 1] <= smooth[low]:
        low -= 1
    high = apex
    while high < smooth.size - 1 and smooth[high + 1] > half and smooth[high + 1] <= smooth[high]:
        high += 1
    # FWHM from the half-height crossings, interpolated between samples.
    left = x[low] - (x[low] - x[low - 1]) * (smooth[low] - half) / (smooth[low] - smooth[low - 1]) if low > 0 else x[low]
    right = x[high] + (x[high + 1] - x[high]) * (smooth[high] - half) / (smooth[high] - smooth[high + 1]) if high < smooth.size - 1 else x[high]
    fwhm = float(right - left)
    low, high = min(low, max(apex - 1, 0)), max(high, min(apex + 1, smooth.size - 1))
    window = np.arange(low, high + 1)
    window = window[net[window] > 0]
    if window.size >= 3:
        offset_x = x[window] - x[apex]
        curvature, slope, offset = np.polyfit(offset_x, np.log(net[window]), 2, w=net[window])
        if curvature < 0:
            vertex = -slope / (2 * curvature)
            if offset_x[0] <= vertex <= offset_x[-1]:
                return float(x[apex] + vertex), float(np.exp(offset - slope**2 / (4 * curvature))), fwhm
    return float(x[apex]), float(smooth[apex]), fwhm


def _rough_fwhm(x: np.ndarray, y: np.ndarray) -> float:
    """FWHM of the strongest peak above a crude background, for choosing windows."""
    apex = int(np.argmax(y))
    step = float(x[1] - x[0])
    reach = max(3, int(round(2.0 / step)))
    base = float(np.min(y[max(0, apex - reach) : apex + reach + 1]))
    half = base + (y[apex] - base) / 2
    low = apex
    while low > 0 and y[low] > half:
        low -= 1
    high = apex
    while high < y.size - 1 and y[high] > half:
        high += 1
    return max((high - low) * step, 2 * step)


def search_peaks(
    pattern: Pattern,
    *,
    min_significance: float = 5.0,
    strip: bool = True,
    background_method: str = "snip",
    background_window_deg: float | None = None,
    min_fwhm_deg: float | None = None,
) -> PeakSearch:
    """Find the Kα1 peaks of ``pattern`` (see the module notes for the method).

    ``strip=False`` keeps Kα2 in (for a beam known to be Kα1 only when the
    pattern's lines say otherwise); with one wavelength or ratio 0 there is
    nothing to strip.  ``background_window_deg`` (default: 20 × the strongest
    peak's FWHM, at least 1.5°) and ``min_fwhm_deg`` (default: half the median
    FWHM of the strongest peaks) override the automatic choices.  Raises
    :class:`PeakInputError` when nothing stands out of the noise.
    """
    source = pattern.source
    if len(pattern) < 5:
        raise PeakInputError(f"{source}: {len(pattern)} points, too few to search for peaks")
    x, y, notes = _even_grid(pattern)
    step = float(x[1] - x[0])
    rough_fwhm = _rough_fwhm(x, y)
    window = background_window_deg if background_window_deg is not None else max(1.5, 20 * rough_fwhm)
    background = estimate_background(x, y, method=background_method, window_deg=window)
    smoothing = _odd(0.5 * rough_fwhm / step, 3)
    noise = local_noise(y, smoothing)
    net = y - background
    doublet = strip and len(pattern.wavelengths) == 2 and pattern.ratio > 0
    if doublet:
        stripped, noise = strip_kalpha2(x, net, noise, pattern.wavelengths[:2], pattern.ratio)
        notes.append(
            f"Kα2 stripped (Rachinger 1948; λ {pattern.wavelengths[0]:.5f}/{pattern.wavelengths[1]:.5f} Å, ratio {pattern.ratio:g})"
        )
    else:
        stripped = net
    from scipy.signal import find_peaks, savgol_filter  # scipy.signal is slow to import

    smooth = savgol_filter(stripped, smoothing, polyorder=2) if smoothing >= 5 else stripped
    apexes, _ = find_peaks(smooth, height=min_significance * noise, prominence=min_significance * noise)
    if apexes.size == 0:
        raise PeakInputError(f"{source}: no peak stands {min_significance:g} σ of noise above the background")
    fits = np.array([_apex_fit(x, stripped, smooth, apex) for apex in apexes])
    positions, heights, widths = fits.T
    strongest = np.argsort(heights)[::-1][:10]
    resolution = float(np.median(widths[strongest]))
    min_fwhm = min_fwhm_deg if min_fwhm_deg is not None else 0.5 * resolution
    keep = (widths >= min_fwhm) & (heights > 0)
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} maxima narrower than {min_fwhm:.3g}° (half the resolution) are not peaks")
    positions, heights, widths, apexes = positions[keep], heights[keep], widths[keep], apexes[keep]
    if doublet:
        ghost = _kalpha2_ghosts(positions, heights, widths, pattern.wavelengths[:2])
        if ghost.any():
            notes.append(f"{int(ghost.sum())} residual Kα2 maxima merged into their Kα1 lines")
        positions, heights, widths, apexes = positions[~ghost], heights[~ghost], widths[~ghost], apexes[~ghost]
    points_per_peak = np.maximum(widths / step, 1.0)
    sigma = widths / FWHM_PER_SIGMA * noise[apexes] / (heights * np.sqrt(points_per_peak))
    order = np.argsort(positions)
    logger.debug("%s: %d peaks, resolution %.4g°", source, positions.size, resolution)
    return PeakSearch(
        two_theta=positions[order],
        sigma=sigma[order],
        height=heights[order],
        intensity=(GAUSSIAN_AREA * heights * widths)[order],
        fwhm=widths[order],
        grid=x,
        background=background,
        stripped=stripped,
        noise=noise,
        kalpha2_stripped=doublet,
        notes=tuple(notes),
    )


def _kalpha2_ghosts(positions, heights, widths, wavelengths) -> np.ndarray:
    """Which picks sit on a stronger pick's Kα2 line."""
    alpha1, alpha2 = wavelengths
    sin_alpha2 = np.clip(np.sin(np.radians(positions / 2)) * (alpha2 / alpha1), -1, 1)
    kalpha2_positions = np.degrees(2 * np.arcsin(sin_alpha2))
    ghost = np.zeros(positions.size, dtype=bool)
    for parent in np.argsort(heights)[::-1]:
        if ghost[parent]:
            continue
        near = np.abs(positions - kalpha2_positions[parent]) <= KALPHA2_MATCH_FWHM * widths[parent]
        ghost |= near & (heights < KALPHA2_MAX_HEIGHT_FRACTION * heights[parent])
    return ghost

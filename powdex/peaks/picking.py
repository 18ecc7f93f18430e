"""Raw powder patterns: reading (2θ, intensity) files and picking peaks from them."""

from dataclasses import dataclass
from os import PathLike

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import find_peaks, savgol_filter

from .peaklist import EntryLabels, PeakInputError, PeakList, first_problem, validate_positions
from .text_table import parse_text_table, read_text

# Fewer points than this cannot hold a peak with a background around it.
MIN_PATTERN_POINTS = 5


@dataclass(frozen=True, eq=False)
class Pattern:
    """A measured powder pattern: 2θ in degrees (increasing) and intensity."""

    two_theta: np.ndarray
    intensity: np.ndarray
    source: str
    wavelength: float | None


def read_pattern(path: str | PathLike) -> Pattern:
    """Read a two-column (2θ, intensity) pattern (``.xy``, ``.xye``, ``.csv``, ...).

    The text syntax is that of peak lists (comments, separators, an optional
    header, a ``# wavelength:`` comment); columns after the second, such as
    the uncertainties of ``.xye`` files, are ignored.  2θ must lie in
    (0, 180) and increase strictly from line to line.  Problems raise
    :class:`PeakInputError` naming the file and line.
    """
    table = parse_text_table(read_text(path), str(path))
    columns = table.leading_columns(2, ("2θ", "intensity"))
    two_theta, intensity = columns[:, 0], columns[:, 1]
    labels = EntryLabels(table.source, table.line_numbers)
    validate_positions(two_theta, "2theta", labels)
    first_problem(
        labels,
        [
            (~np.isfinite(intensity), lambda i: f"non-finite intensity {intensity[i]}"),
            (
                np.r_[False, np.diff(two_theta) <= 0],
                lambda i: f"2θ {two_theta[i]:g} does not increase from {two_theta[i - 1]:g} on {labels.name(i - 1)}",
            ),
        ],
    )
    if two_theta.size < MIN_PATTERN_POINTS:
        raise PeakInputError(f"{table.source}: {two_theta.size} points, a pattern needs at least {MIN_PATTERN_POINTS}")
    return Pattern(two_theta, intensity, table.source, table.wavelength)


def _odd_window(width_deg: float, step_deg: float, minimum: int) -> int:
    points = max(minimum, int(round(width_deg / step_deg)))
    return points if points % 2 else points + 1


def _noise_level(intensity: np.ndarray) -> float:
    """Robust σ of the point-to-point noise.

    Second differences cancel smooth background and most of the peak shape;
    for white noise of σ they have variance 6σ², and the median absolute
    value (÷ 0.6745 for a normal distribution) ignores the peaks' share.
    """
    second_differences = np.diff(intensity, n=2)
    return float(np.median(np.abs(second_differences)) / 0.6745 / np.sqrt(6))


def _refine_apex(two_theta: np.ndarray, net: np.ndarray, smooth: np.ndarray, apex: int) -> tuple[float, float]:
    """Sub-step position and height of the peak whose highest sample is ``apex``.

    Fits a parabola to log(net) over the contiguous points above half the
    apex height: the log of a Gaussian is exactly a parabola, so the vertex
    is unbiased however the samples straddle the top, and using the whole
    upper half averages the noise down.  Weights ∝ net because the noise of
    log(net) is σ/net.  Falls back to the apex sample when the fit is not a
    maximum inside the window (e.g. a flat-topped or one-point peak).
    """
    half = smooth[apex] / 2
    low = apex
    while low > 0 and smooth[low - 1] > half:
        low -= 1
    high = apex
    while high < smooth.size - 1 and smooth[high + 1] > half:
        high += 1
    # A parabola needs three points even when the peak is narrower than that.
    low, high = min(low, max(apex - 1, 0)), max(high, min(apex + 1, smooth.size - 1))
    window = np.arange(low, high + 1)
    window = window[net[window] > 0]
    if window.size >= 3:
        x = two_theta[window] - two_theta[apex]
        curvature, slope, offset = np.polyfit(x, np.log(net[window]), 2, w=net[window])
        if curvature < 0:
            vertex = -slope / (2 * curvature)
            if x[0] <= vertex <= x[-1]:
                return float(two_theta[apex] + vertex), float(np.exp(offset - slope**2 / (4 * curvature)))
    return float(two_theta[apex]), float(smooth[apex])


def pick_peaks(
    two_theta,
    intensity,
    *,
    wavelength: float,
    min_prominence: float | None = None,
    min_separation_deg: float = 0.05,
    max_peaks: int | None = None,
    background_window_deg: float = 1.0,
    source: str = "<pattern>",
) -> PeakList:
    """Find the peaks of a pattern sampled on an even 2θ grid.

    1. Smoothing: a Savitzky–Golay filter no wider than ``min_separation_deg``
       (so it cannot merge peaks that far apart).
    2. Background: a rolling minimum of the smoothed pattern over
       ``background_window_deg`` (wider than any peak, so peaks do not lift
       it), then a rolling mean over the same window to smooth its steps; a
       sloping background keeps its slope.
    3. Detection: ``scipy.signal.find_peaks`` on the smoothed pattern less
       background, with maxima closer than ``min_separation_deg`` merged into
       the stronger one and ``min_prominence`` (default: six times the
       estimated noise σ).
    4. Positions and heights above background from a Gaussian fit to each
       peak's upper half (see ``_refine_apex``).

    ``max_peaks`` keeps the most prominent peaks.  Returns a PeakList in 2θ
    at ``wavelength`` whose intensities are the heights above background.
    """
    two_theta = np.asarray(two_theta, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    if two_theta.ndim != 1 or two_theta.shape != intensity.shape:
        raise ValueError(f"two_theta {two_theta.shape} and intensity {intensity.shape} must be equal-length 1-D arrays")
    if two_theta.size < MIN_PATTERN_POINTS:
        raise ValueError(f"a pattern needs at least {MIN_PATTERN_POINTS} points, got {two_theta.size}")
    steps = np.diff(two_theta)
    if not np.all(steps > 0):
        raise ValueError("two_theta must increase strictly")
    step = float(np.median(steps))

    largest_odd_window = intensity.size if intensity.size % 2 else intensity.size - 1
    smoothing_window = min(_odd_window(min_separation_deg, step, minimum=5), largest_odd_window)
    smoothed = savgol_filter(intensity, smoothing_window, polyorder=2)
    # The minimum is taken of the smoothed pattern: the minimum of raw noisy
    # counts sits a few σ below the true background and would inflate heights.
    background_window = _odd_window(background_window_deg, step, minimum=3)
    background = uniform_filter1d(
        minimum_filter1d(smoothed, background_window, mode="nearest"), background_window, mode="nearest"
    )
    net = intensity - background
    smooth = smoothed - background

    if min_prominence is None:
        # A noise-free pattern gives σ = 0; the tiny floor still ignores rounding ripples.
        min_prominence = max(6 * _noise_level(intensity), 1e-9 * float(np.max(np.abs(net))))
    apexes, properties = find_peaks(
        smooth, prominence=min_prominence, distance=max(1, int(round(min_separation_deg / step)))
    )
    if max_peaks is not None:
        strongest = np.sort(np.argsort(properties["prominences"])[::-1][:max_peaks])
        apexes = apexes[strongest]
    refined = [_refine_apex(two_theta, net, smooth, apex) for apex in apexes]
    if not refined:
        raise PeakInputError(f"{source}: no peaks found (min_prominence {min_prominence:g})")
    positions, heights = np.array(refined).T
    return PeakList.from_values(positions, units="2theta", wavelength=wavelength, intensity=heights, source=source)

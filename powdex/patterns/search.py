"""Peak search on a measured pattern that knows the Kα doublet.

1. The grid: an uneven or rounded 2θ grid is interpolated onto an even one
   at its median step (positions are then read on the same 2θ scale).
2. Background: SNIP (:mod:`powdex.patterns.background`), with a window of
   twenty times the widest strong peak's FWHM (at least 1.5°).
3. Noise: σ as a function of the local intensity level, from the
   residuals of a smooth narrower than the peaks (see :func:`local_noise`),
   or the file's own σ where they are larger.
4. Kα2 stripping (Rachinger 1948, J. Sci. Instrum. 25, 254): from low angle
   up, the Kα2 part at 2θ is R times the stripped Kα1 profile where the same
   d-spacing diffracts Kα1, sin θ₁ = sin θ · λ₁/λ₂, and is subtracted.
5. Detection on the stripped profile, lightly smoothed (Savitzky–Golay,
   narrower than half a FWHM): a peak must rise ``min_significance`` local
   noise σ above the background and be at least half as wide as the
   pattern's resolution at its angle, so noise bumps and spikes are not
   peaks.  The resolution is the Caglioti, Paoletti & Ricci (1958) curve
   FWHM² = U tan²θ + V tan θ + W fitted to the strongest peaks' widths
   (kept within a factor two of their median, where the fit extrapolates):
   on constant-wavelength neutron data the peaks are twice as wide at low
   angle as in the middle, and a narrow bump there is not a line.
6. Each peak's position and height from a Gaussian fit to its upper half
   (the log of a Gaussian is a parabola, so the vertex does not depend on
   where the samples fall), its FWHM from the half-height crossings, its
   integrated intensity from height × FWHM, and the position's standard
   uncertainty from the noise.  A pick where a stronger peak's Kα2 line falls
   (a residue the strip left) is merged into that peak's Kα1 line.
7. Lines of the tube, not the sample (a Kα1 wavelength that is a known
   anode's): a weak pick where a strong peak's d-spacing diffracts the
   tube's Kβ, tungsten Lα1 or the β filter's absorption edge, within its
   position error, is set aside with a note (``PeakSearch.set_aside``)
   rather than handed to indexing as an impurity line; so are the echoes
   that Kα2 stripping makes of a tube line (it is no doublet), two and four
   Kα2 splittings above it, also of a replica hidden under a stronger line.

With a calibrated ``Instrument`` the search knows what the pattern's own
peaks only suggest: a sample can only broaden the instrument's lines, so the
minimum width is the instrument's FWHM at each angle less the pick's own width
error (half of it for a pick at the detection limit or within two FWHM of
another maximum, 85 % for a strong isolated one; ``instrument_width_floor``), each position's
σ is computed with at least the instrument's width, and a tube line's replica
positions are predicted from the Bragg angles (the positions less the
instrument's zero and displacement shifts), where the same d-spacing
diffracts.  Each position is also moved from the apex to the line's
reflection position, where a profile fit and the calibration's shifts put it:
axial divergence (Finger–Cox–Jephcoat 1994) skews a low-angle line towards
lower 2θ, so its apex lies below that position (by about 0.015° at 20° 2θ on
a lab diffractometer; ``powdex.instrument.apex_offset``).  Without the move,
taking off a calibrated zero measured on reflection positions would leave
errors of that size in the low-angle peaks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from powdex.instrument import Instrument, apex_offset, corrected_two_theta
from powdex.patterns.background import estimate_background
from powdex.patterns.pattern import Pattern
from powdex.patterns.radiation import W_L_ALPHA1, tube_of_k_alpha1
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
# Kα2 counts as absent when the strong peaks show less than this fraction of
# the expected ratio (the median over at most this many resolved doublets).
KALPHA2_ABSENT_FRACTION = 0.3
KALPHA2_TEST_PEAKS = 12
KALPHA2_MAX_HEIGHT_FRACTION = 0.8
# The resolution curve is fitted to the peaks above this fraction of the strongest,
# refitted this many times without those wider or narrower than BLEND_WIDTH times the fit.
RESOLUTION_MIN_HEIGHT = 0.05
RESOLUTION_REFITS = 3
BLEND_WIDTH = 1.3
# A sample only broadens the instrument's lines, so with a calibrated instrument a pick narrower than its FWHM
# by more than the pick's own width error is a spike or noise bump.  The half-height width of a line
# standing s noise σ high scatters down to about (1 − WIDTH_ERROR_PER_SNR / s) of the true width (isolated
# simulated lines: none of 315 at s ≥ 8 below 0.90; of 103 below s = 8 the narrowest 0.46); the floor is that
# fraction of the instrument's FWHM, kept within these bounds.
WIDTH_ERROR_PER_SNR = 3.0
INSTRUMENT_FLOOR_RANGE = (0.5, 0.85)
# A neighbour this close (in the instrument's FWHM) and at least this fraction as high cuts a maximum's
# half-height width short: such a maximum keeps the plain half-FWHM floor.
BLEND_NEIGHBOUR_FWHM = 2.0
BLEND_NEIGHBOUR_HEIGHT = 0.25
# Wavelengths that differ by less than this (Å) are the same tube line: files round Cu Kα1 to 1.5405–1.54060.
SAME_LINE_TOLERANCE = 2e-4
# The strong peaks' median FWHM against the instrument's at their angles: below the first, the instrument
# file cannot be this diffractometer's; above the second, it says nothing the pattern's own widths do not.
NARROW_FOR_INSTRUMENT = 0.8
BROAD_FOR_INSTRUMENT = 1.5
# A pick at a strong peak's tube-line replica is that replica when it lies within
# the larger of this many combined position σ and this fraction of the parent's
# FWHM, and is at most this fraction of the parent's height: unfiltered Kβ is
# about a quarter of Kα1, W Lα1 and the filter-edge step a few per cent.
TUBE_LINE_MATCH_SIGMA = 3.0
TUBE_LINE_MATCH_FWHM = 0.3
KBETA_MAX_HEIGHT_FRACTION = 0.35
W_L_ALPHA1_MAX_HEIGHT_FRACTION = 0.15
FILTER_EDGE_MAX_HEIGHT_FRACTION = 0.15
# A tube line is present when at least this share (and this many) of the strongest
# peaks (at most this many tested) show it; its replicas are then the picks whose
# height ratio to their parent is within this factor of the median ratio.
TUBE_LINE_TEST_PEAKS = 8
TUBE_LINE_SEEN_FRACTION = 0.5
TUBE_LINE_MIN_SEEN = 3
TUBE_LINE_RATIO_SPREAD = 3.0
# A pick too high to be a parent's replica, within this many of the parent's FWHM of the replica's position,
# hides the replica (an unresolved shoulder of a stronger line is no maximum): that parent is not tested.
TUBE_LINE_MASK_FWHM = 1.0


@dataclass(frozen=True)
class TubeLinePick:
    """A pick set aside as a tube line: where, how high, which line, and the sample peak it replicates."""

    two_theta: float
    height: float
    line: str
    parent_two_theta: float


@dataclass(frozen=True, eq=False)
class PeakSearch:
    """The peaks found in a pattern, with what the search saw.

    Per peak, sorted by 2θ: ``two_theta`` (the Kα1 line's apex, degrees; with an
    instrument its reflection position, see the module notes), its
    standard uncertainty ``sigma``, ``height`` above background,
    ``intensity`` (integrated, the file's units × degrees) and ``fwhm``
    (degrees).  Per point of ``grid``: ``background``, ``stripped`` (the
    Kα1-only net profile) and ``noise`` (σ).  ``kalpha2`` says what became
    of a Kα2 line: ``"stripped"``, ``"absent"`` (the pattern's lines name one
    but the strong peaks show none, so positions are Kα1), ``"kept"``
    (``strip=False``: positions are Kα1/Kα2 centroids) or ``"none"`` (one
    wavelength).  ``notes`` say what was decided.
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
    kalpha2: str
    notes: tuple[str, ...] = ()
    set_aside: tuple[TubeLinePick, ...] = ()

    def __len__(self) -> int:
        return int(self.two_theta.size)

    @property
    def kalpha2_stripped(self) -> bool:
        return self.kalpha2 == "stripped"

    @property
    def positions_are_centroids(self) -> bool:
        """Whether positions are unresolved Kα1/Kα2 centroids rather than Kα1 lines."""
        return self.kalpha2 == "kept"


def _odd(points: float, minimum: int) -> int:
    points = max(minimum, round(points))
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


def resolution_curve(two_theta, fwhm, at) -> np.ndarray:
    """The FWHM expected at 2θ ``at`` from the peaks (``two_theta``, ``fwhm``): a Caglioti fit.

    FWHM² = U tan²θ + V tan θ + W by least squares, refitted without the
    peaks wider than ``BLEND_WIDTH`` times the fit (unresolved blends) or
    narrower by that factor (spikes and noise), and
    clipped to within a factor two of the median width (the fit is a trend
    and extrapolates beyond the peaks); the median itself when fewer than
    five peaks span at least 10° 2θ.
    """
    median = float(np.median(fwhm))
    if fwhm.size < 5 or np.ptp(two_theta) < 10.0:
        return np.full(np.shape(at), median)
    tan = np.tan(np.radians(two_theta / 2))
    design = np.stack([tan**2, tan, np.ones_like(tan)], axis=1)
    single = np.ones(fwhm.size, dtype=bool)
    for _ in range(RESOLUTION_REFITS):
        coefficients, *_ = np.linalg.lstsq(design[single], fwhm[single] ** 2, rcond=None)
        expected = np.sqrt(np.maximum(design @ coefficients, 0.0))
        single = (fwhm <= BLEND_WIDTH * expected) & (fwhm >= expected / BLEND_WIDTH)
        if single.sum() < 5:
            return np.full(np.shape(at), median)
    tan_at = np.tan(np.radians(np.asarray(at) / 2))
    squared = coefficients @ np.stack([tan_at**2, tan_at, np.ones_like(tan_at)])
    return np.clip(np.sqrt(np.maximum(squared, 0.0)), 0.5 * median, 2.0 * median)


def instrument_width_floor(instrument_fwhm, snr):
    """The narrowest FWHM a line of height ``snr`` (in noise σ) may show on an instrument of FWHM
    ``instrument_fwhm``: (1 − ``WIDTH_ERROR_PER_SNR`` / snr) of it, within ``INSTRUMENT_FLOOR_RANGE``."""
    with np.errstate(divide="ignore"):
        fraction = 1.0 - WIDTH_ERROR_PER_SNR / np.asarray(snr, dtype=float)
    return np.asarray(instrument_fwhm) * np.clip(fraction, *INSTRUMENT_FLOOR_RANGE)


def _same_doublet(pattern: Pattern, instrument: Instrument) -> bool:
    """Whether ``instrument`` describes the Kα1/Kα2 doublet of ``pattern``'s tube (both lines within
    ``SAME_LINE_TOLERANCE`` Å): then its ratio, calibrated, is the one to strip with."""
    if len(pattern.wavelengths) < 2 or len(instrument.wavelengths) < 2 or instrument.ratio <= 0:
        return False
    return all(abs(a - b) <= SAME_LINE_TOLERANCE for a, b in zip(pattern.wavelengths[:2], instrument.wavelengths[:2]))


def instrument_mismatch(instrument: Instrument, width_ratio: float) -> list[str]:
    """A note when the strong peaks' median FWHM, ``width_ratio`` times the instrument's, says the instrument
    file is not this diffractometer's: narrower than it allows, or ``BROAD_FOR_INSTRUMENT`` times broader."""
    name = instrument.source or "(given)"
    if width_ratio < NARROW_FOR_INSTRUMENT:
        return [f"the strong peaks are {width_ratio:.2f} × the FWHM of the instrument {name}, narrower than it allows: "
                "the file does not describe this diffractometer, and its widths refuse real lines"]
    if width_ratio > BROAD_FOR_INSTRUMENT:
        return [f"the strong peaks are {width_ratio:.1f} × the FWHM of the instrument {name}: sample broadening, or "
                "the file is not this diffractometer's; its widths then reject no noise the pattern's own do not"]
    return []


def _rough_fwhm(x: np.ndarray, y: np.ndarray) -> float:
    """FWHM of the strongest peak above a crude background, for choosing windows."""
    apex = int(np.argmax(y))
    step = float(x[1] - x[0])
    reach = max(3, round(2.0 / step))
    base = float(np.min(y[max(0, apex - reach) : apex + reach + 1]))
    half = base + (y[apex] - base) / 2
    low = apex
    while low > 0 and y[low] > half:
        low -= 1
    high = apex
    while high < y.size - 1 and y[high] > half:
        high += 1
    # low and high are the first samples below half height on either side.
    return max((high - low - 1) * step, 2 * step)


def search_peaks(
    pattern: Pattern,
    *,
    min_significance: float = 5.0,
    strip: bool = True,
    background_method: str = "snip",
    background_window_deg: float | None = None,
    min_fwhm_deg: float | None = None,
    min_relative_height: float = 0.002,
    instrument: Instrument | None = None,
) -> PeakSearch:
    """Find the Kα1 peaks of ``pattern`` (see the module notes for the method).

    ``strip=False`` keeps Kα2 in (for a beam known to be Kα1 only when the
    pattern's lines say otherwise); with one wavelength or ratio 0 there is
    nothing to strip.  ``background_window_deg`` (default: 20 × the strongest
    peak's FWHM, at least 1.5°) and ``min_fwhm_deg`` (default: half the
    resolution at each peak's angle, :func:`resolution_curve`, and with an
    ``instrument`` at least :func:`instrument_width_floor` of its FWHM there)
    override the automatic choices.  An ``instrument`` of the pattern's tube
    (the same two wavelengths) also gives the Kα2/Kα1 ratio to strip with: a
    calibrated ratio (``calibrate(refine_ratio=True)``) rather than the file's
    nominal one.  Peaks lower
    than ``min_relative_height`` of the strongest are left out: at that level
    the residues of Kα2 stripping and of profile tails match real lines, and
    indexing gains nothing from them.  Raises
    :class:`PeakInputError` when nothing stands out of the noise.
    """
    source = pattern.source
    if len(pattern) < 5:
        raise PeakInputError(f"{source}: {len(pattern)} points, too few to search for peaks")
    x, y, notes = _even_grid(pattern)
    if instrument is not None and _same_doublet(pattern, instrument) and instrument.ratio != pattern.ratio:
        notes.append(f"Kα2/Kα1 ratio {instrument.ratio:g} from the instrument {instrument.source or '(given)'} "
                     f"(the file's: {pattern.ratio:g})")
        pattern = replace(pattern, ratio=instrument.ratio)
    step = float(x[1] - x[0])
    rough_fwhm = _rough_fwhm(x, y)
    window = background_window_deg if background_window_deg is not None else max(1.5, 20 * rough_fwhm)
    background = estimate_background(x, y, method=background_method, window_deg=window)
    smoothing = _odd(0.5 * rough_fwhm / step, 3)
    noise = local_noise(y, smoothing)
    if pattern.sigma_from_file:
        # The file's σ know what the scatter does not show: merged detector banks and
        # counting times that change with angle (low-angle synchrotron points carry
        # several times the σ of high-angle ones at the same level).
        noise = np.maximum(noise, np.interp(x, pattern.two_theta, pattern.sigma))
    net = y - background
    from scipy.signal import find_peaks, savgol_filter  # scipy.signal is slow to import

    kalpha2 = "none"
    if len(pattern.wavelengths) == 2 and pattern.ratio > 0:
        kalpha2 = "stripped" if strip else "kept"
        seen = seen_kalpha2_ratio(x, net, noise, pattern.wavelengths[:2], rough_fwhm, smoothing)
        if seen is not None and seen < pattern.ratio * KALPHA2_ABSENT_FRACTION:
            kalpha2 = "absent"
            notes.append(f"no Kα2 seen beside the strong peaks (Kα2/Kα1 {seen:.2f}, not {pattern.ratio:g}): positions are Kα1")
    if kalpha2 == "stripped":
        stripped, noise = strip_kalpha2(x, net, noise, pattern.wavelengths[:2], pattern.ratio)
        notes.append(
            f"Kα2 stripped (Rachinger 1948; λ {pattern.wavelengths[0]:.5f}/{pattern.wavelengths[1]:.5f} Å, ratio {pattern.ratio:g})"
        )
    else:
        stripped = net

    # Detection smooths over about one FWHM (a cubic Savitzky–Golay keeps the
    # peak's height) and judges the smoothed apex against the smoothed noise.
    detection = _odd(rough_fwhm / step, 5)
    if detection < stripped.size:
        from scipy.signal import savgol_coeffs

        smooth = savgol_filter(stripped, detection, polyorder=3)
        smoothed_noise = noise * float(np.sqrt(np.sum(savgol_coeffs(detection, 3) ** 2)))
    else:
        smooth, smoothed_noise = stripped, noise
    threshold = min_significance * smoothed_noise
    apexes, _ = find_peaks(smooth, height=threshold, prominence=threshold)
    if apexes.size == 0:
        raise PeakInputError(f"{source}: no peak stands {min_significance:g} σ of noise above the background")
    fits = np.array([_apex_fit(x, stripped, smooth, apex) for apex in apexes])
    positions, heights, widths = fits.T
    strong = heights >= RESOLUTION_MIN_HEIGHT * heights.max()
    resolution = float(np.median(widths[strong]))
    if min_fwhm_deg is not None:
        min_fwhm = np.full(positions.size, min_fwhm_deg)
    else:
        min_fwhm = 0.5 * resolution_curve(positions[strong], widths[strong], positions)
        if instrument is not None:  # the floor the peaks' own widths cannot lower
            expected = instrument.fwhm(positions)
            notes.extend(instrument_mismatch(instrument, float(np.median(widths[strong] / expected[strong]))))
            # A maximum with another within BLEND_NEIGHBOUR_FWHM of it, at least BLEND_NEIGHBOUR_HEIGHT of its
            # height, has its half-height width cut short by that neighbour: only the plain half-FWHM floor
            # applies to it.  (Weaker maxima beside it, such as the ripples Kα2 stripping leaves beside a
            # spike, do not reach its half height.)
            near = np.abs(positions[:, None] - positions[None, :]) < BLEND_NEIGHBOUR_FWHM * expected[:, None]
            near &= heights[None, :] >= BLEND_NEIGHBOUR_HEIGHT * heights[:, None]
            np.fill_diagonal(near, False)
            blended = near.any(axis=1)
            snr = np.where(blended, 0.0, heights / noise[apexes])
            min_fwhm = np.maximum(min_fwhm, instrument_width_floor(expected, snr))
    keep = (widths >= min_fwhm) & (heights > 0)
    if (~keep).any():
        floor = "half the resolution" + (" or the instrument's FWHM less their width error" if instrument is not None
                                         else "")
        notes.append(f"{int((~keep).sum())} maxima narrower than {floor} at their angle "
                     f"({min_fwhm.min():.3g}–{min_fwhm.max():.3g}°) are not peaks")
    positions, heights, widths, apexes = positions[keep], heights[keep], widths[keep], apexes[keep]
    if kalpha2 == "stripped":
        ghost = _kalpha2_ghosts(positions, heights, widths, pattern.wavelengths[:2])
        if ghost.any():
            notes.append(f"{int(ghost.sum())} residual Kα2 maxima merged into their Kα1 lines")
        positions, heights, widths, apexes = positions[~ghost], heights[~ghost], widths[~ghost], apexes[~ghost]
    if instrument is not None:
        offsets = apex_offset(instrument, positions)
        positions = positions - offsets
        if offsets.size and np.any(offsets):
            notes.append(f"positions are line positions: the instrument's axial-divergence asymmetry puts the apexes "
                         f"{offsets.min():+.4f} to {offsets.max():+.4f}° from them (Finger–Cox–Jephcoat 1994)")
    # A peak narrower than the instrument allows is a noisy fit of its width: σ takes the instrument's.
    sigma_widths = widths if instrument is None else np.maximum(widths, instrument.fwhm(positions))
    points_per_peak = np.maximum(sigma_widths / step, 1.0)
    sigma = sigma_widths / FWHM_PER_SIGMA * noise[apexes] / (heights * np.sqrt(points_per_peak))
    # Replicas lie where the same d-spacing diffracts: at Bragg angles, before the instrument's shifts.
    bragg = positions if instrument is None else corrected_two_theta(instrument, positions)
    # The height a pick needs at each grid point to be detected: where a replica could not be seen, its absence
    # says nothing about the tube line.
    set_aside, hidden = tube_line_picks(bragg, heights, widths, sigma, pattern.wavelengths[0], float(x[0]),
                                        detection=(x, threshold),
                                        k_beta_ratio=None if instrument is None else instrument.k_beta_ratio,
                                        ) if pattern.wavelengths else ([], [])
    if set_aside and kalpha2 == "stripped":
        set_aside += strip_echo_picks(set_aside + hidden, bragg, heights, widths, sigma, pattern.wavelengths[:2],
                                      pattern.ratio)
    if set_aside:
        replica = np.isin(bragg, [pick.two_theta for pick in set_aside])
        # Back to the measured scale; a hidden replica, the parent of an echo, is no pick: its shift is interpolated.
        shift = (positions - bragg).tolist()
        set_aside = [replace(pick, two_theta=pick.two_theta + float(np.interp(pick.two_theta, bragg, shift)),
                             parent_two_theta=pick.parent_two_theta + float(np.interp(pick.parent_two_theta, bragg,
                                                                                      shift)))
                     for pick in set_aside]
        positions, heights, widths, sigma = positions[~replica], heights[~replica], widths[~replica], sigma[~replica]
        notes.append(f"{len(set_aside)} picks set aside as tube lines, not the sample's: " + ", ".join(
            f"{pick.two_theta:.3f}° ({pick.line} of {pick.parent_two_theta:.3f}°)" for pick in set_aside))
    # The weak peaks are left out only now: a tube line's replicas of the weaker lines, below the cut, are
    # what shows it to be a tube line (a Kβ of 0.3 % beside one strong line alone is not set aside).
    weak = heights < min_relative_height * heights.max(initial=0.0)
    if weak.any():
        notes.append(f"{int(weak.sum())} peaks under {min_relative_height:.1%} of the strongest left out")
    positions, heights, widths, sigma = positions[~weak], heights[~weak], widths[~weak], sigma[~weak]
    order = np.argsort(positions)
    if instrument is not None:
        notes.append(f"instrument {instrument.source or '(given)'}: minimum widths, position σ and tube-line replicas "
                     "from its profile and shifts")
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
        kalpha2=kalpha2,
        notes=tuple(notes),
        set_aside=tuple(set_aside),
    )


def seen_kalpha2_ratio(x, net, noise, wavelengths, fwhm: float, smoothing: int) -> float | None:
    """The Kα2/Kα1 height ratio the strong peaks show, None when too few are resolved doublets.

    For each of the strongest peaks whose Kα2 line lies at least 1.2 FWHM
    away, the net profile at the Kα2 position less its value as far on the
    other side (the peak's own tail) over the peak height; the median of these.
    """
    from scipy.signal import find_peaks, savgol_filter

    smooth = savgol_filter(net, smoothing, polyorder=2) if smoothing >= 5 else net
    apexes, properties = find_peaks(smooth, prominence=5 * noise)
    by_strength = apexes[np.argsort(properties["prominences"])[::-1]]
    alpha1, alpha2 = wavelengths
    centres = x[by_strength]
    splits = np.degrees(2 * np.arcsin(np.minimum(np.sin(np.radians(centres / 2)) * alpha2 / alpha1, 1.0))) - centres
    ratios = []
    for rank, (apex, centre, split) in enumerate(zip(by_strength, centres, splits)):
        if len(ratios) == KALPHA2_TEST_PEAKS:
            break
        # A maximum one splitting above a stronger one may be that one's Kα2: not a test peak.
        if np.any(np.abs(centres[:rank] + splits[:rank] - centre) < fwhm):
            continue
        if split < 1.2 * fwhm or centre + split > x[-1] or centre - split < x[0]:
            continue
        beside = np.interp(centre + split, x, smooth) - np.interp(centre - split, x, smooth)
        ratios.append(beside / smooth[apex])
    return float(np.median(ratios)) if len(ratios) >= 3 else None


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


def tube_line_picks(positions, heights, widths, sigma, wavelength: float, low: float,
                    detection: tuple[np.ndarray, np.ndarray] | None = None, k_beta_ratio: float | None = None,
                    ) -> tuple[list[TubeLinePick], list[TubeLinePick]]:
    """The picks that are stronger picks' Kβ, W Lα1 or filter-edge replicas (none off a tube's Kα1), and
    the replicas of a tube line found present that lie hidden under stronger lines (their predicted position
    and height: no pick, but Kα2 stripping still echoes them, :func:`strip_echo_picks`).

    A peak at 2θ from Kα1 (λ₁) has its replica at λ where the same d
    diffracts: sin θ' = sin θ · λ/λ₁, and a tube line replicates every peak
    with one height ratio.  So a line is taken as present only when most of
    the strongest peaks whose replica falls inside the scan (from ``low``)
    show a weak pick there; its ratio is their median, and then every pick at
    a replica position with a height ratio within a factor
    ``TUBE_LINE_RATIO_SPREAD`` of it is set aside.  A weak sample line that
    happens to sit at one replica position does not make a tube line.
    ``detection`` (2θ grid, the height a pick needs there to be found) leaves
    out of "most" the peaks whose replica at that ratio would be too weak to see:
    a filtered tube's Kβ of a few tenths of a per cent shows beside the
    strongest lines only.  So are the peaks whose replica falls on a stronger
    line (``_hidden_replicas``), and the next strongest are tested instead: in
    a crowded pattern half of the strongest lines' replicas can lie under
    other lines.

    ``k_beta_ratio`` (a calibrated instrument's, ``Instrument.k_beta_ratio``)
    says the Kβ line instead: at that ratio it is present without that
    evidence, so that a filtered tube's Kβ of a percent, which shows beside the
    one or two strongest lines only and never makes "most", is set aside; at 0
    (a monochromator) no pick is taken for a Kβ replica.  The W Lα1 and
    filter-edge lines are still found from the pattern.
    """
    tube = tube_of_k_alpha1(wavelength)
    if tube is None or positions.size < 2:
        return [], []
    replicas = ((f"{tube.anode} Kβ", tube.k_beta, KBETA_MAX_HEIGHT_FRACTION, k_beta_ratio),
                ("W Lα1", W_L_ALPHA1, W_L_ALPHA1_MAX_HEIGHT_FRACTION, None),
                (f"{tube.anode} β-filter edge", tube.filter_edge, FILTER_EDGE_MAX_HEIGHT_FRACTION, None))
    sin_theta = np.sin(np.radians(positions / 2))
    by_strength = np.argsort(heights)[::-1]
    taken = np.zeros(positions.size, dtype=bool)
    picks, hidden_replicas = [], []
    for line, replica_wavelength, max_fraction, known_ratio in replicas:
        if known_ratio == 0:
            continue
        sine = sin_theta * replica_wavelength / wavelength
        inside = sine < 1
        where = np.full(positions.size, np.nan)
        where[inside] = np.degrees(2 * np.arcsin(sine[inside]))
        # d(2θ')/d(2θ) = tan θ' / tan θ carries a parent's position error to its replica.
        gain = np.tan(np.radians(where / 2)) / np.tan(np.radians(positions / 2))
        replica = _replica_picks(positions, heights, widths, sigma, where, gain, taken, max_fraction)
        ratio = known_ratio if known_ratio is not None else _replica_ratio(
            positions, heights, widths, where, replica, by_strength, low, max_fraction, detection)
        if ratio is None:
            continue
        for parent in by_strength:
            index = replica[parent]
            if taken[parent] or not where[parent] > low or index < 0 or taken[index]:
                continue
            if abs(np.log(heights[index] / heights[parent] / ratio)) <= np.log(TUBE_LINE_RATIO_SPREAD):
                taken[index] = True
                picks.append(TubeLinePick(float(positions[index]), float(heights[index]), line, float(positions[parent])))
        # Now that the line's height is known, every replica with a pick higher than it beside it lies hidden.
        under = _hidden_replicas(positions, heights, widths, where, ratio) & (replica < 0) & (where > low)
        hidden_replicas += [TubeLinePick(float(where[parent]), ratio * float(heights[parent]), line,
                                         float(positions[parent]))
                            for parent in np.flatnonzero(under) if not taken[parent]]
    return sorted(picks, key=lambda pick: pick.two_theta), hidden_replicas


def strip_echo_picks(tube_picks: list[TubeLinePick], positions, heights, widths, sigma,
                     wavelengths: tuple[float, float], ratio: float) -> list[TubeLinePick]:
    """The picks that Kα2 stripping made of tube lines: echoes to set aside with them.

    A tube line is one line, not a Kα1/Kα2 doublet, yet the strip subtracts R
    times it one Kα2 splitting above, which leaves a dip, and then R times that
    dip one splitting further, which leaves a peak of R² of the line, and so on:
    positive echoes at two and four splittings (sin θ′ = sin θ · (λ₂/λ₁)ⁿ), of
    R² and R⁴ of the line.  A pick there, within its position error and no
    higher than twice that, is the echo.  ``tube_picks`` may hold replicas
    hidden under stronger lines (no pick): the strip echoes them all the same.
    """
    alpha1, alpha2 = wavelengths
    taken = np.isin(positions, [pick.two_theta for pick in tube_picks])
    echoes = []
    for pick in tube_picks:
        parent = int(np.argmin(np.abs(positions - pick.two_theta)))
        for splittings in (2, 4):
            sine = np.sin(np.radians(pick.two_theta / 2)) * (alpha2 / alpha1) ** splittings
            if sine >= 1:
                break
            where = np.degrees(2 * np.arcsin(sine))
            tolerance = np.maximum(TUBE_LINE_MATCH_SIGMA * np.hypot(sigma, sigma[parent]),
                                   TUBE_LINE_MATCH_FWHM * widths[parent])
            match = (np.abs(positions - where) <= tolerance) & ~taken & (heights <= 2 * ratio**splittings * pick.height)
            if match.any():
                echo = int(np.flatnonzero(match)[np.argmax(heights[match])])
                taken[echo] = True
                echoes.append(TubeLinePick(float(positions[echo]), float(heights[echo]),
                                           f"{pick.line} strip echo", pick.two_theta))
    return echoes


def _replica_ratio(positions, heights, widths, where, replica, by_strength, low: float, max_fraction: float,
                   detection: tuple[np.ndarray, np.ndarray] | None) -> float | None:
    """The height ratio of a tube line found present in the pattern (``tube_line_picks``), or None: the median
    ratio of the replica picks (``replica``) of most of the strongest peaks whose replica (at ``where``) could
    be seen."""
    hidden = _hidden_replicas(positions, heights, widths, where, max_fraction) & (replica < 0)
    tested = [parent for parent in by_strength if where[parent] > low and not hidden[parent]][:TUBE_LINE_TEST_PEAKS]
    seen = [parent for parent in tested if replica[parent] >= 0]
    ratios = [heights[replica[parent]] / heights[parent] for parent in seen]
    if len(ratios) < TUBE_LINE_MIN_SEEN:
        return None
    ratio = float(np.median(ratios))
    if detection is not None:
        grid, needed = detection
        tested = [parent for parent in tested
                  if parent in seen or ratio * heights[parent] >= np.interp(where[parent], grid, needed)]
    if len(ratios) < TUBE_LINE_SEEN_FRACTION * len(tested):
        return None
    return ratio


def _hidden_replicas(positions, heights, widths, where, fraction) -> np.ndarray:
    """For each pick, whether a pick higher than ``fraction`` of it lies within ``TUBE_LINE_MASK_FWHM`` of its
    FWHM of its replica position ``where``: a replica of that height there would be an unresolved shoulder, not
    a pick."""
    with np.errstate(invalid="ignore"):  # where is NaN for parents whose replica lies beyond 180°
        near = np.abs(positions[None, :] - where[:, None]) <= TUBE_LINE_MASK_FWHM * widths[:, None]
    return (near & (heights[None, :] > fraction * heights[:, None])).any(axis=1)


def _replica_picks(positions, heights, widths, sigma, where, gain, taken, max_fraction) -> np.ndarray:
    """For each pick, the strongest free pick at its replica position ``where`` no higher than
    ``max_fraction`` of it (-1 when none), within the replica's position error."""
    # Rows: parents; columns: the picks that may be their replicas.
    tolerance = np.maximum(TUBE_LINE_MATCH_SIGMA * np.hypot(sigma[None, :], (gain * sigma)[:, None]),
                           TUBE_LINE_MATCH_FWHM * widths[:, None])
    with np.errstate(invalid="ignore"):  # where is NaN for parents whose replica lies beyond 180°
        match = np.abs(positions[None, :] - where[:, None]) <= tolerance
    match &= ~taken[None, :] & (heights[None, :] <= max_fraction * heights[:, None])
    strongest = np.argmax(np.where(match, heights[None, :], -np.inf), axis=1)
    return np.where(match.any(axis=1), strongest, -1)

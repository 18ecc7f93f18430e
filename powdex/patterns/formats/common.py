"""What every reader does once it has its columns: checks, dropped points, σ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from powdex.patterns.pattern import Pattern, Radiation
from powdex.peaks.peaklist import PeakInputError

# Metadata key of a file that says its beam is Kα1 only (no Kα2 to strip or fit).
MONOCHROMATIC = "monochromatic"

# Fewer points than this cannot hold a peak with a background around it.
MIN_PATTERN_POINTS = 5


def counting_sigma(intensity: np.ndarray) -> np.ndarray:
    """σ = √max(I, 1): the counting statistics of counts, for points whose file gives no σ."""
    return np.sqrt(np.maximum(intensity, 1.0))


def _where(source: str, line_numbers: Sequence[int] | None, index: int) -> str:
    return f"{source}:{line_numbers[index]}" if line_numbers is not None else f"{source}[point {index}]"


def pattern_from_columns(
    two_theta,
    intensity,
    sigma,
    source: str,
    *,
    wavelengths: tuple[float, ...] = (),
    ratio: float = 0.0,
    radiation: Radiation = "xray",
    metadata: Mapping[str, object] | None = None,
    line_numbers: Sequence[int] | None = None,
) -> Pattern:
    """A :class:`Pattern` from a reader's columns.

    Points whose intensity (or σ) is not finite, as masked detector pixels
    are written, are dropped with a note; 2θ must lie in (0, 180) and
    increase strictly.  Without σ from the file, σ = √max(I, 1), the
    counting statistics of counts.
    """
    two_theta = np.asarray(two_theta, dtype=float)
    intensity = np.asarray(intensity, dtype=float)
    sigma_from_file = sigma is not None
    sigma = counting_sigma(intensity) if sigma is None else np.asarray(sigma, dtype=float)
    if not (two_theta.size == intensity.size == sigma.size):
        raise PeakInputError(f"{source}: {two_theta.size} 2θ values but {intensity.size} intensities")
    bad_angle = np.flatnonzero(~(np.isfinite(two_theta) & (two_theta > 0) & (two_theta < 180)))
    if bad_angle.size:
        i = bad_angle[0]
        raise PeakInputError(f"{_where(source, line_numbers, i)}: 2θ {two_theta[i]:g} outside (0, 180)")
    not_increasing = np.flatnonzero(np.diff(two_theta) <= 0)
    if not_increasing.size:
        i = not_increasing[0] + 1
        raise PeakInputError(
            f"{_where(source, line_numbers, i)}: 2θ {two_theta[i]:g} does not increase from {two_theta[i - 1]:g}"
        )
    notes = []
    usable = np.isfinite(intensity) & np.isfinite(sigma)
    if not usable.all():
        dropped = np.flatnonzero(~usable)
        notes.append(
            f"{dropped.size} point(s) with no finite intensity or σ left out (first at 2θ {two_theta[dropped[0]]:g})"
        )
        two_theta, intensity, sigma = two_theta[usable], intensity[usable], sigma[usable]
    if two_theta.size < MIN_PATTERN_POINTS:
        raise PeakInputError(f"{source}: {two_theta.size} points, a pattern needs at least {MIN_PATTERN_POINTS}")
    return Pattern(
        two_theta,
        intensity,
        sigma,
        source,
        wavelengths=wavelengths,
        ratio=ratio,
        radiation=radiation,
        sigma_from_file=sigma_from_file,
        metadata=metadata or {},
        notes=tuple(notes),
    )

"""An internal standard's lines among a pattern's picks: found, set aside, and its zero offset measured.

A certified standard mixed into the sample (Si, LaB6, CeO2, Al2O3: ``powdex.crystal.standards``) puts lines
of its known cell into the pattern.  To an indexer they are a second phase, lines no cell of the sample
explains; but their positions are known, so they can be recognised and set aside, and where they are measured
says the pattern's zero offset, which every other pick shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from powdex.crystal.standards import STANDARDS, Standard
from powdex.peaks import PeakInputError
from powdex.peaks.units import q2_to_two_theta, two_theta_to_q2

# ° 2θ: zero offsets searched for the standard's lines (Bragg–Brentano displacement reaches a few tenths).
ZERO_WINDOW = 0.6
# A pick is the standard's line when it lies within this fraction of its FWHM of the line (zero applied).
MATCH_FWHM = 0.5
# ° 2θ: the least match tolerance (picks of very sharp synchrotron lines are not placed better than this).
MIN_TOLERANCE = 0.003
# Fewer matched lines than this say nothing about the zero offset, or whether the standard is there.
MIN_LINES = 2
# A standard is said to be seen among the picks when at least this many of its lines, and this share of its
# lines in the picked range, are picks (``seen_standards``) ...
SEEN_LINES = 4
SEEN_SHARE = 2 / 3
# ... and its lines are fewer than this share of the picks (more: the sample may be that material itself).
SEEN_MAX_SHARE = 0.5


@dataclass(frozen=True)
class StandardLines:
    """Which picks are the standard's lines (``matched``), the zero offset they show (° 2θ, measured − true)
    and the standard's lines in the picks' range (``expected``)."""

    standard: Standard
    matched: np.ndarray
    zero_offset: float
    expected: int

    @property
    def n_matched(self) -> int:
        return int(self.matched.sum())


def standard_by_name(name: str, source: str = "internal standard") -> Standard:
    """The certified standard called ``name`` (case-insensitive), or a ``PeakInputError`` naming the known ones."""
    for key, standard in STANDARDS.items():
        if key.lower() == name.strip().lower():
            return standard
    raise PeakInputError(f"{source}: unknown standard {name!r}; known: {', '.join(STANDARDS)}")


def standard_lines(two_theta: np.ndarray, fwhm: np.ndarray, wavelength: float, standard: Standard) -> StandardLines:
    """The picks at ``two_theta`` (° 2θ, widths ``fwhm``) that are lines of ``standard`` at ``wavelength``.

    The zero offset is the one, within ±``ZERO_WINDOW``, that puts the most picks within ``MATCH_FWHM`` of
    their width of a line (the smaller offset among equals), then the median of the matched picks' residuals;
    the picks within tolerance of a line at that offset are the standard's.  Fewer than ``MIN_LINES`` matched
    picks match nothing (the standard is not there, or not in these picks)."""
    two_theta = np.asarray(two_theta, dtype=float)
    none = StandardLines(standard, np.zeros(two_theta.size, dtype=bool), 0.0, 0)
    if two_theta.size == 0:
        return none
    tolerance = np.maximum(MATCH_FWHM * np.asarray(fwhm, dtype=float), MIN_TOLERANCE)
    q2_max = float(two_theta_to_q2(min(float(two_theta.max()) + ZERO_WINDOW + 1.0, 179.0), wavelength))
    lines = q2_to_two_theta(standard.line_q2(q2_max), wavelength)
    expected = int(np.count_nonzero((lines >= two_theta.min() - ZERO_WINDOW) & (lines <= two_theta.max())))
    if lines.size == 0:
        return none

    def residuals(zero):
        """Each pick's offset from its nearest line at zero offset(s) ``zero`` (a number, or an array of them:
        one row each)."""
        true = two_theta - np.asarray(zero, dtype=float)[..., None]
        pos = np.clip(np.searchsorted(lines, true), 1, max(lines.size - 1, 1))
        left = lines[pos - 1]
        right = lines[np.minimum(pos, lines.size - 1)]
        return np.where(np.abs(true - left) <= np.abs(true - right), true - left, true - right)

    step = max(float(np.min(tolerance)), MIN_TOLERANCE) / 2
    zeros = np.arange(-ZERO_WINDOW, ZERO_WINDOW + step / 2, step)
    counts = np.count_nonzero(np.abs(residuals(zeros)) <= tolerance, axis=1)
    best = zeros[counts == counts.max()]
    zero = float(best[np.argmin(np.abs(best))])
    matched = np.abs(residuals(zero)) <= tolerance
    if matched.sum() < MIN_LINES:
        return StandardLines(standard, np.zeros(two_theta.size, dtype=bool), 0.0, expected)
    zero += float(np.median(residuals(zero)[matched]))
    matched = np.abs(residuals(zero)) <= tolerance
    return StandardLines(standard, matched, zero, expected)


def seen_standards(two_theta: np.ndarray, fwhm: np.ndarray, wavelength: float) -> list[StandardLines]:
    """The certified standards whose lines are a clear minority of the picks: at least ``SEEN_LINES`` of them,
    ``SEEN_SHARE`` of those in the picked range, and under ``SEEN_MAX_SHARE`` of the picks.  A standard mixed
    into the sample and not named is a second phase to the indexer; this says which one to name."""
    seen = []
    for standard in STANDARDS.values():
        found = standard_lines(two_theta, fwhm, wavelength, standard)
        if (found.n_matched >= max(SEEN_LINES, SEEN_SHARE * found.expected)
                and found.n_matched < SEEN_MAX_SHARE * len(two_theta)):
            seen.append(found)
    return seen

"""Powder-pattern physics shared by every forward model: the Lorentz–polarisation
factor and the merging of lines a diffractometer cannot resolve.

The training-data generator (``powdex.training.diffraction``) and the synthetic
peak lists of the tests and benchmarks (``powdex.indexing.synthetic``) both
compute line intensities and merge lines with these, so the two cannot drift
apart.
"""

from __future__ import annotations

import numpy as np


def lorentz_polarisation(two_theta) -> np.ndarray:
    """Lorentz–polarisation factor (1 + cos² 2θ) / (sin² θ cos θ) of an unpolarised laboratory
    Bragg–Brentano powder diffractometer without monochromator, at ``two_theta`` degrees."""
    t = np.radians(np.asarray(two_theta, dtype=float))
    return (1.0 + np.cos(t) ** 2) / (np.sin(t / 2.0) ** 2 * np.cos(t / 2.0))


def line_groups(position: np.ndarray, *, within: float, relative: bool = False) -> np.ndarray:
    """Group number (0, 1, …) of each line of ascending ``position``: a line closer than ``within`` to the one
    before it (``within × position`` when ``relative``) joins that line's group, so chains of close lines are one.
    """
    position = np.asarray(position, dtype=float)
    if not len(position):
        return np.zeros(0, dtype=int)
    gap = np.diff(position)
    limit = within * position[1:] if relative else within
    return np.concatenate([[0], np.cumsum(gap > limit)])


def merge_lines(
    position: np.ndarray, intensity: np.ndarray, *, within: float, relative: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Ascending lines grouped by :func:`line_groups`, each group as one line at the intensity-weighted
    mean position with the summed intensity: what a diffractometer that cannot resolve them records. A group
    without intensity (reflections whose structure factors vanish) sits at its lines' plain mean."""
    position, intensity = np.asarray(position, dtype=float), np.asarray(intensity, dtype=float)
    group = line_groups(position, within=within, relative=relative)
    total = np.bincount(group, weights=intensity)
    plain = np.bincount(group, weights=position) / np.bincount(group)
    return np.divide(np.bincount(group, weights=intensity * position), total, out=plain, where=total > 0), total

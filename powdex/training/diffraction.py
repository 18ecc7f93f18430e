"""Powder patterns of a crystal structure and their two line lists: the allowed lines
(all not systematically absent) and the observable ones (those a peak search would
find on the pattern).

The pattern is computed in the window the learned models read
(``powdex.models.window``: 2θ ≤ 60° for Cu Kα, 1.54 Å) in 0.02° steps with
Gaussian peaks of 0.1° FWHM. Intensities are kinematic:
I = multiplicity · |F|² · Lorentz–polarisation, with IT92 atomic form factors
and one isotropic displacement parameter. Reflections that fall on exactly the
same q² (cubic 300/221, tetragonal hkl/khl in 4/m, …) are one line: a powder
pattern cannot tell them apart, so the line lists hold distinct positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import gemmi
import numpy as np

from powdex.crystal import Cell, line_groups, lorentz_polarisation
from powdex.models.window import FWHM, OVERLAP_DISTANCE, TWO_THETA_MAX, WAVELENGTH
from powdex.peaks import q2_to_d, q2_to_two_theta, two_theta_to_q2
from powdex.training.spacegroups import symmetry_operations

TWO_THETA_STEP = 0.02
PEAK_LIST_LENGTH = 60
MINIMUM_INTENSITY = 1e-3  # of the pattern normalised to sqrt(Σ I²) = 1
TWO_THETA = np.round(np.arange(0.0, TWO_THETA_MAX + TWO_THETA_STEP / 2, TWO_THETA_STEP), 10)

_SIGMA = FWHM / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_HALF_WINDOW = int(np.ceil(4 * _SIGMA / TWO_THETA_STEP))  # Gaussian tails beyond 4σ are < 4e-4 of the peak
_SAME_POSITION_RTOL = 1e-9


@dataclass(frozen=True)
class Structure:
    """Atoms of a full unit cell in fractional coordinates, with the space group that generated them."""

    space_group: gemmi.SpaceGroup
    cell: Cell
    positions: np.ndarray  # (n, 3)
    elements: tuple[str, ...]  # one symbol per position
    displacement_b: float = 3.0  # isotropic B, Å²
    occupancies: np.ndarray | None = None  # per position; None means fully occupied (synthetic crystals)


@dataclass(frozen=True)
class DiffractionLines:
    """Distinct line positions of a structure, sorted by q², with one representative Miller index each (the
    strongest reflection on the line, in the setting of the cell the lines were computed for) and the line's
    intensity. Not a measured peak list (``powdex.peaks.PeakList``): every line knows its index."""

    q2: np.ndarray  # (n,)
    hkl: np.ndarray  # (n, 3) int
    intensity: np.ndarray  # (n,) peak height in the normalised pattern

    def __len__(self) -> int:
        return len(self.q2)

    def take(self, index) -> DiffractionLines:
        return DiffractionLines(self.q2[index], self.hkl[index], self.intensity[index])


@dataclass(frozen=True)
class Diffraction:
    pattern: np.ndarray  # on TWO_THETA, normalised to sqrt(Σ I²) = 1
    allowed: DiffractionLines  # first PEAK_LIST_LENGTH non-absent lines
    observable: DiffractionLines  # first PEAK_LIST_LENGTH lines passing the observability rules (``observable``)


def diffraction(structure: Structure) -> Diffraction:
    """Pattern and both peak lists of a structure."""
    return diffraction_from_peaks(structure_lines(structure))


def structure_lines(structure: Structure, two_theta_max: float = TWO_THETA_MAX) -> DiffractionLines:
    """Every non-absent line of a structure up to ``two_theta_max`` at ``WAVELENGTH``, coincident reflections
    merged, with multiplicity × |F|² × Lorentz–polarisation intensities (in no particular scale).  The learned
    models see lines to ``TWO_THETA_MAX`` only; a measured lab pattern reaches further."""
    hkl = reflections(structure.cell, structure.space_group, two_theta_max)
    q2 = structure.cell.q2(hkl)
    intensity = multiplicity(structure.space_group, hkl) * np.abs(structure_factors(structure, hkl, q2)) ** 2
    intensity *= lorentz_polarisation(q2_to_two_theta(q2, WAVELENGTH))
    return merge_coincident(DiffractionLines(q2, hkl, intensity))


def diffraction_from_peaks(peaks: DiffractionLines) -> Diffraction:
    """Pattern and peak lists from all non-absent peaks (intensities in any scale), sorted by q²."""
    two_theta = q2_to_two_theta(peaks.q2, WAVELENGTH)
    raw = pattern(two_theta, peaks.intensity)
    norm = np.sqrt(np.sum(raw**2))
    scale = 1.0 / norm if norm > 0 else 1.0
    normalised = raw * scale
    heights = peaks.intensity * scale  # each peak's own contribution at its centre
    allowed = DiffractionLines(peaks.q2, peaks.hkl, heights)
    return Diffraction(
        normalised.astype(np.float32),
        allowed.take(slice(0, PEAK_LIST_LENGTH)),
        allowed.take(np.flatnonzero(observable(two_theta, heights, normalised))[:PEAK_LIST_LENGTH]),
    )


def reflections(cell: Cell, space_group: gemmi.SpaceGroup, two_theta_max: float = TWO_THETA_MAX) -> np.ndarray:
    """Symmetry-unique, non-absent Miller indices (n, 3) within 2θ ≤ ``two_theta_max`` at ``WAVELENGTH``, sorted
    by q²."""
    d_min = float(q2_to_d(two_theta_to_q2(two_theta_max, WAVELENGTH)))
    hkl = gemmi.make_miller_array(cell.to_gemmi(), space_group, d_min)
    return hkl[np.argsort(cell.q2(hkl), kind="stable")]


def multiplicity(space_group: gemmi.SpaceGroup, hkl: np.ndarray) -> np.ndarray:
    """Number of reflections equivalent to each unique hkl under the Laue group (Friedel pairs included).

    The Laue group has 2|G₀| operations counted with the point group G₀ and its
    negative; the stabiliser of h has ε elements from G₀ and as many again from −G₀
    when h is centric, so m = 2|G₀| / (ε (1 + centric)).
    """
    ops = space_group.operations()
    h = np.ascontiguousarray(hkl, dtype=np.int32)
    epsilon = np.asarray(ops.epsilon_factor_without_centering_array(h), dtype=float)
    centric = np.asarray(ops.centric_flag_array(h), dtype=float)
    return 2.0 * len(ops.sym_ops) / (epsilon * (1.0 + centric))


@cache
def _form_factor_coefficients(element: str) -> tuple[np.ndarray, np.ndarray, float]:
    coef = gemmi.Element(element).it92
    return np.array(coef.a), np.array(coef.b), float(coef.c)


def form_factor(element: str, q2: np.ndarray) -> np.ndarray:
    """IT92 X-ray form factor at s² = (sinθ/λ)² = q²/4."""
    a, b, c = _form_factor_coefficients(element)
    s2 = q2[:, None] / 4.0
    return np.exp(-s2 * b) @ a + c


def structure_factors(structure: Structure, hkl: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """F(hkl) summed over all atoms of the cell, vectorised over reflections × atoms.

    Phases are reduced to [−½, ½) turns before the float32 cosine (enough for
    intensities, twice as fast); with an inversion centre at the origin the sine
    terms cancel and are skipped.
    """
    # Atoms grouped by species; sums by reduceat rather than BLAS so results do not depend on thread count.
    species, which = np.unique(np.asarray(structure.elements), return_inverse=True)
    by_species = np.argsort(which, kind="stable")
    starts = np.searchsorted(which[by_species], np.arange(len(species)))
    turns = structure.positions[by_species] @ np.asarray(hkl, dtype=float).T  # (n_atoms, n_hkl)
    phase = (2.0 * np.pi * (turns - np.rint(turns))).astype(np.float32)
    weight = 1.0 if structure.occupancies is None else structure.occupancies[by_species].astype(np.float32)[:, None]
    f = np.stack([form_factor(el, q2) for el in species], axis=1) * np.exp(-structure.displacement_b * q2 / 4.0)[:, None]
    real = np.sum(f * np.add.reduceat(weight * np.cos(phase), starts, axis=0).T, axis=1)
    if symmetry_operations(structure.space_group.xhm()).inversion_at_origin:
        return real.astype(complex)
    return real + 1j * np.sum(f * np.add.reduceat(weight * np.sin(phase), starts, axis=0).T, axis=1)


def merge_coincident(peaks: DiffractionLines) -> DiffractionLines:
    """One line per distinct q² (relative tolerance 1e-9): intensities summed, strongest index kept."""
    order = np.argsort(peaks.q2, kind="stable")
    q2, hkl, intensity = peaks.q2[order], peaks.hkl[order], peaks.intensity[order]
    group = line_groups(q2, within=_SAME_POSITION_RTOL, relative=True)
    starts = np.diff(group, prepend=-1) > 0
    total = np.bincount(group, weights=intensity, minlength=int(starts.sum()))
    # Strongest member of each group: sort by (group, −intensity) and take the first of each group.
    strongest = np.lexsort((-intensity, group))[np.flatnonzero(starts)]
    return DiffractionLines(q2[starts], hkl[strongest].astype(np.int32), total)


def pattern(two_theta: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Sum of Gaussian peaks of height ``heights`` centred on ``two_theta``, on the TWO_THETA grid."""
    centre = np.rint(two_theta / TWO_THETA_STEP).astype(int)
    offsets = np.arange(-_HALF_WINDOW, _HALF_WINDOW + 1)
    index = centre[:, None] + offsets[None, :]
    shape = np.exp(-0.5 * ((index * TWO_THETA_STEP - two_theta[:, None]) / _SIGMA) ** 2) * heights[:, None]
    inside = (index >= 0) & (index < len(TWO_THETA))
    return np.bincount(index[inside], weights=shape[inside], minlength=len(TWO_THETA))


def observable(two_theta: np.ndarray, heights: np.ndarray, normalised_pattern: np.ndarray) -> np.ndarray:
    """Which lines a peak search would find on the pattern, for lines that are not systematically absent,
    sorted by 2θ: those where

    1. the normalised pattern at the peak position exceeds MINIMUM_INTENSITY;
    2. the pattern's second derivative at the peak position is negative (a
       maximum, not a shoulder on a stronger neighbour);
    3. no stronger peak lies within FWHM / 1.5 (``OVERLAP_DISTANCE``).
    """
    inside = two_theta <= TWO_THETA_MAX
    value = np.interp(two_theta, TWO_THETA, normalised_pattern)
    second = np.zeros_like(normalised_pattern)
    second[1:-1] = normalised_pattern[2:] - 2 * normalised_pattern[1:-1] + normalised_pattern[:-2]
    curvature = np.interp(two_theta, TWO_THETA, second)
    return inside & (value > MINIMUM_INTENSITY) & (curvature < 0) & ~_has_stronger_neighbour(two_theta, heights)


def _has_stronger_neighbour(two_theta: np.ndarray, heights: np.ndarray) -> np.ndarray:
    hidden = np.zeros(len(two_theta), dtype=bool)
    for shift in range(1, len(two_theta)):
        close = two_theta[shift:] - two_theta[:-shift] < OVERLAP_DISTANCE
        if not close.any():
            break
        hidden[:-shift] |= close & (heights[shift:] > heights[:-shift])
        hidden[shift:] |= close & (heights[:-shift] > heights[shift:])
    return hidden

"""Reference Miller-index sets: one index per distinct spacing a lattice can produce.

From all (h, k, l) with |h|, |k|, |l| ≤ 20, keep one index for each distinct value of the spacing
*invariants* of the lattice system (e.g. h²+k² and l² for tetragonal), i.e. one
index per powder line that any cell of that system could show, then sort by a
nominal spacing (h²+k²+l²; for hexagonal 4/3(h²+hk+k²)+l²).

For a centred Bravais lattice the centring condition is applied *before* taking
distinct invariants: for hR in hexagonal axes, (1 0 1) is allowed but (0 1 1)
is not although both share the invariants, and the line exists.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from powdex.crystal.bravais import BravaisLattice
from powdex.crystal.lattice import LatticeSystem

MAX_INDEX = 20


def spacing_invariants(system: LatticeSystem, hkl: np.ndarray) -> np.ndarray:
    """Per index, the integers that fix its q² for every cell of the system: equal rows mean the same powder line."""
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    match system:
        case LatticeSystem.CUBIC:
            cols = [h * h + k * k + l * l]
        case LatticeSystem.TETRAGONAL:
            cols = [h * h + k * k, l * l]
        case LatticeSystem.HEXAGONAL:
            cols = [h * h + h * k + k * k, l * l]
        case LatticeSystem.RHOMBOHEDRAL:
            cols = [h * h + k * k + l * l, h * k + k * l + h * l]
        case LatticeSystem.ORTHORHOMBIC:
            cols = [h * h, k * k, l * l]
        case LatticeSystem.MONOCLINIC:
            cols = [h * h, k * k, l * l, h * l]
        case _:
            # Friedel pairs (hkl, -h-k-l) are the only coincidences in general.
            cols = [h * h, k * k, l * l, h * k, h * l, k * l]
    return np.stack(cols, axis=1)


def _nominal_spacing(system: LatticeSystem, hkl: np.ndarray) -> np.ndarray:
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    if system is LatticeSystem.HEXAGONAL:
        return 4.0 / 3.0 * (h * h + h * k + k * k) + l * l
    return (h * h + k * k + l * l).astype(float)


@cache
def _reference(axes: LatticeSystem, bravais: BravaisLattice | None, max_index: int) -> np.ndarray:
    r = np.arange(-max_index, max_index + 1)
    hkl = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    hkl = hkl[np.any(hkl != 0, axis=1)]
    if bravais is not None and bravais.centring != "P":  # a primitive lattice forbids nothing
        hkl = hkl[bravais.allowed(hkl)]
    # Prefer the representative with most non-negative indices, then the smallest.
    preference = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], (hkl < 0).sum(axis=1)))
    hkl = hkl[preference]
    # One integer per distinct row of invariants: a 1-D unique is many times faster than a row-wise one.
    invariants = spacing_invariants(axes, hkl)
    low = invariants.min(axis=0)
    key = np.ravel_multi_index((invariants - low).T, tuple(invariants.max(axis=0) - low + 1))
    _, first = np.unique(key, return_index=True)
    hkl = hkl[np.sort(first)]
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], _nominal_spacing(axes, hkl)))
    out = np.ascontiguousarray(hkl[order])
    out.setflags(write=False)
    return out


def reference_miller_indices(
    lattice: LatticeSystem | BravaisLattice | str, max_index: int = MAX_INDEX, limit: int | None = None
) -> np.ndarray:
    """Reference Miller indices (n, 3) of a lattice system or Bravais lattice, sorted by nominal spacing.

    A Bravais lattice applies its centring condition and uses its conventional
    axes (hR: hexagonal). ``limit`` keeps the first ``limit`` entries.
    """
    if isinstance(lattice, BravaisLattice):
        ref = _reference(lattice.axes, lattice, max_index)
    elif lattice in BravaisLattice.__members__:
        b = BravaisLattice(lattice)
        ref = _reference(b.axes, b, max_index)
    else:
        ref = _reference(LatticeSystem(lattice), None, max_index)
    return ref if limit is None else ref[:limit]


def sort_by_mean_spacing(hkl: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Reorder reference indices by their q² averaged over many cells (the order the assignment network's classes follow).

    ``coefficients`` (n_cells, 6) are reciprocal coefficients of training cells.
    """
    from powdex.crystal.cell import miller_terms

    mean_q2 = (miller_terms(hkl) @ np.asarray(coefficients).T).mean(axis=1)
    return hkl[np.argsort(mean_q2, kind="stable")]

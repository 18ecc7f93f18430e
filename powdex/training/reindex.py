"""Reindexing of conventional cells to the setting the training data uses.

Orthorhombic, monoclinic and triclinic cells are permuted to a ≤ b ≤ c; the
space-group symbol and Miller indices follow (P 1 21/c 1 with a > c becomes
P 1 21/a 1, P 21 21 2 with c shortest becomes P 2 21 21, …). Monoclinic cells
may thereby end up with the unique axis along a or c. Rhombohedral cells are
taken from hexagonal to rhombohedral axes (a = b = c, α = β = γ), the axes of
the rhombohedral forward model in ``powdex.crystal.lattice``. Other systems keep
their conventional cell.

A basis change is the matrix M whose rows are the new basis vectors in terms of
the old (``Cell.transformed``); Miller indices transform as h' = M h and
fractional coordinates as x' = M⁻ᵀ x.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import product

import gemmi
import numpy as np

from powdex.crystal import Cell, LatticeSystem

_SORTED_SYSTEMS = {LatticeSystem.ORTHORHOMBIC, LatticeSystem.MONOCLINIC, LatticeSystem.TRICLINIC}
# Obverse hexagonal → rhombohedral axes: a_r = (2a+b+c)/3, b_r = (−a+b+c)/3, c_r = (−a−2b+c)/3.
_HEXAGONAL_TO_RHOMBOHEDRAL = np.array([[2, 1, 1], [-1, 1, 1], [-1, -2, 1]]) / 3.0


@dataclass(frozen=True)
class Reindexing:
    matrix: np.ndarray  # (3, 3): rows = new basis in terms of the conventional basis
    cell: Cell
    space_group: gemmi.SpaceGroup

    def miller_indices(self, hkl: np.ndarray) -> np.ndarray:
        """Conventional Miller indices (n, 3) expressed in the reindexed basis."""
        return np.rint(np.asarray(hkl, dtype=float) @ self.matrix.T).astype(np.int32)


def reindex(cell: Cell, space_group: gemmi.SpaceGroup, system: LatticeSystem) -> Reindexing:
    """The training-data setting of a conventional cell and its space group."""
    if system in _SORTED_SYSTEMS:
        return _sorted_axes(cell, space_group)
    if system is LatticeSystem.RHOMBOHEDRAL and space_group.ext == "H":
        return _transformed(cell, space_group, _HEXAGONAL_TO_RHOMBOHEDRAL)
    return Reindexing(np.eye(3), cell, space_group)


def _sorted_axes(cell: Cell, space_group: gemmi.SpaceGroup) -> Reindexing:
    order = np.argsort(cell.parameters[:3], kind="stable")
    permutation = np.eye(3)[order]
    # A right-handed basis needs det M = +1; an odd permutation gets its sign from
    # negating axes. Try the sign patterns in turn until gemmi's table knows the
    # resulting setting (−M first: it keeps all three angles unchanged).
    for signs in sorted(product((1, -1), repeat=3), key=lambda s: s != (-1, -1, -1)):
        matrix = np.array(signs)[:, None] * permutation
        if np.linalg.det(matrix) < 0:
            continue
        found = _transformed_group(space_group, matrix)
        if found is not None:
            return Reindexing(matrix, cell.transformed(matrix), found)
    raise ValueError(f"no tabulated setting of {space_group.xhm()} with axes in the order {order.tolist()}")


def _transformed(cell: Cell, space_group: gemmi.SpaceGroup, matrix: np.ndarray) -> Reindexing:
    found = _transformed_group(space_group, matrix)
    if found is None:
        raise ValueError(f"no tabulated setting of {space_group.xhm()} in the basis {matrix.tolist()}")
    return Reindexing(matrix, cell.transformed(matrix), found)


def _transformed_group(space_group: gemmi.SpaceGroup, matrix: np.ndarray) -> gemmi.SpaceGroup | None:
    return _tabulated_setting(space_group.xhm(), tuple(np.rint(matrix.ravel() * 3).astype(int)))


@cache
def _tabulated_setting(name: str, matrix_thirds: tuple[int, ...]) -> gemmi.SpaceGroup | None:
    """The tabulated setting of group ``name`` in the basis M (entries in thirds, for the cache), or None.

    Permuting the axes of groups like P 21 21 21 moves the origin away from the
    tabulated one; origin shifts do not change absences or Miller indices, so the
    shifts by multiples of 1/4 are tried as well.
    """
    coordinate_change = np.linalg.inv(np.array(matrix_thirds, dtype=float).reshape(3, 3) / 3).T  # x' = M⁻ᵀ x
    for shift in _ORIGIN_SHIFTS:
        op = gemmi.Op("x,y,z")
        op.rot = np.rint(coordinate_change * gemmi.Op.DEN).astype(int).tolist()
        op.tran = (shift * gemmi.Op.DEN // 4).tolist()
        ops = gemmi.SpaceGroup(name).operations()
        ops.change_basis_forward(op)
        found = gemmi.find_spacegroup_by_ops(ops)
        if found is not None:
            return found
    return None


_ORIGIN_SHIFTS = sorted((np.array(v) for v in product(range(4), repeat=3)), key=lambda v: int(np.count_nonzero(v)))

"""Systematic absences of any space group, from gemmi's symmetry operations."""

from __future__ import annotations

from functools import cache

import gemmi
import numpy as np


@cache
def space_group(symbol: str | int) -> gemmi.SpaceGroup:
    """A gemmi space group from a Hermann–Mauguin symbol, Hall symbol or number (1–230)."""
    if isinstance(symbol, int) or str(symbol).strip().isdigit():
        number = int(symbol)
        if not 1 <= number <= 230:
            raise ValueError(f"space group number {number} is outside 1–230")
        return gemmi.SpaceGroup(number)
    found = gemmi.find_spacegroup_by_name(str(symbol))
    if found is None:
        try:
            found = gemmi.find_spacegroup_by_ops(gemmi.symops_from_hall(str(symbol)))
        except RuntimeError:
            found = None
    if found is None:
        raise ValueError(f"unknown space group symbol {symbol!r}")
    return found


@cache
def _operations(hall: str) -> gemmi.GroupOps:
    # Keyed by the Hall symbol: gemmi makes a new SpaceGroup object for every lookup.
    return gemmi.symops_from_hall(hall)


def systematically_absent(group: str | int | gemmi.SpaceGroup, hkl) -> np.ndarray:
    """Boolean mask (…) of Miller indices (…, 3) that the space group forbids."""
    sg = group if isinstance(group, gemmi.SpaceGroup) else space_group(group)
    hkl = np.asarray(hkl)
    flat = np.ascontiguousarray(hkl.reshape(-1, 3))
    if not np.array_equal(flat, np.rint(flat)):
        raise ValueError("Miller indices must be integers")
    return np.asarray(_operations(sg.hall).systematic_absences(flat.astype(np.int32)), dtype=bool).reshape(hkl.shape[:-1])

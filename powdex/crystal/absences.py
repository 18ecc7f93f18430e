"""Systematic absences of any space group, from gemmi's symmetry operations."""

from __future__ import annotations

from functools import lru_cache

import gemmi
import numpy as np


@lru_cache(maxsize=None)
def space_group(symbol: str | int) -> gemmi.SpaceGroup:
    """A gemmi space group from a Hermann–Mauguin symbol, Hall symbol or number (1–230)."""
    if isinstance(symbol, int) or str(symbol).strip().isdigit():
        number = int(symbol)
        if not 1 <= number <= 230:
            raise ValueError(f"space group number {number} is outside 1–230")
        return gemmi.SpaceGroup(number)
    found = gemmi.find_spacegroup_by_name(str(symbol))
    if found is None:
        raise ValueError(f"unknown space group symbol {symbol!r}")
    return found


def systematically_absent(group: str | int | gemmi.SpaceGroup, hkl) -> np.ndarray:
    """Boolean mask (…) of Miller indices (…, 3) that the space group forbids."""
    sg = group if isinstance(group, gemmi.SpaceGroup) else space_group(group)
    hkl = np.asarray(hkl)
    flat = np.ascontiguousarray(hkl.reshape(-1, 3), dtype=np.int32)
    return np.asarray(sg.operations().systematic_absences(flat), dtype=bool).reshape(hkl.shape[:-1])

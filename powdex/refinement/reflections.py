"""Powder lines of a cell and space group: the reflections a whole-pattern fit places.

Reflections forbidden by the space group are dropped (gemmi's systematic
absences).  Reflections that lie at the same 2θ for every cell of the lattice
system (symmetry equivalents, Friedel pairs, and the metrically equal ones of
a lower Laue class such as (hk0)/(kh0) in 4/m) are tied into one *line*: one
position and one intensity, its multiplicity the number of reflections tied.
A Pawley fit cannot separate them, so it is given one parameter for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import gemmi
import numpy as np

from powdex.crystal import Cell, LatticeSystem, space_group, spacing_invariants, systematically_absent
from powdex.refinement.errors import RefinementError

_SYSTEMS = {
    "triclinic": LatticeSystem.TRICLINIC, "monoclinic": LatticeSystem.MONOCLINIC,
    "orthorhombic": LatticeSystem.ORTHORHOMBIC, "tetragonal": LatticeSystem.TETRAGONAL,
    "hexagonal": LatticeSystem.HEXAGONAL, "cubic": LatticeSystem.CUBIC,
}


def resolve_space_group(symbol: str | int) -> gemmi.SpaceGroup:
    try:
        return space_group(symbol)
    except ValueError as error:
        raise RefinementError(f"space group: {error}") from None


def lattice_system_of(group: gemmi.SpaceGroup) -> LatticeSystem:
    """The lattice system whose metric constraints the group's setting imposes.

    Trigonal groups in hexagonal axes take the hexagonal metric, in rhombohedral
    axes (``R 3 :R``) the rhombohedral one.  Monoclinic groups must use unique
    axis b, the setting the monoclinic metric here is written for."""
    system = group.crystal_system_str()
    if system == "trigonal":
        return LatticeSystem.RHOMBOHEDRAL if group.ext == "R" else LatticeSystem.HEXAGONAL
    if system == "monoclinic" and group.monoclinic_unique_axis() != "b":
        raise RefinementError(
            f"space group {group.xhm()}: monoclinic with unique axis {group.monoclinic_unique_axis()}; "
            "give the unique-axis-b setting (e.g. P 1 21/c 1)"
        )
    return _SYSTEMS[system]


def check_cell_fits(cell: Cell, group: gemmi.SpaceGroup, system: LatticeSystem) -> None:
    if not system.is_compatible(cell):
        raise RefinementError(
            f"space group {group.xhm()} ({system.value}) does not fit the cell {cell}: "
            f"its metric needs {_constraint_text(system)}"
        )


def _constraint_text(system: LatticeSystem) -> str:
    return {
        LatticeSystem.CUBIC: "a = b = c, α = β = γ = 90°",
        LatticeSystem.TETRAGONAL: "a = b, α = β = γ = 90°",
        LatticeSystem.HEXAGONAL: "a = b, α = β = 90°, γ = 120°",
        LatticeSystem.RHOMBOHEDRAL: "a = b = c, α = β = γ",
        LatticeSystem.ORTHORHOMBIC: "α = β = γ = 90°",
        LatticeSystem.MONOCLINIC: "α = γ = 90° (unique axis b)",
        LatticeSystem.TRICLINIC: "nothing",
    }[system]


@dataclass(frozen=True)
class Lines:
    """Tied reflections: one representative hkl per line, its multiplicity, and
    the design matrix rows (q² = ``design`` @ x, x the lattice system's free
    reciprocal parameters)."""

    hkl: np.ndarray          # (n, 3) int
    multiplicity: np.ndarray  # (n,) int
    design: np.ndarray       # (n, n_free)

    def __len__(self) -> int:
        return int(self.hkl.shape[0])


def reflection_lines(cell: Cell, group: gemmi.SpaceGroup, system: LatticeSystem, q2_min: float,
                     q2_max: float) -> Lines:
    """Every allowed line with q² = 1/d² in [q2_min, q2_max], sorted by q²."""
    hkl, q2 = cell.miller_indices_within(q2_max)
    keep = (q2 >= q2_min) & ~systematically_absent(group, hkl)
    hkl = hkl[keep]
    if not hkl.size:
        return Lines(np.empty((0, 3), int), np.empty(0, int), np.empty((0, system.n_free)))
    # Representative: most non-negative indices, then the largest.
    preference = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], (hkl < 0).sum(axis=1)))
    hkl = hkl[preference]
    _, first, counts = np.unique(spacing_invariants(system, hkl), axis=0, return_index=True, return_counts=True)
    representatives = hkl[first]
    order = np.argsort(cell.q2(representatives), kind="stable")
    representatives = np.ascontiguousarray(representatives[order])
    return Lines(representatives, counts[order], system.design_matrix(representatives))

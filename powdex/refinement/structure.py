"""Crystal structures for Rietveld refinement: sites from a CIF, structure factors.

    F(h) = Σ_sites occ · b(s) · exp(−B s²) · (1/|G_x|) Σ_{g ∈ G} exp(2πi h·(R_g x + t_g)),

s = sin θ / λ = 1 / 2d, b(s) the X-ray form factor (International Tables
Vol. C, the four-Gaussian fit as tabulated by gemmi, IT92) or the neutron
bound coherent scattering length (Sears 1992, via gemmi, s-independent).
Summing over every operation g of the space group and dividing by the
stabilizer size |G_x| = |G| / (distinct images of x) counts each atom of the
unit cell once, so a site on a special position needs no multiplicity from the
file, and a coordinate refined off it keeps the count it started with.

The cell's mass Z·M (Σ occ · atomic weight over the unit cell) and volume
enter the Hill & Howard (1987) weight fractions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import gemmi
import numpy as np

from powdex.crystal import Cell
from powdex.refinement.errors import RefinementError

# gemmi stores U_iso (Å²); B = 8π² U.
_EIGHT_PI2 = 8.0 * np.pi ** 2
# Fractional coordinates closer than this (mod 1) are one position.
_SAME_POSITION = 1e-4


@dataclass(frozen=True)
class Site:
    """One crystallographic site: ``b_iso`` in Å²."""

    label: str
    element: str
    xyz: tuple[float, float, float]
    occupancy: float
    b_iso: float


@dataclass(frozen=True)
class CrystalStructure:
    """A structure: its cell, space group (gemmi) and sites in the asymmetric unit."""

    name: str
    cell: Cell
    space_group: gemmi.SpaceGroup
    sites: tuple[Site, ...]
    # per-site (rotations (n,3,3), translations (n,3)) of the group, and the stabilizer size
    _operations: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ops = list(self.space_group.operations())
        rotations = np.array([np.array(op.rot, float) / gemmi.Op.DEN for op in ops])
        translations = np.array([np.array(op.tran, float) / gemmi.Op.DEN for op in ops])
        object.__setattr__(self, "_operations", (rotations, translations))

    @classmethod
    def from_cif(cls, path: str | Path) -> CrystalStructure:
        path = Path(path)
        try:
            small = gemmi.read_small_structure(str(path))
        except (RuntimeError, ValueError, OSError) as error:
            raise RefinementError(f"{path}: not a readable CIF structure ({error})") from None
        group = small.spacegroup
        if group is None:
            raise RefinementError(f"{path}: no space group (give _symmetry_space_group_name_H-M or "
                                  "_space_group_symop_operation_xyz)")
        if not small.sites:
            raise RefinementError(f"{path}: no atom sites (_atom_site_fract_x ...)")
        sites = tuple(Site(s.label, s.element.name, (s.fract.x, s.fract.y, s.fract.z), float(s.occ),
                           float(s.u_iso * _EIGHT_PI2)) for s in small.sites)
        return cls(small.name or path.stem, Cell.from_gemmi(small.cell), group, sites)

    def with_sites(self, sites) -> CrystalStructure:
        return replace(self, sites=tuple(sites))

    def stabilizer_sizes(self, xyz: np.ndarray) -> np.ndarray:
        """|G_x| for each position (n, 3): the operations that map it onto itself (mod 1)."""
        rotations, translations = self._operations
        images = np.einsum("gij,nj->ngi", rotations, xyz) + translations
        difference = images - xyz[:, None, :]
        difference -= np.round(difference)
        return (np.abs(difference).max(axis=2) < _SAME_POSITION).sum(axis=1)

    def cell_mass(self, occupancies: np.ndarray | None = None) -> float:
        """Z·M in g/mol: Σ over the unit cell's atoms of occupancy × atomic weight."""
        xyz = np.array([s.xyz for s in self.sites])
        occupancy = np.array([s.occupancy for s in self.sites]) if occupancies is None else occupancies
        per_site = len(self._operations[0]) / self.stabilizer_sizes(xyz)
        weights = np.array([gemmi.Element(s.element).weight for s in self.sites])
        return float(np.sum(per_site * occupancy * weights))


def scattering_factors(elements: list[str], s2: np.ndarray, radiation: str) -> np.ndarray:
    """(n_sites, n_reflections) form factors at s² = (sin θ / λ)²: IT92 for
    ``xray``, bound coherent scattering lengths (fm) for ``neutron``."""
    if radiation == "neutron":
        return np.array([[gemmi.Element(e).neutron92.get_coefs()[0]] * s2.size for e in elements])
    if radiation != "xray":
        raise RefinementError(f"radiation '{radiation}': use xray or neutron")
    rows = []
    for element in elements:
        table = gemmi.Element(element).it92
        a, b = np.array(table.a), np.array(table.b)
        rows.append((a[:, None] * np.exp(-b[:, None] * s2[None, :])).sum(axis=0) + table.c)
    return np.array(rows)


def structure_factors(structure: CrystalStructure, hkl: np.ndarray, s2: np.ndarray, *, xyz: np.ndarray,
                      occupancy: np.ndarray, b_iso: np.ndarray, form_factors: np.ndarray) -> np.ndarray:
    """Complex F for each hkl (n, 3) from the sites' current coordinates (n_sites, 3),
    occupancies and B (Å²); ``form_factors`` from ``scattering_factors``."""
    rotations, translations = structure._operations
    images = np.einsum("gij,sj->sgi", rotations, xyz) + translations          # (sites, ops, 3)
    phases = 2.0 * np.pi * np.einsum("hk,sgk->shg", hkl.astype(float), images)  # (sites, hkl, ops)
    geometric = np.exp(1j * phases).sum(axis=2) / structure.stabilizer_sizes(xyz)[:, None]
    amplitude = occupancy[:, None] * form_factors * np.exp(-b_iso[:, None] * s2[None, :])
    return (amplitude * geometric).sum(axis=0)

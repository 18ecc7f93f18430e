"""Crystal structures for Rietveld refinement: sites from a CIF, structure factors.

    F(h) = Σ_sites occ · b(s) · exp(−B s²) · (1/|G_x|) Σ_{g ∈ G} exp(2πi h·(R_g x + t_g)),

s = sin θ / λ = 1 / 2d, b(s) the X-ray form factor (International Tables
Vol. C, the four-Gaussian fit as tabulated by gemmi, IT92) plus, at a given
wavelength, the anomalous dispersion f′ + i f″ (Cromer & Liberman 1970, as
gemmi computes them; for Pb at Cu Kα f′ ≈ −3.9, f″ ≈ 8.5 electrons, a tenth of
f₀ at low angle), or the neutron bound coherent scattering length (Sears
1992, via gemmi, s-independent).  The reflections of a powder line include h
and −h, so summing |F|² over them averages the Friedel pairs that f″ makes
unequal in a non-centrosymmetric structure.
Summing over every operation g of the space group and dividing by the
stabilizer size |G_x| = |G| / (distinct images of x) counts each atom of the
unit cell once, so a site on a special position needs no multiplicity from the
file, and a coordinate refined off it keeps the count it started with.
(gemmi's own ``StructureFactorCalculatorX.calculate_sf_from_small_structure``
sums every site over all |G| operations without that division, the
macromolecular convention in which a special position's occupancy is already
divided by its site symmetry: with a small-molecule CIF's chemical occupancies
it gives |G_x| times each special-position atom, 289 instead of 37.56 for
rutile 110.  With each occupancy divided by |G_x| it agrees with this sum.)

The cell's mass Z·M (Σ occ · atomic weight over the unit cell) and volume
enter the Hill & Howard (1987) weight fractions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import gemmi
import numpy as np

from powdex.crystal import Cell
from powdex.refinement.errors import RefinementError

# gemmi stores U_iso (Å²); B = 8π² U.
_EIGHT_PI2 = 8.0 * np.pi ** 2
# h c in eV·Å (CODATA 2018): photon energy from wavelength.
_HC_EV_ANGSTROM = 12398.419843
# A coordinate shift far above _SAME_POSITION and below any distance between special positions.
_PROBE_SHIFT = 0.0137
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

    def free_coordinates(self) -> list[tuple[int, int]]:
        """(site index, axis) of every coordinate that can move alone without taking its site
        off its special position: those whose shift keeps the stabilizer size.  A coordinate
        tied to another (x = y on a diagonal mirror) counts as fixed."""
        xyz = np.array([s.xyz for s in self.sites], float)
        sizes = self.stabilizer_sizes(xyz)
        free = []
        for axis in range(3):
            moved = xyz.copy()
            moved[:, axis] += _PROBE_SHIFT
            free += [(int(k), axis) for k in np.flatnonzero(self.stabilizer_sizes(moved) == sizes)]
        return sorted(free)

    def cell_mass(self, occupancies: np.ndarray | None = None) -> float:
        """Z·M in g/mol: Σ over the unit cell's atoms of occupancy × atomic weight."""
        xyz = np.array([s.xyz for s in self.sites])
        occupancy = np.array([s.occupancy for s in self.sites]) if occupancies is None else occupancies
        per_site = len(self._operations[0]) / self.stabilizer_sizes(xyz)
        weights = np.array([gemmi.Element(s.element).weight for s in self.sites])
        return float(np.sum(per_site * occupancy * weights))


def scattering_factors(elements: list[str], s2: np.ndarray, radiation: str, *,
                       wavelength: float | None = None) -> np.ndarray:
    """(n_sites, n_reflections) form factors at s² = (sin θ / λ)²: IT92 for
    ``xray`` (complex, with f′ + i f″ at ``wavelength`` Å when it is given),
    bound coherent scattering lengths (fm) for ``neutron``."""
    if radiation == "neutron":
        return np.array([[gemmi.Element(e).neutron92.get_coefs()[0]] * s2.size for e in elements])
    if radiation != "xray":
        raise RefinementError(f"radiation '{radiation}': use xray or neutron")
    rows = []
    for element in elements:
        table = gemmi.Element(element).it92
        a, b = np.array(table.a), np.array(table.b)
        rows.append((a[:, None] * np.exp(-b[:, None] * s2[None, :])).sum(axis=0) + table.c)
    if wavelength is None:
        return np.array(rows)
    return np.array(rows) + np.array([anomalous_dispersion(e, wavelength) for e in elements])[:, None]


@cache
def anomalous_dispersion(element: str, wavelength: float) -> complex:
    """f′ + i f″ (electrons) of ``element`` at ``wavelength`` Å (Cromer & Liberman 1970, gemmi)."""
    energy = _HC_EV_ANGSTROM / wavelength
    f1, f2 = gemmi.cromer_liberman(z=gemmi.Element(element).atomic_number, energy=energy)
    return complex(f1, f2)


def structure_factors(structure: CrystalStructure, hkl: np.ndarray, s2: np.ndarray, *, xyz: np.ndarray,
                      occupancy: np.ndarray, b_iso: np.ndarray, form_factors: np.ndarray) -> np.ndarray:
    """Complex F for each hkl (n, 3) from the sites' current coordinates (n_sites, 3),
    occupancies and B (Å²); ``form_factors`` from ``scattering_factors``."""
    return site_structure_factors(structure, hkl, s2, xyz=xyz, occupancy=occupancy, b_iso=b_iso,
                                  form_factors=form_factors).sum(axis=0)


def site_structure_factors(structure: CrystalStructure, hkl: np.ndarray, s2: np.ndarray, *, xyz: np.ndarray,
                           occupancy: np.ndarray, b_iso: np.ndarray, form_factors: np.ndarray) -> np.ndarray:
    """Each site's part of F, (n_sites, n_hkl), the arguments as ``structure_factors``'s: a
    refinement that moves one site recomputes that site's part only."""
    rotations, translations = structure._operations
    images = np.einsum("gij,sj->sgi", rotations, xyz) + translations          # (sites, ops, 3)
    phases = 2.0 * np.pi * np.einsum("hk,sgk->shg", hkl.astype(float), images)  # (sites, hkl, ops)
    geometric = np.exp(1j * phases).sum(axis=2) / structure.stabilizer_sizes(xyz)[:, None]
    amplitude = occupancy[:, None] * form_factors * np.exp(-b_iso[:, None] * s2[None, :])
    return amplitude * geometric

"""Random crystal structures with realistic symmetry, cells and contents.

The generator works directly on gemmi's symmetry operations: atoms are drawn
in the asymmetric unit, some of them snapped to special coordinates (0, ¼, ½,
x = y, …), and expanded to their orbits; an atom on a special position has a
shorter orbit after duplicates are merged, exactly as on a Wyckoff position of
lower multiplicity. Intensities and systematic absences are therefore those of
a real structure of the group, including the extra (non-systematic) weak
reflections special positions cause.

Prior (why):

* atoms per cell: log-normal, median 64, σ_log 0.7 — CSD cells hold 20–300
  non-hydrogen atoms, most around 50–100;
* volume per atom: log-normal, median 17 Å³, σ_log 0.2, within 8–40 Å³ — 18 Å³
  per non-hydrogen atom is the organic rule of thumb the seed's own quality
  criterion uses; inorganic solids are denser;
* axis ratios: log-normal with σ_log 0.35 for each free length (ratios
  mostly between 1/2 and 2, as in molecular crystals), c/a of tetragonal and
  hexagonal cells σ_log 0.45, hR c/a (hexagonal axes) median 2.5;
* monoclinic β = 90° + |N(0, 15°)| within 91–135° (most reported β lie at
  95–120°), triclinic angles 90° + N(0, 12°) each, taken to the Niggli-reduced
  cell (the conventional triclinic cell);
* composition: a palette of two to five elements per crystal, C, O and N
  dominating, with halogens, S, P, Si and common metals (organic and
  metal-organic crystals are most of the CSD and COD);
* isotropic displacement B uniform in 1.5–5 Å².
"""

from __future__ import annotations

from math import gcd

import gemmi
import numpy as np

from powdex.crystal import Cell, LatticeSystem, niggli_reduce
from powdex.training.diffraction import Structure
from powdex.training.spacegroups import generation_settings, lattice_system_of, symmetry_operations

_ELEMENTS = ("C", "O", "N", "S", "Cl", "P", "F", "Br", "Si", "Na", "K", "Mg", "Ca", "Al", "Fe", "Co", "Ni", "Cu", "Zn", "Mn", "I", "Sn", "Ba", "Pt", "Pb")
_ELEMENT_WEIGHTS = np.array([40, 15, 10, 3, 3, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3])
_ELEMENT_WEIGHTS = _ELEMENT_WEIGHTS / _ELEMENT_WEIGHTS.sum()
_SPECIAL_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1 / 3, 2 / 3, 1 / 8, 3 / 8])
_MAX_ATOMS_PER_CELL = 600
_DUPLICATE_DECIMALS = 4
_MAX_SITE_BATCHES = 20


def entry_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of entry ``index`` of a build seeded with ``seed``: independent of process layout."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def random_space_group(rng: np.random.Generator) -> gemmi.SpaceGroup:
    names, weights = generation_settings()
    return gemmi.SpaceGroup(names[rng.choice(len(names), p=weights)])


def random_structure(rng: np.random.Generator, space_group: gemmi.SpaceGroup) -> Structure:
    """A random crystal structure of ``space_group`` (in the setting given)."""
    target = int(np.clip(np.rint(rng.lognormal(np.log(64), 0.7)), 1, _MAX_ATOMS_PER_CELL))
    ops = symmetry_operations(space_group.xhm())
    palette = rng.choice(len(_ELEMENTS), size=rng.integers(2, 6), replace=False, p=_ELEMENT_WEIGHTS)
    palette_weights = _ELEMENT_WEIGHTS[palette] / _ELEMENT_WEIGHTS[palette].sum()
    # Groups with many operations put most atoms on special positions (NaCl, spinels, …).
    p_special = min(0.8, 0.05 * len(ops.rotations) ** 0.7)
    positions, elements = [], []
    count = 0
    batch = -(-target // len(ops.rotations)) + 2
    for _ in range(_MAX_SITE_BATCHES):
        for orbit in _orbits(ops, _random_sites(rng, p_special, batch)):
            # An orbit that overshoots the target by half is skipped; smaller ones may still fit.
            if count == 0 or count + len(orbit) <= 1.5 * target:
                positions.append(orbit)
                elements += [_ELEMENTS[rng.choice(palette, p=palette_weights)]] * len(orbit)
                count += len(orbit)
            if count >= target:
                break
        if count >= target:
            break
    positions = np.concatenate(positions)
    volume = len(positions) * float(np.clip(rng.lognormal(np.log(17.0), 0.2), 8.0, 40.0))
    cell = random_cell(rng, lattice_system_of(space_group), volume)
    return Structure(space_group, cell, positions, tuple(elements), float(rng.uniform(1.5, 5.0)))


def _random_sites(rng: np.random.Generator, p_special: float, n: int) -> np.ndarray:
    sites = rng.random((n, 3))
    special = rng.random(n) < p_special
    snap = special[:, None] & (rng.random((n, 3)) < 0.5)
    sites[snap] = rng.choice(_SPECIAL_VALUES, size=int(snap.sum()))
    diagonal = special & (rng.random(n) < 0.3)  # x, x, z and x, x, x positions
    sites[diagonal, 1] = sites[diagonal, 0]
    cubic_diagonal = diagonal & (rng.random(n) < 0.5)
    sites[cubic_diagonal, 2] = sites[cubic_diagonal, 0]
    return sites


def _orbits(ops, sites: np.ndarray) -> list[np.ndarray]:
    """The orbit of each site (duplicates merged: a site on a special position has a shorter orbit)."""
    images = (np.einsum("oij,sj->soi", ops.rotations, sites) + ops.translations) % 1.0  # (sites, ops, 3)
    grid = 10**_DUPLICATE_DECIMALS
    cells = np.rint(images * grid).astype(np.int64) % grid
    key = (cells[..., 0] * grid + cells[..., 1]) * grid + cells[..., 2]
    order = np.argsort(key, axis=1, kind="stable")
    sorted_key = np.take_along_axis(key, order, axis=1)
    first = np.ones_like(sorted_key, dtype=bool)
    first[:, 1:] = sorted_key[:, 1:] != sorted_key[:, :-1]
    return [images[s, order[s][first[s]]] for s in range(len(sites))]


def random_cell(rng: np.random.Generator, system: LatticeSystem, volume: float) -> Cell:
    """A conventional cell of ``system`` with the given volume, drawn from the prior above."""
    match system:
        case LatticeSystem.CUBIC:
            cell = Cell(1, 1, 1)
        case LatticeSystem.TETRAGONAL:
            cell = Cell(1, 1, rng.lognormal(0.0, 0.45))
        case LatticeSystem.HEXAGONAL:
            cell = Cell(1, 1, rng.lognormal(0.0, 0.45), 90, 90, 120)
        case LatticeSystem.RHOMBOHEDRAL:
            cell = Cell(1, 1, np.clip(rng.lognormal(np.log(2.5), 0.45), 0.3, 12), 90, 90, 120)
        case LatticeSystem.ORTHORHOMBIC:
            cell = Cell(*rng.lognormal(0.0, 0.35, 3))
        case LatticeSystem.MONOCLINIC:
            beta = float(np.clip(90 + abs(rng.normal(0, 15)), 91, 135))
            cell = Cell(*rng.lognormal(0.0, 0.35, 3), 90, beta, 90)
        case _:
            cell = _random_triclinic(rng)
    scale = (volume / cell.volume) ** (1 / 3)
    return Cell(*(cell.parameters[:3] * scale), *cell.parameters[3:])


def _random_triclinic(rng: np.random.Generator) -> Cell:
    while True:
        angles = 90 + rng.normal(0, 12, 3)
        try:
            cell = Cell(*rng.lognormal(0.0, 0.35, 3), *angles)
        except ValueError:
            continue
        return niggli_reduce(cell).cell


def formula(elements: tuple[str, ...]) -> str:
    """Hill formula of the cell contents divided by their greatest common divisor."""
    symbols, counts = np.unique(np.asarray(elements), return_counts=True)
    divisor = 0
    for n in counts:
        divisor = gcd(divisor, int(n))
    order = sorted(symbols, key=lambda s: (s != "C", s != "H" or "C" not in symbols, s))
    per = dict(zip(symbols, counts // divisor))
    return " ".join(f"{s}{per[s] if per[s] > 1 else ''}" for s in order)

"""Random crystal structures with realistic symmetry, cells and contents.

The generator works directly on gemmi's symmetry operations. Sites are drawn
at random, a fraction of them moved onto a special position: the fixed set of
one to three operations x ↦ Rx + t + n (n a lattice vector), found by
projecting the random point onto the solutions of (R − I)x = −(t + n) — a
point, line or plane, exactly the Wyckoff positions of the group (0, ¼, ½,
x x z, x 2x z, …). Each site is expanded to its orbit with duplicates merged,
so a site on a special position has the orbit of its lower multiplicity.
Intensities and systematic absences are therefore those of a real structure of
the group, including the extra (non-systematic) weak reflections special
positions cause.

Atoms keep a minimum distance: the cell shape is drawn first and scaled to
(atoms so far × volume per atom); an orbit is accepted only if its sites lie at
least ``min_distance`` from every atom already placed and from each other
(periodic images included) in the cell scaled for the new count. Scaling only
grows as atoms are added, so accepted distances never shrink; by symmetry one
representative site per orbit is enough to check.

The prior is a mixture of three components (frequencies of space groups per
component: ``spacegroups``):

organic-like (CSD): atoms per cell log-normal, median 64, σ_log 0.7 — CSD cells
  hold 20–300 non-hydrogen atoms, most around 50–100; volume per atom
  log-normal, median 17 Å³, σ_log 0.2, within 8–40 Å³ (18 Å³ per non-hydrogen
  atom is the organic rule of thumb the CIF import's quality criterion uses);
  minimum distance 1.2 Å (C=O 1.21, C=N 1.28, C–C 1.54 Å: shorter contacts
  between non-hydrogen atoms do not occur); sites on special positions
  min(0.8, 0.05 |G|^0.7) (molecules sit on general positions, inversion
  centres and 2-fold axes in larger groups); palette of two to five elements,
  C, O and N dominating, with halogens, S, P, Si and common metals; isotropic
  B uniform in 1.5–5 Å² (room-temperature molecular crystals).
inorganic-like (ICSD): atoms per cell log-normal, median 16, σ_log 0.8 —
  the familiar structure types cP5 (perovskite), cF8 (rock salt), cF12
  (fluorite), hP4 (wurtzite), tP6 (rutile), hR10 (corundum), cF56 (spinel)
  and cI160 (garnet) lie within two σ; volume per atom log-normal, median
  14 Å³, σ_log 0.25, within 7–40 Å³ (corundum 8.5, MgO 9.4, quartz 12.6,
  SrTiO₃ 11.9, Cu 11.8, Si 20, NaCl 22 Å³ per atom); minimum distance 1.5 Å
  (P–O 1.53, Si–O 1.61 Å; metal–anion bonds are longer); sites on special
  positions min(0.9, 0.3 |G|^0.35) (most atoms of high-symmetry inorganic
  structures sit on special positions); palette of one to four elements, O
  and the common anions, the main-group and transition metals; B uniform in
  0.3–1.5 Å².
simple (the ICSD's elements, alloys and binary compounds): atoms per cell
  log-normal, median 4, σ_log 0.7 — cF4 (copper), cI2 (tungsten), hP2
  (magnesium), hP4 (graphite, wurtzite), cF8 (rock salt, diamond), tP6
  (rutile), hP6 (CaCu₅) lie within one σ; without it cells of one to four
  atoms, and so the short lists of small cells, would be rare in training
  (the inorganic component draws four or fewer atoms in one crystal in
  twenty); volume per atom log-normal, median 15 Å³, σ_log 0.35, within
  5–80 Å³ (diamond 5.7, graphite 8.8, Cu 11.8, Ru 13.6, W 15.8, Mg 23.2,
  NaCl 22.4, Na 39, K 75 Å³ per atom); minimum distance 1.4 Å (C–C in
  graphite 1.42 Å); sites on special positions min(0.95, 0.4 |G|^0.35)
  (in such cells nearly every atom sits on one); palette of one to three
  elements, mostly metals with the common anions and metalloids; B uniform
  in 0.2–1.2 Å².

Cell shapes (all components): axis ratios log-normal with σ_log 0.35 for
each free length (ratios mostly between 1/2 and 2), c/a of tetragonal and
hexagonal cells σ_log 0.45, hR c/a (hexagonal axes) median 2.5; monoclinic
β = 90° + |N(0, 15°)| redrawn until within 91–135° (most reported β lie at
95–120°; β ≈ 90° cells are pseudo-orthorhombic), triclinic angles
90° + N(0, 12°) each, taken to the Niggli-reduced cell (the conventional
triclinic cell).

Lattice systems: an entry's lattice system follows from its index alone
(``lattice_system_of_entry``), so a build of n entries holds n × share of each
system up to rounding, whatever the shares (``spacegroups.system_shares``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import gcd

import gemmi
import numpy as np

from powdex.crystal import Cell, LatticeSystem, niggli_reduce
from powdex.training.diffraction import Structure
from powdex.training.spacegroups import SymmetryOperations, generation_settings, lattice_system_of, symmetry_operations

# Raise whenever the same (seed, index) would give a different entry: a build refuses to resume across versions.
GENERATOR_VERSION = 6

_MAX_ATOMS_PER_CELL = 600
_DUPLICATE_DECIMALS = 4
_MAX_SITE_BATCHES = 20
_MAX_SHAPES = 10  # cell shapes tried before a structure is given up
_MIN_BATCH = 8
_PROJECTION_TRIES = 6
_OVERSHOOT = 1.5  # an orbit may take the atom count up to this multiple of the target
_IMAGES = np.array(list(product((-1, 0, 1), repeat=3)), dtype=float)
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class Component:
    """One component of the prior (values and reasons in the module docstring)."""

    name: str
    atoms_median: float
    atoms_sigma: float
    volume_median: float  # Å³ per atom
    volume_sigma: float
    volume_range: tuple[float, float]
    min_distance: float  # Å
    special_scale: float  # fraction of sites on special positions: min(cap, scale · |G|^power)
    special_power: float
    special_cap: float
    elements: tuple[str, ...]
    element_weights: np.ndarray
    palette_sizes: tuple[int, int]  # inclusive range of elements per crystal
    b_range: tuple[float, float]  # Å²

    def special_fraction(self, operations: int) -> float:
        return min(self.special_cap, self.special_scale * operations**self.special_power)


def _weights(values: list[float]) -> np.ndarray:
    w = np.array(values, dtype=float)
    return w / w.sum()


COMPONENTS = {
    "organic": Component(
        "organic", 64, 0.7, 17.0, 0.2, (8.0, 40.0), 1.2, 0.05, 0.7, 0.8,
        ("C", "O", "N", "S", "Cl", "P", "F", "Br", "Si", "Na", "K", "Mg", "Ca", "Al", "Fe", "Co", "Ni", "Cu", "Zn", "Mn", "I", "Sn", "Ba", "Pt", "Pb"),
        _weights([40, 15, 10, 3, 3, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3]),
        (2, 5), (1.5, 5.0),
    ),
    "inorganic": Component(
        "inorganic", 16, 0.8, 14.0, 0.25, (7.0, 40.0), 1.5, 0.3, 0.35, 0.9,
        ("O", "F", "Cl", "S", "Se", "N", "P", "Si", "B", "Li", "Na", "K", "Mg", "Ca", "Sr", "Ba", "Al", "Ga", "Ti", "V",
         "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Zr", "Nb", "Mo", "Ag", "Sn", "Sb", "La", "Nd", "W", "Pt", "Pb", "Bi", "U"),
        _weights([30, 4, 4, 5, 1, 2, 3, 4, 2, 2, 4, 3, 3, 4, 2, 3, 3, 1, 2, 2,
                  1, 2, 3, 2, 2, 3, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 0.5, 1, 1, 1]),
        (1, 4), (0.3, 1.5),
    ),
    "simple": Component(
        "simple", 4, 0.7, 15.0, 0.35, (5.0, 80.0), 1.4, 0.4, 0.35, 0.95,
        ("O", "S", "Se", "Te", "N", "C", "B", "F", "Cl", "P", "As", "Si", "Ge", "Li", "Na", "K", "Mg", "Ca", "Sr", "Ba",
         "Al", "Ga", "In", "Sn", "Pb", "Sb", "Bi", "Ti", "Zr", "V", "Nb", "Cr", "Mo", "W", "Mn", "Fe", "Co", "Ni",
         "Cu", "Ag", "Au", "Zn", "Cd", "Ru", "Pd", "Pt", "La", "Ce", "Nd", "Gd", "U"),
        _weights([6, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 2, 1, 1, 1,
                  3, 2, 1, 2, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 2, 3, 2, 3,
                  3, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (1, 3), (0.2, 1.2),
    ),
}


def entry_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of entry ``index`` of a build seeded with ``seed``: independent of process layout."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def lattice_system_of_entry(seed: int, index: int, shares: dict[str, float]) -> str:
    """Lattice system of entry ``index``: the golden-ratio sequence frac(u₀ + i φ⁻¹) through the cumulative shares.

    The sequence fills [0, 1) so evenly that any n consecutive entries hold each system n × share times
    up to a few entries (low discrepancy), and it needs no state: workers and resumed builds agree.
    """
    offset = np.random.SeedSequence(seed).generate_state(1)[0] / 2.0**32
    u = (offset + index * _GOLDEN) % 1.0
    systems = [s.value for s in LatticeSystem]  # a fixed order, whatever the order of ``shares``
    edges = np.cumsum([shares[s] for s in systems])
    return systems[min(int(np.searchsorted(edges / edges[-1], u, side="right")), len(systems) - 1)]


def random_space_group(rng: np.random.Generator, system: str) -> tuple[gemmi.SpaceGroup, Component]:
    """A setting of ``system`` with its natural frequency, and the prior component it is drawn from."""
    settings = generation_settings()
    index = settings.draw_setting(system, rng)
    return gemmi.SpaceGroup(settings.names[index]), COMPONENTS[settings.draw_component(index, rng)]


def random_structure(rng: np.random.Generator, space_group: gemmi.SpaceGroup, component: Component) -> Structure:
    """A random crystal structure of ``space_group`` (in the setting given) from one component of the prior."""
    target = int(np.clip(np.rint(rng.lognormal(np.log(component.atoms_median), component.atoms_sigma)), 1, _MAX_ATOMS_PER_CELL))
    volume_per_atom = float(np.clip(rng.lognormal(np.log(component.volume_median), component.volume_sigma), *component.volume_range))
    ops = symmetry_operations(space_group.xhm())
    palette = rng.choice(len(component.elements), size=rng.integers(component.palette_sizes[0], component.palette_sizes[1] + 1), replace=False, p=component.element_weights)
    palette_weights = component.element_weights[palette] / component.element_weights[palette].sum()
    for _ in range(_MAX_SHAPES):
        shape = random_cell(rng, lattice_system_of(space_group), 1.0)
        try:
            orbits = _place_orbits(rng, ops, shape.matrix, volume_per_atom, target, component)
            break
        except RuntimeError:
            continue  # a flat or needle shape where no site clears its own images: draw another shape
    else:
        raise RuntimeError(f"{space_group.xhm()}: no cell shape of {_MAX_SHAPES} keeps the minimum distance")
    positions = np.concatenate(orbits)
    elements: list[str] = []
    for orbit in orbits:  # one element per orbit, as on a Wyckoff position
        elements += [component.elements[rng.choice(palette, p=palette_weights)]] * len(orbit)
    # A cell of few atoms can be so small that an atom comes within min_distance of its own periodic image
    # (a lattice vector): such cells grow until the shortest lattice vector is min_distance long.
    translations = np.linalg.norm(_IMAGES @ shape.matrix, axis=1)
    smallest_volume = (component.min_distance / translations[translations > 0].min()) ** 3
    cell = _scaled(shape, max(len(positions) * volume_per_atom, smallest_volume))
    return Structure(space_group, cell, positions, tuple(elements), float(rng.uniform(*component.b_range)))


def _place_orbits(rng, ops: SymmetryOperations, shape: np.ndarray, volume_per_atom: float, target: int, component: Component) -> list[np.ndarray]:
    """Orbits until the cell holds ``target`` atoms (at most _OVERSHOOT × target), every distance ≥ min_distance.

    If nothing of a batch fits the still empty cell, its smallest orbit that keeps the distances is the
    whole structure: the group has no orbit as small as the target.
    """
    special = component.special_fraction(len(ops.rotations))
    batch = max(_MIN_BATCH, -(-target // len(ops.rotations)) + 2)
    reciprocal = float(np.max(np.linalg.norm(np.linalg.inv(shape), axis=0)))  # longest a* of the unit-volume cell
    accepted: list[np.ndarray] = []
    placed = np.zeros((0, 3))
    for _ in range(_MAX_SITE_BATCHES):
        smallest = None
        for orbit in _orbits(ops, _random_sites(rng, ops, special, batch)):
            count = len(placed) + len(orbit)
            overshoots = count > _OVERSHOOT * target
            if overshoots and (accepted or (smallest is not None and len(smallest) <= len(orbit))):
                continue
            scale = (count * volume_per_atom) ** (1 / 3)
            others = np.concatenate([placed, orbit[1:]])
            if _too_close(orbit[0], others, shape * scale, component.min_distance * reciprocal / scale, component.min_distance):
                continue
            if overshoots:
                smallest = orbit
                continue
            accepted.append(orbit)
            placed = np.concatenate([placed, orbit])
            if len(placed) >= target:
                return accepted
        if smallest is not None and not accepted:
            return [smallest]
    if not accepted:
        # Every one of hundreds of sites lay within min_distance of its own images: a shape far from any real cell.
        raise RuntimeError("no orbit keeps the minimum distance")
    return accepted


def _too_close(site: np.ndarray, others: np.ndarray, cell: np.ndarray, reach: float, min_distance: float) -> bool:
    """Whether a periodic image of ``others`` (fractional) lies within ``min_distance`` of ``site`` in ``cell`` (rows, Å).

    ``reach`` is min_distance × the longest reciprocal vector: a vector shorter than min_distance has
    fractional components below ``reach``, so when reach ≤ ½ the minimum image in fractional coordinates is
    the nearest one; otherwise (a very small or flat cell) its 26 neighbours are tried as well.
    """
    delta = others - site
    delta -= np.rint(delta)
    cartesian = delta @ cell
    if reach > 0.5:
        cartesian = (cartesian[:, None, :] + _IMAGES @ cell).reshape(-1, 3)
    return bool(np.any(np.einsum("ni,ni->n", cartesian, cartesian) < min_distance**2))


def _random_sites(rng: np.random.Generator, ops: SymmetryOperations, special_fraction: float, n: int) -> np.ndarray:
    """``n`` random sites, each on a special position with probability ``special_fraction`` (where the group has any)."""
    sites = rng.random((n, 3))
    chosen = np.flatnonzero(rng.random(n) < special_fraction)
    rotating = np.flatnonzero(~np.all(np.isclose(ops.rotations, np.eye(3)), axis=(1, 2)))
    if not len(chosen) or not len(rotating):
        return sites
    tries = len(chosen) * _PROJECTION_TRIES
    # One to three constraints per try: the first always an operation, the others one with probability ½
    # (an unused slot is the identity, which constrains nothing).
    which = rotating[rng.integers(len(rotating), size=(tries, 3))]
    used = np.ones((tries, 3), dtype=bool)
    used[:, 1:] = rng.random((tries, 2)) < 0.5
    shift = rng.integers(-1, 2, size=(tries, 3, 3)) * used[..., None]
    a = (ops.rotations[which] - np.eye(3)) * used[..., None, None]  # (tries, 3, 3, 3)
    b = (ops.translations[which] + shift) * used[..., None]  # (tries, 3, 3)
    a, b = a.reshape(tries, 9, 3), b.reshape(tries, 9)
    start = np.repeat(sites[chosen], _PROJECTION_TRIES, axis=0)
    residual = np.einsum("tij,tj->ti", a, start) + b
    projected = start - np.einsum("tij,tj->ti", np.linalg.pinv(a, rcond=1e-8), residual)
    consistent = np.max(np.abs(np.einsum("tij,tj->ti", a, projected) + b), axis=1) < 1e-8
    consistent = consistent.reshape(len(chosen), _PROJECTION_TRIES)
    found = consistent.any(axis=1)
    first = np.argmax(consistent, axis=1)
    picked = projected.reshape(len(chosen), _PROJECTION_TRIES, 3)[np.arange(len(chosen)), first]
    sites[chosen[found]] = picked[found] % 1.0
    return sites


def _orbits(ops, sites: np.ndarray) -> list[np.ndarray]:
    """The orbit of each site, coincident images merged: a site on a special position has a shorter orbit.

    Images are merged by rounding first (fast, and enough for a general
    position, whose images are all distinct); an orbit that had coincident
    images is then checked pairwise by minimum-image separation, since two
    images of one point can straddle a rounding boundary.
    """
    images = (np.einsum("oij,sj->soi", ops.rotations, sites) + ops.translations) % 1.0  # (sites, ops, 3)
    grid = 10**_DUPLICATE_DECIMALS
    cells = np.rint(images * grid).astype(np.int64) % grid
    key = (cells[..., 0] * grid + cells[..., 1]) * grid + cells[..., 2]
    order = np.argsort(key, axis=1, kind="stable")
    sorted_key = np.take_along_axis(key, order, axis=1)
    first = np.ones_like(sorted_key, dtype=bool)
    first[:, 1:] = sorted_key[:, 1:] != sorted_key[:, :-1]
    orbits = []
    for s in range(len(sites)):
        orbit = images[s, order[s][first[s]]]
        if len(orbit) < images.shape[1]:
            delta = orbit[:, None, :] - orbit[None, :, :]
            delta -= np.rint(delta)
            same = np.all(np.abs(delta) < 2.0 / grid, axis=-1)
            orbit = orbit[~np.any(np.tril(same, k=-1), axis=1)]
        orbits.append(orbit)
    return orbits


def random_cell(rng: np.random.Generator, system: LatticeSystem, volume: float) -> Cell:
    """A conventional cell of ``system`` with the given volume, drawn from the prior above."""
    match system:
        case LatticeSystem.CUBIC:
            cell = system.cell_from_free_parameters([1])
        case LatticeSystem.TETRAGONAL | LatticeSystem.HEXAGONAL:
            cell = system.cell_from_free_parameters([1, rng.lognormal(0.0, 0.45)])
        case LatticeSystem.RHOMBOHEDRAL:
            # In hexagonal axes, the setting of the R space groups generated here.
            cell = LatticeSystem.HEXAGONAL.cell_from_free_parameters([1, np.clip(rng.lognormal(np.log(2.5), 0.45), 0.3, 12)])
        case LatticeSystem.ORTHORHOMBIC:
            cell = system.cell_from_free_parameters(rng.lognormal(0.0, 0.35, 3))
        case LatticeSystem.MONOCLINIC:
            beta = 90 + abs(rng.normal(0, 15))
            while not 91 <= beta <= 135:
                beta = 90 + abs(rng.normal(0, 15))
            cell = system.cell_from_free_parameters([*rng.lognormal(0.0, 0.35, 3), beta])
        case _:
            cell = _random_triclinic(rng)
    return _scaled(cell, volume)


def _scaled(cell: Cell, volume: float) -> Cell:
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

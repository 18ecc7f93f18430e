"""Space groups for training data: settings, symmetry operations as arrays, classification, frequencies.

Synthetic crystals are drawn in one setting per space group and cell choice:

* orthorhombic groups in the reference setting only: the cell lengths are drawn
  in random order and every entry is reindexed to a ≤ b ≤ c afterwards, so the
  six axis permutations (P 21 21 2, P 2 21 21, …) occur in proportion to chance;
* monoclinic groups in all cell choices with unique axis b (P 1 21/c 1,
  P 1 21/n 1, P 1 21/a 1; C 1 2/c 1, A 1 2/n 1, I 1 2/a 1, …), because the cell
  choice changes which reflections are absent and real structures are reported
  in all of them;
* rhombohedral groups in hexagonal axes (the conventional hR cell), everything
  else in the reference setting (origin choices do not change absences).

Frequencies: the prior is a mixture of an organic-like, an inorganic-like and
a simple (elements, alloys, binary compounds) component (``COMPONENTS``,
weights ``COMPONENT_SHARES``), each with its own
space-group frequencies (``data/space_group_frequencies.csv``, which documents
the sources and how unlisted groups are weighted). ``GenerationSettings`` holds
the joint probability P(setting, component); the lattice system of an entry may
be fixed by the build (``system_shares``) and the setting is then drawn from
P(setting | lattice system), the component from P(component | setting).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import gemmi
import numpy as np

from powdex.crystal import BravaisLattice, LatticeSystem
from powdex.training.errors import DatasetError

_MONOCLINIC_B_QUALIFIERS = {"b", "b1", "b2", "b3"}
# The ICSD holds about a quarter as many entries as the CSD (aflow.org prototype-encyclopedia tutorial
# "SpaceGroupDistribution"), so one crystal in five is inorganic, as in the two databases together. Of those we
# take about a third (an estimate, not a count) to be elements, alloys and binary compounds with a few atoms per
# cell (the simple component): otherwise rare in training, they are everyday samples in powder work.
COMPONENTS = ("organic", "inorganic", "simple")
COMPONENT_SHARES = np.array([0.8, 0.14, 0.06])
# Every group keeps at least this fraction of each component so that rare groups still occur in large builds.
MINIMUM_GROUP_FRACTION = 1e-4


@dataclass(frozen=True)
class SymmetryOperations:
    """All operations of a space-group setting (centring included) as arrays: x' = R x + t."""

    rotations: np.ndarray  # (n, 3, 3) integer-valued floats
    translations: np.ndarray  # (n, 3) fractions

    @property
    def inversion_at_origin(self) -> bool:
        """Whether −x, −y, −z is an operation: then every F(hkl) is real."""
        inversion = np.all(self.rotations == -np.eye(3), axis=(1, 2)) & np.all(self.translations % 1.0 == 0, axis=1)
        return bool(inversion.any())


@cache
def symmetry_operations(name: str) -> SymmetryOperations:
    ops = list(gemmi.SpaceGroup(name).operations())
    rot = np.array([op.rot for op in ops], dtype=float) / gemmi.Op.DEN
    tran = np.array([op.tran for op in ops], dtype=float) / gemmi.Op.DEN
    return SymmetryOperations(rot, tran)


def lattice_system_of(sg: gemmi.SpaceGroup) -> LatticeSystem:
    system = sg.crystal_system_str()
    if system == "trigonal":
        return LatticeSystem.RHOMBOHEDRAL if sg.hm[0] == "R" else LatticeSystem.HEXAGONAL
    return LatticeSystem(system)


def bravais_lattice_of(sg: gemmi.SpaceGroup) -> BravaisLattice:
    # powdex.crystal's holohedry mapping is the one definition (A, B and I monoclinic cells are mC, A and B
    # orthorhombic cells oC); the letter only names the lattice: reduce with ``sg.centring_type()``.
    return BravaisLattice.of_space_group(sg.number, sg.hm)


@dataclass(frozen=True)
class GenerationSettings:
    """The settings synthetic crystals are drawn in, with the joint probability of setting and component."""

    names: tuple[str, ...]  # extended Hermann–Mauguin symbols (``R 3:H``, ``F d -3 m:2``)
    systems: tuple[str, ...]  # lattice system of each setting
    joint: np.ndarray  # (settings, components): P(setting, component), sums to 1

    @property
    def weights(self) -> np.ndarray:
        """P(setting) under natural frequencies."""
        return self.joint.sum(axis=1)

    def natural_system_shares(self) -> dict[str, float]:
        systems = np.asarray(self.systems)
        return {s.value: float(self.weights[systems == s.value].sum()) for s in LatticeSystem}

    def draw_setting(self, system: str, rng: np.random.Generator) -> int:
        """Index of a setting of ``system`` drawn with its natural frequency within the system."""
        members = np.flatnonzero(np.asarray(self.systems) == system)
        weights = self.weights[members]
        return int(members[rng.choice(len(members), p=weights / weights.sum())])

    def draw_component(self, setting: int, rng: np.random.Generator) -> str:
        row = self.joint[setting]
        return COMPONENTS[rng.choice(len(COMPONENTS), p=row / row.sum())]


@lru_cache(maxsize=1)
def generation_settings() -> GenerationSettings:
    """Every setting used for synthetic crystals; a space group's weight is shared equally by its cell choices."""
    group_weights = space_group_weights() * COMPONENT_SHARES  # (230, components), sums to 1
    names, systems, joint = [], [], []
    for number in range(1, 231):
        settings = [
            sg
            for sg in gemmi.spacegroup_table()
            if sg.number == number
            and (
                sg.qualifier in _MONOCLINIC_B_QUALIFIERS and sg.hm[0] != "B"  # B-centred: gemmi's non-ITA extras
                if 3 <= number <= 15
                else sg.is_reference_setting()
            )
        ]
        for sg in settings:
            names.append(sg.xhm())
            systems.append(lattice_system_of(sg).value)
            joint.append(group_weights[number - 1] / len(settings))
    return GenerationSettings(tuple(names), tuple(systems), np.array(joint))


@lru_cache(maxsize=1)
def space_group_weights() -> np.ndarray:
    """P(space group | component), (230, components) with index number − 1, from ``data/space_group_frequencies.csv``.

    Within each component the listed percentages are kept, the unlisted groups share the rest of 100 %
    equally, and every group is then raised to MINIMUM_GROUP_FRACTION (and the column renormalised).
    """
    listed = _read_frequency_table()  # (230, components), NaN where not listed
    weights = np.empty_like(listed)
    for c in range(listed.shape[1]):
        known = ~np.isnan(listed[:, c])
        remainder = max(100.0 - listed[known, c].sum(), 0.0)
        weights[:, c] = np.where(known, listed[:, c], remainder / max(int((~known).sum()), 1)) / 100.0
        weights[:, c] = np.maximum(weights[:, c] / weights[:, c].sum(), MINIMUM_GROUP_FRACTION)
    return weights / weights.sum(axis=0)


def _read_frequency_table() -> np.ndarray:
    text = resources.files("powdex.training").joinpath("data/space_group_frequencies.csv").read_text()
    table = np.full((230, len(COMPONENTS)), np.nan)
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        for c, component in enumerate(COMPONENTS):
            if row[component].strip():
                table[int(row["number"]) - 1, c] = float(row[component])
    return table


def system_shares(spec: str) -> dict[str, float]:
    """Share of each lattice system in a build: ``natural``, ``equal`` or ``cubic=0.2,hexagonal=0.1,…``.

    Systems not named in the third form share what the named ones leave in proportion to their
    natural shares. Raises :class:`DatasetError` with the offending part of ``spec``.
    """
    natural = generation_settings().natural_system_shares()
    spec = spec.strip()
    if spec == "natural":
        return natural
    if spec == "equal":
        return {s: 1.0 / len(natural) for s in natural}
    named: dict[str, float] = {}
    for part in spec.split(","):
        system, _, value = part.partition("=")
        system = system.strip()
        if system not in natural:
            raise DatasetError(f"system shares {spec!r}: {system!r} is not a lattice system ({', '.join(natural)})")
        try:
            named[system] = float(value)
        except ValueError:
            raise DatasetError(f"system shares {spec!r}: {part.strip()!r} is not system=share") from None
        if not 0.0 <= named[system] <= 1.0:
            raise DatasetError(f"system shares {spec!r}: the share of {system} must lie in 0-1")
    left = 1.0 - sum(named.values())
    rest = {s: w for s, w in natural.items() if s not in named}
    if left < -1e-9 or (not rest and abs(left) > 1e-9):
        raise DatasetError(f"system shares {spec!r}: the shares must add up to 1 (they add up to {1 - left:g})")
    total = sum(rest.values())
    return {s: named[s] if s in named else max(left, 0.0) * natural[s] / total for s in natural}

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
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import gemmi
import numpy as np

from powdex.crystal import BravaisLattice, LatticeSystem
from powdex.crystal.reduction import _bravais_of_holohedry

_MONOCLINIC_B_QUALIFIERS = {"b", "b1", "b2", "b3"}
_CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
# Share of each crystal system in the CSD, April 1998 (pd.chem.ucl.ac.uk/pdnn/symm3/sgpfreq.htm), percent.
CRYSTAL_SYSTEM_SHARES = {
    "triclinic": 20.91,
    "monoclinic": 53.16,
    "orthorhombic": 20.98,
    "tetragonal": 2.33,
    "trigonal": 1.62,
    "hexagonal": 0.53,
    "cubic": 0.47,
}
# Every group keeps at least this fraction so that rare groups still occur in large builds.
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


def group_name(sg: gemmi.SpaceGroup) -> str:
    """The extended Hermann–Mauguin symbol that names a setting unambiguously (``R 3:H``, ``F d -3 m:2``)."""
    return sg.xhm()


@lru_cache(maxsize=None)
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
    return _bravais_of_holohedry(sg.number, sg.hm)


@lru_cache(maxsize=1)
def generation_settings() -> tuple[tuple[str, ...], np.ndarray]:
    """Setting names and their probabilities (space-group frequency shared equally by its cell choices)."""
    group_weights = space_group_weights()
    names, weights = [], []
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
            names.append(group_name(sg))
            weights.append(group_weights[number - 1] / len(settings))
    return tuple(names), np.array(weights)


@lru_cache(maxsize=1)
def space_group_weights() -> np.ndarray:
    """Probability of each space group 1–230 (index number − 1), from ``data/space_group_frequencies.csv``."""
    listed = _read_frequency_table()
    systems = np.array([gemmi.SpaceGroup(n).crystal_system_str() for n in range(1, 231)])
    weights = np.zeros(230)
    for system in _CRYSTAL_SYSTEMS:
        members = np.flatnonzero(systems == system)
        known = np.array([listed.get(n + 1, np.nan) for n in members])
        if np.isnan(known).all():
            share = np.full(len(members), 1.0 / len(members))
        else:
            # Each unlisted group gets half the weight of the rarest listed group of its system.
            fill = np.nanmin(known) / 2
            share = np.where(np.isnan(known), fill, known)
            share /= share.sum()
        weights[members] = CRYSTAL_SYSTEM_SHARES[system] * share
    weights /= weights.sum()
    weights = np.maximum(weights, MINIMUM_GROUP_FRACTION)
    return weights / weights.sum()


def _read_frequency_table() -> dict[int, float]:
    text = resources.files("powdex.training").joinpath("data/space_group_frequencies.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {int(row["number"]): float(row["weight"]) for row in rows}

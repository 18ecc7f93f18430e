"""The fourteen Bravais lattices and their centring conditions.

Centring conditions come from gemmi: each Bravais lattice is represented by the
symmorphic space group of lowest symmetry with its lattice (P1, C2, I222, …), whose
only systematic absences are the centring ones. Rhombohedral lattices (hR) are
described in hexagonal axes (obverse setting, −h+k+l = 3n), as in the
International Tables; their primitive rhombohedral cell is available too.
"""

from __future__ import annotations

from enum import Enum

import gemmi
import numpy as np

from powdex.crystal.absences import systematically_absent
from powdex.crystal.cell import Cell
from powdex.crystal.lattice import LatticeSystem

# symbol: (lattice system, system of the conventional axes, centring letter, space group)
_BRAVAIS = {
    "aP": ("triclinic", "triclinic", "P", "P 1"),
    "mP": ("monoclinic", "monoclinic", "P", "P 1 2 1"),
    "mC": ("monoclinic", "monoclinic", "C", "C 1 2 1"),
    "oP": ("orthorhombic", "orthorhombic", "P", "P 2 2 2"),
    "oC": ("orthorhombic", "orthorhombic", "C", "C 2 2 2"),
    "oI": ("orthorhombic", "orthorhombic", "I", "I 2 2 2"),
    "oF": ("orthorhombic", "orthorhombic", "F", "F 2 2 2"),
    "tP": ("tetragonal", "tetragonal", "P", "P 4"),
    "tI": ("tetragonal", "tetragonal", "I", "I 4"),
    "hP": ("hexagonal", "hexagonal", "P", "P 6"),
    "hR": ("rhombohedral", "hexagonal", "R", "R 3"),
    "cP": ("cubic", "cubic", "P", "P 2 3"),
    "cI": ("cubic", "cubic", "I", "I 2 3"),
    "cF": ("cubic", "cubic", "F", "F 2 3"),
}

# Lattice points per conventional cell, by centring letter.
_POINTS_PER_CELL = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "F": 4, "R": 3}


class BravaisLattice(str, Enum):
    aP = "aP"
    mP = "mP"
    mC = "mC"
    oP = "oP"
    oC = "oC"
    oI = "oI"
    oF = "oF"
    tP = "tP"
    tI = "tI"
    hP = "hP"
    hR = "hR"
    cP = "cP"
    cI = "cI"
    cF = "cF"

    @property
    def lattice_system(self) -> LatticeSystem:
        return LatticeSystem(_BRAVAIS[self.value][0])

    @property
    def axes(self) -> LatticeSystem:
        """The lattice system whose forward model describes the conventional cell (hR: hexagonal axes)."""
        return LatticeSystem(_BRAVAIS[self.value][1])

    @property
    def centring(self) -> str:
        return _BRAVAIS[self.value][2]

    @property
    def space_group(self) -> gemmi.SpaceGroup:
        """The symmorphic space group of lowest symmetry on this lattice."""
        return gemmi.SpaceGroup(_BRAVAIS[self.value][3])

    @property
    def points_per_cell(self) -> int:
        return _POINTS_PER_CELL[self.centring]

    def allowed(self, hkl) -> np.ndarray:
        """Boolean mask of Miller indices (…, 3) that the centring allows."""
        return ~systematically_absent(self.space_group, hkl)

    @classmethod
    def of_space_group(cls, number: int, symbol: str) -> BravaisLattice:
        """The Bravais lattice of a space group, from its number and (the centring letter of) its symbol."""
        letter = symbol.strip()[0]
        if number <= 2:
            return cls.aP
        if number <= 15:
            return cls.mP if letter == "P" else cls.mC
        if number <= 74:
            return {"P": cls.oP, "I": cls.oI, "F": cls.oF}.get(letter, cls.oC)
        if number <= 142:
            return cls.tP if letter == "P" else cls.tI
        if number <= 194:
            return cls.hR if letter == "R" else cls.hP
        return {"P": cls.cP, "I": cls.cI}.get(letter, cls.cF)

    @classmethod
    def of_system(cls, system: LatticeSystem | str) -> list[BravaisLattice]:
        system = LatticeSystem(system)
        return [b for b in cls if b.lattice_system is system]

    def primitive_cell(self, cell: Cell) -> Cell:
        """A primitive cell of the lattice whose conventional cell is ``cell``."""
        return Cell.from_gemmi(cell.to_gemmi().changed_basis_backward(self.space_group.centred_to_primitive(), False))

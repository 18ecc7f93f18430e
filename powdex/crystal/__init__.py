"""Crystallography core: cells, lattice systems and forward models, powder-pattern physics
(Lorentz–polarisation, line merging), Bravais lattices, systematic absences, reference
Miller-index sets, reduction and lattice comparison.

Depends on numpy, gemmi and spglib only; nothing here imports from the rest of powdex.
"""

from powdex.crystal.absences import space_group, systematically_absent
from powdex.crystal.bravais import BravaisLattice
from powdex.crystal.cell import (
    COEFFICIENT_NAMES,
    PARAMETER_NAMES,
    Cell,
    miller_terms,
    parameters_from_coefficients,
    reciprocal_coefficients,
)
from powdex.crystal.lattice import LatticeSystem, cells_from_free, free_parameter_columns
from powdex.crystal.miller import reference_miller_indices, sort_by_mean_spacing, spacing_invariants
from powdex.crystal.powder import line_groups, lorentz_polarisation, merge_lines
from powdex.crystal.reduction import (
    ConventionalCell,
    LatticeSignature,
    ReducedCell,
    conventional_cell,
    lattice_signature,
    niggli_reduce,
    same_lattice,
    standard_setting,
    sublattice_bases,
    superlattice_cell,
    superlattice_index,
)

__all__ = [
    "COEFFICIENT_NAMES",
    "PARAMETER_NAMES",
    "BravaisLattice",
    "Cell",
    "ConventionalCell",
    "LatticeSignature",
    "LatticeSystem",
    "ReducedCell",
    "cells_from_free",
    "conventional_cell",
    "free_parameter_columns",
    "lattice_signature",
    "line_groups",
    "lorentz_polarisation",
    "merge_lines",
    "miller_terms",
    "niggli_reduce",
    "parameters_from_coefficients",
    "reciprocal_coefficients",
    "reference_miller_indices",
    "same_lattice",
    "sort_by_mean_spacing",
    "space_group",
    "spacing_invariants",
    "standard_setting",
    "sublattice_bases",
    "superlattice_cell",
    "superlattice_index",
    "systematically_absent",
]

"""Niggli cells of centred settings describe the same lattice as the conventional cell."""

import gemmi
import numpy as np
import pytest

from powdex.crystal import Cell, same_lattice
from powdex.training import entry_from_structure
from powdex.training.synthetic import COMPONENTS, entry_rng, random_structure


@pytest.mark.parametrize(
    "setting", ["I 1 2/a 1", "A 1 2/n 1", "C 1 2/c 1", "A m m 2", "I b a 2", "F d d d:2", "I 41/a m d:2", "R -3 c:H", "R 3:R", "I a -3 d"]
)
def test_reduced_cell_is_a_primitive_cell_of_the_settings_own_lattice(setting):
    sg = gemmi.SpaceGroup(setting)
    entry = entry_from_structure(random_structure(entry_rng(1, 0), sg, COMPONENTS["inorganic"]), "synthetic", "0", "C")
    conventional = Cell.from_parameters(entry.conventional_cell)
    # gemmi's centred-to-primitive basis change of this very setting: independent of the reduction code.
    primitive = Cell.from_gemmi(conventional.to_gemmi().changed_basis_backward(sg.centred_to_primitive(), False))
    reduced = Cell.from_parameters(entry.reduced_cell)
    points = len(sg.operations().cen_ops)
    assert np.isclose(reduced.volume, conventional.volume / points, rtol=1e-9)
    assert np.isclose(entry.reduced_volume, reduced.volume)
    assert same_lattice(reduced, primitive, rtol=1e-6)

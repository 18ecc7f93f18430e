"""χ² maps over two cell parameters of a refined fit."""

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.refinement import RefinementError, refine
from powdex.refinement.surface import chi2_map


@pytest.fixture(scope="module")
def refined(tetragonal):
    pattern, _, _ = tetragonal
    return refine(pattern, Cell(5.206, 5.206, 7.392), "P4/mmm")


def test_the_map_has_its_minimum_at_the_refined_cell(refined):
    surface = chi2_map(refined, ("a", "c"), span=0.001, resolution=7)
    assert surface.values.shape == (7, 7)
    assert np.unravel_index(np.argmin(surface.values), surface.values.shape) == (3, 3)
    assert surface.values[3, 3] == pytest.approx(refined.statistics.reduced_chi2
                                                 * (refined.statistics.points - refined.statistics.parameters),
                                                 rel=1e-3)


def test_a_parameter_the_cell_does_not_free_is_an_error(refined):
    with pytest.raises(RefinementError, match="free parameters of the tetragonal cell"):
        chi2_map(refined, ("a", "b"))


def test_a_map_of_a_refinement_with_anisotropic_strain_keeps_its_widths(tetragonal):
    pattern, _, _ = tetragonal
    result = refine(pattern, Cell(5.206, 5.206, 7.392), "P4/mmm", anisotropic_strain=True)
    surface = chi2_map(result, ("a", "c"), span=0.001, resolution=3)
    stats = result.statistics
    assert surface.values[1, 1] == pytest.approx(stats.reduced_chi2 * (stats.points - stats.parameters), rel=1e-3)

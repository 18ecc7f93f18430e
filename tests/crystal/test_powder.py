"""The powder physics every forward model shares: Lorentz–polarisation and line merging; the free parameters
of a lattice system and the cells they make."""

import warnings

import numpy as np
import pytest

from powdex.crystal import (
    LatticeSystem,
    cells_from_free,
    free_parameter_columns,
    line_groups,
    lorentz_polarisation,
    merge_lines,
)


def test_lorentz_polarisation_against_hand_values():
    # 2θ = 90°: (1 + cos² 90°) / (sin² 45° cos 45°) = 1 / (½ · √2/2) = 2√2.
    # 2θ = 60°: (1 + ¼) / (sin² 30° cos 30°) = 1.25 / (¼ · √3/2) = 10/√3.
    np.testing.assert_allclose(lorentz_polarisation([90.0, 60.0]), [2 * np.sqrt(2), 10 / np.sqrt(3)], rtol=1e-12)
    # It falls steeply from low angles to its minimum near 2θ ≈ 100° and rises again at back-reflection.
    values = lorentz_polarisation(np.array([20.0, 100.0, 160.0]))
    assert values[0] > values[2] > values[1]


def test_lines_closer_than_the_resolution_merge_into_one_at_their_weighted_mean():
    position = np.array([10.00, 10.03, 10.05, 20.0, 30.0, 30.2])
    intensity = np.array([1.0, 2.0, 1.0, 5.0, 3.0, 1.0])
    # 10.00 → 10.03 → 10.05 is a chain of gaps under 0.04, so the three are one line.
    np.testing.assert_array_equal(line_groups(position, within=0.04), [0, 0, 0, 1, 2, 3])
    merged, total = merge_lines(position, intensity, within=0.04)
    np.testing.assert_allclose(merged, [(10.00 + 2 * 10.03 + 10.05) / 4, 20.0, 30.0, 30.2])
    np.testing.assert_allclose(total, [4.0, 5.0, 3.0, 1.0])


def test_a_group_without_intensity_sits_at_its_lines_mean_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merged, total = merge_lines(np.array([10.00, 10.02, 20.0]), np.array([0.0, 0.0, 3.0]), within=0.04)
    np.testing.assert_allclose(merged, [10.01, 20.0])
    np.testing.assert_allclose(total, [0.0, 3.0])


def test_relative_merging_joins_only_equal_positions():
    q2 = np.array([0.1, 0.1 * (1 + 1e-12), 0.1 * (1 + 1e-6), 0.2])
    np.testing.assert_array_equal(line_groups(q2, within=1e-9, relative=True), [0, 0, 1, 2])
    assert line_groups(np.zeros(0), within=1.0).shape == (0,)


@pytest.mark.parametrize("cell, columns", [
    ([5, 5, 5, 90, 90, 90], (0,)),
    ([5, 5, 9, 90, 90, 120], (0, 2)),
    ([5, 5, 5, 80, 80, 80], (0, 3)),
    ([5, 7, 9, 90, 90, 90], (0, 1, 2)),
    ([5, 7, 9, 90, 90, 104], (0, 1, 2, 5)),  # axes reordered: the oblique angle is γ
    ([5, 7, 9, 80, 95, 100], (0, 1, 2, 3, 4, 5)),
])
def test_free_columns_rebuild_the_cell(cell, columns):
    system = {1: LatticeSystem.CUBIC, 3: LatticeSystem.ORTHORHOMBIC, 6: LatticeSystem.TRICLINIC}.get(len(columns))
    if system is None:
        system = {(0, 2): LatticeSystem.HEXAGONAL, (0, 3): LatticeSystem.RHOMBOHEDRAL}.get(columns, LatticeSystem.MONOCLINIC)
    assert free_parameter_columns(system, cell) == columns
    np.testing.assert_array_equal(cells_from_free(system, columns, np.array(cell, dtype=float)[list(columns)]), [cell])

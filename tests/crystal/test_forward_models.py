"""Forward models q²(hkl) of the seven lattice systems against values worked by hand."""

import numpy as np
import pytest

from powdex.crystal import Cell, LatticeSystem


def _hand_q2(system: str, cell: Cell, h: int, k: int, l: int) -> float:
    a, b, c = cell.a, cell.b, cell.c
    if system == "cubic":
        return (h * h + k * k + l * l) / a**2
    if system == "tetragonal":
        return (h * h + k * k) / a**2 + l * l / c**2
    if system == "hexagonal":
        return 4 / 3 * (h * h + h * k + k * k) / a**2 + l * l / c**2
    if system == "orthorhombic":
        return h * h / a**2 + k * k / b**2 + l * l / c**2
    if system == "monoclinic":
        s2, cb = np.sin(np.radians(cell.beta)) ** 2, np.cos(np.radians(cell.beta))
        return h * h / (a * a * s2) + k * k / b**2 + l * l / (c * c * s2) - 2 * h * l * cb / (a * c * s2)
    if system == "rhombohedral":
        ca, sa = np.cos(np.radians(cell.alpha)), np.sin(np.radians(cell.alpha))
        # International Tables, Vol. C, Table 1.1.2.1: the cos(α) term belongs with the mixed products,
        # 2(hk+kl+hl)(cos²α − cos α).
        num = (h * h + k * k + l * l) * sa**2 + 2 * (h * k + k * l + h * l) * (ca**2 - ca)
        return num / (a * a * (1 - 3 * ca**2 + 2 * ca**3))
    raise AssertionError(system)


CELLS = {
    "cubic": Cell(5.4311, 5.4311, 5.4311),
    "tetragonal": Cell(4.5937, 4.5937, 2.9587),
    "hexagonal": Cell(3.2094, 3.2094, 5.2103, 90, 90, 120),
    "rhombohedral": Cell(5.1284, 5.1284, 5.1284, 55.28, 55.28, 55.28),
    "orthorhombic": Cell(4.7560, 10.2070, 5.9800),
    "monoclinic": Cell(5.1020, 11.9709, 5.4575, 90, 111.74, 90),
}
HKL = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (1, 0, -1), (2, 1, 3), (-1, 2, 2), (3, -1, 1)]


@pytest.mark.parametrize("system", list(CELLS))
def test_forward_model_matches_hand_formula(system):
    cell = CELLS[system]
    ls = LatticeSystem(system)
    x = ls.free_reciprocal_parameters(cell)
    design = ls.design_matrix(np.array(HKL))
    expected = np.array([_hand_q2(system, cell, *h) for h in HKL])
    np.testing.assert_allclose(design @ x, expected, rtol=1e-12)
    np.testing.assert_allclose(cell.q2(np.array(HKL)), expected, rtol=1e-12)


def test_triclinic_general_equation_matches_gemmi_and_seed_s_coefficients():
    cell = Cell(5.2, 6.3, 7.1, 82.0, 95.5, 103.0)
    a, b, c = cell.a, cell.b, cell.c
    al, be, ga = np.radians([cell.alpha, cell.beta, cell.gamma])
    # The S coefficients of the general equation (International Tables Vol. B,
    # 1/d² = (S11h² + S22k² + S33l² + 2S12hk + 2S13hl + 2S23kl)/V²), with the factors 2 on the mixed terms.
    s = np.array([
        (b * c * np.sin(al)) ** 2,
        (a * c * np.sin(be)) ** 2,
        (a * b * np.sin(ga)) ** 2,
        2 * a * b * c * c * (np.cos(al) * np.cos(be) - np.cos(ga)),
        2 * a * b * b * c * (np.cos(al) * np.cos(ga) - np.cos(be)),
        2 * a * a * b * c * (np.cos(be) * np.cos(ga) - np.cos(al)),
    ]) / cell.volume**2
    np.testing.assert_allclose(cell.reciprocal_coefficients, s, rtol=1e-12)
    g = cell.to_gemmi()
    for h in HKL:
        assert cell.q2(np.array(h)) == pytest.approx(g.calculate_1_d2(list(h)), rel=1e-12)
    x = LatticeSystem.TRICLINIC.free_reciprocal_parameters(cell)
    np.testing.assert_allclose(LatticeSystem.TRICLINIC.design_matrix(np.array(HKL)) @ x, cell.q2(np.array(HKL)))


@pytest.mark.parametrize("system", [s for s in LatticeSystem])
def test_free_parameters_round_trip_and_linearity(system):
    ls = LatticeSystem(system)
    cell = CELLS.get(system.value, Cell(5.2, 6.3, 7.1, 82.0, 95.5, 103.0))
    x = ls.free_reciprocal_parameters(cell)
    back = ls.cell(x)
    np.testing.assert_allclose(back.parameters, cell.parameters, rtol=1e-10)
    # Linear in x: the model of a sum is the sum of the models, so the Hessian is zero.
    hkl = np.array(HKL)
    d = ls.design_matrix(hkl)
    np.testing.assert_allclose(d @ (x + 0.1 * x), d @ x + d @ (0.1 * x))
    assert d.shape == (len(HKL), ls.n_free)


def test_direct_free_parameters_build_the_cell():
    assert LatticeSystem.HEXAGONAL.cell_from_free_parameters([3.2, 5.2]).gamma == 120
    assert LatticeSystem.MONOCLINIC.cell_from_free_parameters([5, 6, 7, 100]).beta == 100
    rhombohedral = LatticeSystem.RHOMBOHEDRAL.cell_from_free_parameters([5.47, 46.3])
    assert rhombohedral.parameters.tolist() == [5.47, 5.47, 5.47, 46.3, 46.3, 46.3]
    assert LatticeSystem.RHOMBOHEDRAL.free_parameters(rhombohedral).tolist() == [5.47, 46.3]
    with pytest.raises(ValueError, match="needs"):
        LatticeSystem.ORTHORHOMBIC.cell_from_free_parameters([5, 6])


def test_invalid_cells_are_refused():
    with pytest.raises(ValueError, match="positive"):
        Cell(-1, 2, 3)
    with pytest.raises(ValueError, match="do not form a cell"):
        Cell(5, 5, 5, 130, 130, 130)
    with pytest.raises(ValueError, match="do not describe a lattice"):
        Cell.from_reciprocal_coefficients([1, 1, 1, 3, 0, 0])


@pytest.mark.parametrize(
    "cell, hkl, d_published",
    [
        # Silicon (a = 5.4311 Å): the familiar 3.1356, 1.9201, 1.6375 Å lines.
        (Cell(5.4311, 5.4311, 5.4311), [(1, 1, 1), (2, 2, 0), (3, 1, 1)], [3.1356, 1.9201, 1.6375]),
        # Rutile TiO2 (a = 4.5937, c = 2.9587 Å): 110, 101, 211 at 3.248, 2.487, 1.687 Å.
        (Cell(4.5937, 4.5937, 2.9587), [(1, 1, 0), (1, 0, 1), (2, 1, 1)], [3.2482, 2.4874, 1.6875]),
        # Corundum in hexagonal axes (a = 4.7602, c = 12.9933 Å): 012, 104, 110 at 3.481, 2.552, 2.380 Å.
        (Cell(4.7602, 4.7602, 12.9933, 90, 90, 120), [(0, 1, 2), (1, 0, 4), (1, 1, 0)], [3.4808, 2.5515, 2.3801]),
        # α-glycine (P 21/n, a = 5.1020, b = 11.9709, c = 5.4575 Å, β = 111.74°): 020 = b/2, and 011 from
        # 1/d² = 1/b² + 1/(c² sin²β) = 0.006978 + 0.038915 worked by hand.
        (Cell(5.1020, 11.9709, 5.4575, 90, 111.74, 90), [(0, 2, 0), (0, 1, 1)], [5.9855, 4.6680]),
    ],
)
def test_d_spacings_of_known_phases(cell, hkl, d_published):
    np.testing.assert_allclose(cell.d_spacing(np.array(hkl)), d_published, atol=2e-4)

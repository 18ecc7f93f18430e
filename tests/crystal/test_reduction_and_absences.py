"""Reduction, lattice equivalence, standard settings, centring and space-group absences."""

import numpy as np
import pytest

from powdex.crystal import (
    BravaisLattice,
    Cell,
    LatticeSystem,
    conventional_cell,
    niggli_reduce,
    reference_miller_indices,
    same_lattice,
    standard_setting,
    superlattice_cell,
    superlattice_index,
    systematically_absent,
)
from powdex.crystal.reduction import (
    MAX_SHORT_VECTOR_BOX,
    NIGGLI_ITERATIONS,
    _short_vector_lengths,
    lattice_signature,
)

SILICON = Cell(5.4311946, 5.4311946, 5.4311946)


def test_silicon_absences():
    absent = systematically_absent("F d -3 m", np.array([[2, 0, 0], [4, 0, 0], [1, 1, 1], [2, 2, 0], [1, 0, 0]]))
    assert absent.tolist() == [True, False, False, False, True]
    # Space groups by number too; P 21/c: 0k0 k odd and h0l l odd are absent.
    assert systematically_absent(14, np.array([[0, 1, 0], [0, 2, 0], [1, 0, 1], [1, 0, 2]])).tolist() == [
        True, False, True, False,
    ]
    with pytest.raises(ValueError, match="outside"):
        systematically_absent(231, np.array([[1, 0, 0]]))


def test_centring_conditions_of_the_bravais_lattices():
    hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0], [0, 1, 1], [1, 0, 1]])
    assert BravaisLattice.cI.allowed(hkl).tolist() == [False, True, False, True, True, True]
    assert BravaisLattice.cF.allowed(hkl).tolist() == [False, False, True, True, False, False]
    assert BravaisLattice.oC.allowed(hkl).tolist() == [False, True, True, True, False, False]
    # hR in hexagonal axes, obverse: −h + k + l = 3n.
    assert BravaisLattice.hR.allowed(np.array([[1, 0, 1], [0, 1, 1], [0, 0, 3], [0, 1, 2]])).tolist() == [
        True, False, True, True,
    ]
    assert sum(1 for b in BravaisLattice) == 14


def test_reference_sets_hold_unique_spacings_sorted():
    cubic = reference_miller_indices("cubic")
    n = (cubic**2).sum(axis=1)
    assert np.all(np.diff(n) > 0)  # one index per h²+k²+l², ascending
    assert n[:8].tolist() == [1, 2, 3, 4, 5, 6, 8, 9]  # 7 is not a sum of three squares
    cf = reference_miller_indices(BravaisLattice.cF, limit=5)
    assert cf.tolist() == [[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1], [2, 2, 2]]
    mono = reference_miller_indices("monoclinic")
    key = np.column_stack([mono[:, 0] ** 2, mono[:, 1] ** 2, mono[:, 2] ** 2, mono[:, 0] * mono[:, 2]])
    assert len(np.unique(key, axis=0)) == len(mono)


def test_niggli_reduction_of_an_unusual_setting():
    # A primitive cell described by a skewed basis: a' = a, b' = a + b, c' = a + b + c.
    cell = Cell(4.0, 5.0, 6.0, 90, 90, 90)
    skew = cell.transformed(np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]]))
    reduced = niggli_reduce(skew)
    np.testing.assert_allclose(reduced.cell.parameters, [4, 5, 6, 90, 90, 90], atol=1e-9)
    np.testing.assert_allclose(skew.transformed(reduced.transformation).parameters, reduced.cell.parameters, atol=1e-9)
    # Silicon's F cell reduces to the 60° rhombohedral primitive cell.
    prim = niggli_reduce(SILICON, "F").cell
    np.testing.assert_allclose(prim.parameters, [3.84041] * 3 + [60.0] * 3, atol=1e-4)


def test_same_lattice_across_settings_and_centrings():
    assert same_lattice(SILICON, Cell(3.840410, 3.840410, 3.840410, 60, 60, 60), "F", "P")
    # β and 180° − β describe one monoclinic lattice; so do a and a + c choices.
    mono = Cell(5.1, 12.0, 5.5, 90, 111.7, 90)
    assert same_lattice(mono, Cell(5.1, 12.0, 5.5, 90, 68.3, 90))
    assert same_lattice(mono, mono.transformed(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]])))
    # Angles just either side of 90° are one lattice within tolerance.
    assert same_lattice(Cell(5, 6, 7, 90, 89.99, 90), Cell(5, 6, 7, 90, 90.01, 90))
    assert not same_lattice(mono, Cell(5.1, 12.0, 5.6, 90, 111.7, 90))


def test_the_signature_of_a_thin_cell_is_its_planes_shortest_vectors_from_a_small_search():
    # A zone-pair cell of Na0.8CoO2's hexagonal ab plane (orthohexagonal 2.70 × 4.94 Å) with a 10⁵ Å third axis: the
    # 13th vector of the small coefficients is the long axis, whose box of 4·10⁴ × 2·10⁴ × 5 coefficients took 23 GB.
    thin = Cell(2.7019699793824623, 4.939099016691171, 103343.71580876294, 90.0006, 90.0007, 90.0088)
    signature = lattice_signature(thin)
    # Every one of the 13 shortest vectors lies in the ab plane: those of the plane's lattice, found by brute force.
    g = thin.metric_tensor[:2, :2]
    n = np.array([(i, j) for i in range(-14, 15) for j in range(-14, 15) if (i, j) != (0, 0)], dtype=float)
    plane = np.sort(np.sqrt(np.einsum("ni,ij,nj->n", n, g, n)))[::2][:13]
    np.testing.assert_allclose(signature.short_vectors, plane, rtol=1e-9)
    assert signature.volume == pytest.approx(thin.volume, rel=1e-6)


def test_the_short_vector_search_refuses_a_nearly_singular_basis_with_its_reason():
    # Not reduced: c = (1000, 1000, 0.001) Å is almost in the ab plane, so |c*| = 1000 Å⁻¹ and the box bounding the
    # vectors up to 13 Å would reach 13 000 along c.
    basis = np.array([[1.0, 0, 0], [0, 1.0, 0], [1000.0, 1000.0, 0.001]])
    flat = Cell.from_metric_tensor(basis @ basis.T)
    with pytest.raises(ValueError, match=f"degenerate .*more than {MAX_SHORT_VECTOR_BOX}"):
        _short_vector_lengths(flat)
    # Its reduced cell (1 × 1 × 0.001 Å) is searched within the bound and has the same lattice's vectors.
    lengths = lattice_signature(flat).short_vectors
    np.testing.assert_allclose(lengths[:3], [0.001, 0.002, 0.003], rtol=1e-4)  # the metric holds 10⁶ Å²
    # A basis too far from reduced for the Krivý–Gruber steps allowed is refused, not returned half reduced.
    basis[2, :2] = 10 * NIGGLI_ITERATIONS
    with pytest.raises(ValueError, match="not Niggli-reduced"):
        niggli_reduce(Cell.from_metric_tensor(basis @ basis.T))


def test_sub_and_super_cells_are_recognised():
    assert superlattice_index(SILICON, SILICON, "F", "P") == 4  # the P cube holds four F lattice points
    doubled = Cell(5.1, 12.0, 11.0, 90, 111.7, 90)
    base = Cell(5.1, 12.0, 5.5, 90, 111.7, 90)
    assert superlattice_index(base, doubled) == 2
    assert superlattice_index(doubled, base) == -2
    assert superlattice_index(base, base.transformed(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]]))) == 1
    assert superlattice_index(base, Cell(5.3, 12.0, 5.5, 90, 111.7, 90)) == 0


def test_a_true_lattice_is_found_as_a_sublattice_of_its_sub_cells():
    # Rock salt KCl, cF a = 6.29 Å: K⁺ and Cl⁻ scatter X-rays almost alike, so its lines look like those of the cP
    # cell of edge a/2, whose lattice a/2 · ℤ³ holds the cF lattice (the points with an even coordinate sum) with
    # index 2 (a³/4 against (a/2)³ per point).
    kcl, half = Cell(6.29, 6.29, 6.29), Cell(3.145, 3.145, 3.145)
    found = superlattice_cell(half, kcl, "P", "F", index=2)
    assert found is not None and same_lattice(found, kcl, "P", "F")
    assert superlattice_cell(half, kcl, "P", "F", index=4) is None
    # The body-centred cube of edge a holds (0, 0, 0) and (½, ½, ½)·a: index 4 in a/2 · ℤ³, not 2.
    assert superlattice_cell(half, kcl, "P", "I", index=4) is not None
    assert superlattice_cell(half, kcl, "P", "I", index=2) is None
    # Rutile's tP cell is a sublattice of index 2 of the tI cell on its axes, not the other way round.
    rutile = Cell(4.594, 4.594, 2.959)
    assert superlattice_cell(rutile, rutile, "I", "P", index=2) is not None
    assert superlattice_cell(rutile, rutile, "P", "I", index=2) is None
    # The cell returned is in the sub-cell's metric: a sub-cell fitted 0.1 % long gives the true lattice 0.1 % long.
    fitted = superlattice_cell(Cell(3.148, 3.148, 3.148), kcl, "P", "F", index=2, rtol=2e-3)
    assert fitted is not None and fitted.volume == pytest.approx(2 * 3.148**3)
    assert superlattice_cell(half, Cell(6.5, 6.5, 6.5), "P", "F", index=2) is None


def test_conventional_cell_from_primitive_descriptions():
    cf = conventional_cell(Cell(3.840410, 3.840410, 3.840410, 60, 60, 60))
    assert cf.bravais is BravaisLattice.cF
    assert cf.cell.a == pytest.approx(5.4312, abs=1e-3)
    hr = conventional_cell(BravaisLattice.hR.primitive_cell(Cell(4.7602, 4.7602, 12.9933, 90, 90, 120)))
    assert hr.bravais is BravaisLattice.hR
    np.testing.assert_allclose(hr.cell.parameters, [4.7602, 4.7602, 12.9933, 90, 90, 120], atol=1e-3)
    mc = conventional_cell(Cell(9.1, 7.3, 6.2, 90, 97.5, 90), "C")
    assert mc.bravais is BravaisLattice.mC


@pytest.mark.parametrize(
    "bravais, cell, expected",
    [
        ("oP", Cell(9.2, 5.1, 7.3), [5.1, 7.3, 9.2, 90, 90, 90]),
        ("oC", Cell(9.0, 5.0, 7.0), [5.0, 9.0, 7.0, 90, 90, 90]),
        ("mP", Cell(5.0, 6.0, 7.0, 90, 140, 90), None),
        ("mC", Cell(11.86, 14.58, 6.2, 90, 71.6, 90), [11.86, 14.58, 6.2, 90, 108.4, 90]),
        # The same C-centred cell with c' = a + c (β' = 57.7°): a valid description, not the standard one.
        ("mC", Cell(7.745, 12.446, 7.944, 90, 113.28, 90).transformed(np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]])),
         [7.745, 12.446, 7.944, 90, 113.28, 90]),
        ("hR", Cell(4.7602, 4.7602, 12.9933, 90, 90, 120).transformed(np.array([[0, -1, 0], [1, 1, 0], [0, 0, 1]])),
         [4.7602, 4.7602, 12.9933, 90, 90, 120]),
    ],
)
def test_standard_setting_keeps_the_lattice_and_transforms_indices(bravais, cell, expected):
    b = BravaisLattice(bravais)
    std, m = standard_setting(b, cell)
    assert np.linalg.det(m) == pytest.approx(1.0)
    assert same_lattice(cell, std, b.centring, b.centring)
    hkl = np.array([[1, 2, 3], [2, 0, -1], [1, 1, 0]])
    np.testing.assert_allclose(cell.q2(hkl), std.q2(hkl @ m.T))
    if expected is not None:
        np.testing.assert_allclose(std.parameters, expected, atol=1e-9)
    if b.lattice_system.value == "monoclinic":
        assert std.beta >= 90
    if bravais == "mP":
        assert std.a <= std.c and std.beta - 90 < 30  # Gauss-reduced ac plane


def test_special_cases_are_the_higher_lattice_systems_whose_lattices_a_system_describes():
    # A cubic cell fits tetragonal and orthorhombic axes; an orthohexagonal C cell (b = √3 a) is a hexagonal
    # lattice; a cubic lattice in rhombohedral axes (α = 60°) is cF; nothing is a special case of cubic or hexagonal.
    assert LatticeSystem.TETRAGONAL.special_cases == {LatticeSystem.CUBIC}
    assert LatticeSystem.TETRAGONAL.is_compatible(Cell(5, 5, 5)) and LatticeSystem.ORTHORHOMBIC.is_compatible(Cell(5, 5, 5))
    assert conventional_cell(Cell(4.0, 4.0 * 3**0.5, 6.0), "C").bravais is BravaisLattice.hP
    assert LatticeSystem.HEXAGONAL in LatticeSystem.ORTHORHOMBIC.special_cases
    assert conventional_cell(Cell(4.0, 4.0, 4.0, 60, 60, 60)).bravais is BravaisLattice.cF
    assert LatticeSystem.CUBIC in LatticeSystem.RHOMBOHEDRAL.special_cases
    assert not LatticeSystem.CUBIC.special_cases and not LatticeSystem.HEXAGONAL.special_cases
    for system in LatticeSystem:
        for special in system.special_cases:
            # More symmetric, and the relation is transitive.
            assert special.symmetry_rank > system.symmetry_rank
            assert special.special_cases <= system.special_cases

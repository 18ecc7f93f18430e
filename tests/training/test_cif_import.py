"""CIF import: quality criteria with counted reasons, duplicates keep the lowest R-factor."""

import gemmi
import numpy as np
from cif_samples import A_HEX, A_RHOMB, ALPHA, C_HEX, corundum_hexagonal, corundum_rhombohedral, p21c_cif, structure_cif

from powdex.crystal import Cell
from powdex.training import cif_import
from powdex.training.cif_import import entry_from_cif_block, import_cif_directory


def test_bad_files_are_rejected_with_their_reason_and_do_not_stop_the_run(tmp_path):
    (tmp_path / "good.cif").write_text(p21c_cif("good"))
    (tmp_path / "wrong_volume.cif").write_text(p21c_cif("wrong_volume", a=8.0, volume=700.0))
    (tmp_path / "no_formula.cif").write_text(p21c_cif("no_formula", a=8.5).replace("_chemical_formula_sum 'C10 H12 O2'\n", ""))
    (tmp_path / "garbage.cif").write_text("data_x\nloop_\n_a\n'unterminated")
    entries, summary = import_cif_directory(tmp_path)
    assert [e.identifier for e in entries] == ["good.cif"]
    assert summary.rejected["stated volume does not match the cell"] == 1
    assert summary.rejected["no chemical formula"] == 1
    assert summary.rejected["unreadable CIF"] == 1
    # gemmi's parse error names the file and the line.
    assert any(p.startswith("garbage.cif: unreadable CIF:") and "garbage.cif:4" in p for p in summary.problems)
    assert summary.read == 4 and summary.accepted == 1
    entry = entries[0]
    assert entry.r_factor == 0.05 and entry.space_group_number == 14 and len(entry.observable_q2) > 10


def test_duplicates_keep_the_lowest_r_factor(tmp_path):
    (tmp_path / "a.cif").write_text(p21c_cif("a", r_factor="0.061"))
    (tmp_path / "b.cif").write_text(p21c_cif("b", a=7.1, r_factor="0.032"))  # same crystal within 5 %
    (tmp_path / "c.cif").write_text(p21c_cif("c", a=7.05, r_factor=None))
    (tmp_path / "d.cif").write_text(p21c_cif("d", a=9.5, beta=95.0))  # another cell: not a duplicate
    entries, summary = import_cif_directory(tmp_path)
    assert sorted(e.identifier for e in entries) == ["b.cif", "d.cif"]
    assert summary.rejected["duplicate"] == 2
    assert np.isclose(next(e for e in entries if e.identifier == "b.cif").r_factor, 0.032)


def test_corundum_in_rhombohedral_axes_is_read_in_that_setting_with_the_known_lines(tmp_path):
    (tmp_path / "corundum.cif").write_text(corundum_rhombohedral())
    (entry,), summary = import_cif_directory(tmp_path)
    assert summary.accepted == 1
    assert entry.space_group_symbol == "R -3 c:R" and entry.lattice_system == "rhombohedral"
    np.testing.assert_allclose(entry.reindexed_cell, [A_RHOMB] * 3 + [ALPHA] * 3, rtol=1e-4)
    hexagonal = Cell(A_HEX, A_HEX, C_HEX, 90, 90, 120)
    for hkl in ([0, 1, 2], [1, 0, 4], [1, 1, 0], [1, 1, 3], [0, 2, 4], [1, 1, 6]):  # the strong corundum lines
        assert np.any(np.isclose(entry.observable_q2, hexagonal.q2(np.array(hkl)), rtol=1e-4)), hkl
    assert np.isclose(entry.reduced_volume, hexagonal.volume / 3, rtol=1e-4)


def test_one_crystal_in_rhombohedral_and_hexagonal_axes_gives_one_pattern_and_is_a_duplicate(tmp_path):
    (tmp_path / "r.cif").write_text(corundum_rhombohedral(r_factor="0.04"))
    (tmp_path / "h.cif").write_text(corundum_hexagonal(r_factor="0.02"))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "r_only.cif").write_text(corundum_rhombohedral(r_factor="0.04"))
    entries, summary = import_cif_directory(tmp_path / "r")
    (rhombohedral,) = entries
    entries, summary = import_cif_directory(tmp_path)
    assert [e.identifier for e in entries] == ["h.cif"] and summary.rejected["duplicate"] == 2
    (hexagonal,) = entries
    assert hexagonal.space_group_symbol == "R -3 c:H"
    np.testing.assert_allclose(hexagonal.allowed_q2, rhombohedral.allowed_q2, rtol=1e-4)
    np.testing.assert_allclose(hexagonal.allowed_intensity, rhombohedral.allowed_intensity, rtol=1e-3, atol=1e-6)


def test_a_symbol_without_origin_suffix_takes_origin_choice_2():
    # Spinel MgAl2O4 in origin choice 2: Mg 1/8 1/8 1/8, Al 1/2 1/2 1/2, O x x x. Read in origin choice 1
    # these coordinates give 220 as the strongest line and a strong 222.
    a = 8.083
    sites = [("Mg1", "Mg", 0.125, 0.125, 0.125), ("Al1", "Al", 0.5, 0.5, 0.5), ("O1", "O", 0.2627, 0.2627, 0.2627)]
    block = gemmi.cif.read_string(structure_cif("spinel", "F d -3 m", 227, "cubic", (a, a, a, 90, 90, 90), sites, "Mg Al2 O4", 8))
    entry = entry_from_cif_block(block.sole_block(), "spinel")
    assert entry.space_group_symbol == "F d -3 m:2"
    cell = Cell(a, a, a)

    def relative(hkl):
        return entry.allowed_intensity[np.isclose(entry.allowed_q2, cell.q2(np.array(hkl)))][0] / entry.allowed_intensity.max()

    # The spinel powder pattern: 311 strongest, then 400 and 511, 222 and 331 very weak.
    assert relative([3, 1, 1]) == 1.0
    assert relative([4, 0, 0]) > 0.4 and relative([5, 1, 1]) > 0.3
    assert relative([2, 2, 2]) < 0.05 and relative([3, 3, 1]) < 0.05


def test_unknown_atom_types_missing_z_upper_case_suffix_and_unexpected_errors(tmp_path, monkeypatch):
    (tmp_path / "q_peak.cif").write_text(p21c_cif("q", a=7.3).replace("O2 O 0.35 0.45 0.15", "Q1 Q 0.35 0.45 0.15"))
    no_z = p21c_cif("no_z", a=7.6).replace("_cell_formula_units_Z 4\n", "")
    (tmp_path / "derived_z.CIF").write_text(no_z)  # 24 non-H atoms in the cell, 12 in C10 H12 O2: Z = 2
    (tmp_path / "odd_z.cif").write_text(no_z.replace("C10 H12 O2", "C7 O2"))  # 24 / 9 atoms
    (tmp_path / "boom.cif").write_text(p21c_cif("boom", a=8.4))
    real = cif_import.entry_from_structure

    def failing(structure, source, identifier, *args):
        if identifier == "boom.cif":
            raise KeyError("something unforeseen")
        return real(structure, source, identifier, *args)

    monkeypatch.setattr(cif_import, "entry_from_structure", failing)
    entries, summary = import_cif_directory(tmp_path)
    assert [e.identifier for e in entries] == ["derived_z.CIF"]
    assert summary.rejected["unknown atom type"] == 1
    assert summary.rejected["no Z, and the atom sites give no whole number of formula units"] == 1
    assert summary.rejected["invalid data (KeyError)"] == 1
    assert "q_peak.cif: unknown atom type: Q" in summary.problems


def test_volume_per_atom_keeps_the_organic_bound_for_organics_and_admits_silicon_and_rock_salt(tmp_path):
    # Silicon (20 Å³ per atom) and NaCl (22 Å³ per atom) are above the organic bound of 18 Å³ per atom.
    silicon = structure_cif("si", "F d -3 m", 227, "cubic", (5.4311,) * 3 + (90,) * 3, [("Si1", "Si", 0.125, 0.125, 0.125)], "Si", 8)
    salt = structure_cif("nacl", "F m -3 m", 225, "cubic", (5.6402,) * 3 + (90,) * 3,
                         [("Na1", "Na", 0, 0, 0), ("Cl1", "Cl", 0.5, 0.5, 0.5)], "Na Cl", 4)
    (tmp_path / "si.cif").write_text(silicon)
    (tmp_path / "nacl.cif").write_text(salt)
    # The organic P 21/c crystal with Z = 1 for a cell that holds 4: 28 Å³ per atom.
    (tmp_path / "half_z.cif").write_text(p21c_cif("half_z").replace("_cell_formula_units_Z 4", "_cell_formula_units_Z 1"))
    entries, summary = import_cif_directory(tmp_path)
    assert sorted(e.identifier for e in entries) == ["nacl.cif", "si.cif"]
    assert summary.rejected["volume inconsistent with the atom count"] == 1

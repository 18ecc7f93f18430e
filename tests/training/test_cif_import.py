"""CIF import: quality criteria with counted reasons, duplicates keep the lowest R-factor."""

import numpy as np

from powdex.crystal import Cell
from powdex.training.cif_import import import_cif_directory


def _cif(name, a=7.0, b=9.0, c=11.0, beta=101.0, volume=None, r_factor="0.05", formula="C10 H12 O2"):
    volume = Cell(a, b, c, 90, beta, 90).volume if volume is None else volume
    r_line = f"_refine_ls_R_factor_gt {r_factor}" if r_factor is not None else ""
    return f"""data_{name}
_chemical_formula_sum '{formula}'
_space_group_IT_number 14
_space_group_name_H-M_alt 'P 1 21/c 1'
_space_group_crystal_system monoclinic
_cell_length_a {a}
_cell_length_b {b}
_cell_length_c {c}
_cell_angle_alpha 90
_cell_angle_beta {beta}
_cell_angle_gamma 90
_cell_volume {volume:.3f}
_cell_formula_units_Z 4
{r_line}
loop_
_space_group_symop_operation_xyz
'x, y, z'
'-x, y+1/2, -z+1/2'
'-x, -y, -z'
'x, -y+1/2, z+1/2'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_U_iso_or_equiv
C1 C 0.11 0.22 0.33 0.02
C2 C 0.31 0.12 0.03 0.02
C3 C 0.21 0.42 0.13 0.02
C4 C 0.41 0.32 0.43 0.02
O1 O 0.15 0.05 0.25 0.03
O2 O 0.35 0.45 0.15 0.03
"""


def test_bad_files_are_rejected_with_their_reason_and_do_not_stop_the_run(tmp_path):
    (tmp_path / "good.cif").write_text(_cif("good"))
    (tmp_path / "wrong_volume.cif").write_text(_cif("wrong_volume", a=8.0, volume=700.0))
    (tmp_path / "no_formula.cif").write_text(_cif("no_formula", a=8.5).replace("_chemical_formula_sum 'C10 H12 O2'\n", ""))
    (tmp_path / "garbage.cif").write_text("data_x\nloop_\n_a\n'unterminated")
    entries, summary = import_cif_directory(tmp_path)
    assert [e.identifier for e in entries] == ["good.cif"]
    assert summary.rejected["stated volume does not match the cell"] == 1
    assert summary.rejected["no chemical formula"] == 1
    assert summary.rejected["unreadable CIF"] == 1
    assert summary.read == 4 and summary.accepted == 1
    entry = entries[0]
    assert entry.r_factor == 0.05 and entry.space_group_number == 14 and len(entry.observable_q2) > 10


def test_duplicates_keep_the_lowest_r_factor(tmp_path):
    (tmp_path / "a.cif").write_text(_cif("a", r_factor="0.061"))
    (tmp_path / "b.cif").write_text(_cif("b", a=7.1, r_factor="0.032"))  # same crystal within 5 %
    (tmp_path / "c.cif").write_text(_cif("c", a=7.05, r_factor=None))
    (tmp_path / "d.cif").write_text(_cif("d", a=9.5, beta=95.0))  # another cell: not a duplicate
    entries, summary = import_cif_directory(tmp_path)
    assert sorted(e.identifier for e in entries) == ["b.cif", "d.cif"]
    assert summary.rejected["duplicate"] == 2
    assert np.isclose(next(e for e in entries if e.identifier == "b.cif").r_factor, 0.032)

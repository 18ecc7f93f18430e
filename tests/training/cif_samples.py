"""CIF texts made on the fly for the import tests: a P 21/c organic crystal and corundum in both settings."""

import numpy as np

from powdex.crystal import Cell


def p21c_cif(name, a=7.0, b=9.0, c=11.0, beta=101.0, volume=None, r_factor="0.05", formula="C10 H12 O2"):
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


def structure_cif(name, symbol, number, system, cell, sites, formula, z, r_factor="0.03"):
    a, b, c, alpha, beta, gamma = cell
    volume = Cell(*cell).volume
    z_line = f"_cell_formula_units_Z {z}" if z is not None else ""
    rows = "\n".join(f"{label} {element} {x} {y} {w} 0.005" for label, element, x, y, w in sites)
    return f"""data_{name}
_chemical_formula_sum '{formula}'
_symmetry_Int_Tables_number {number}
_symmetry_space_group_name_H-M '{symbol}'
_symmetry_cell_setting {system}
_cell_length_a {a:.5f}
_cell_length_b {b:.5f}
_cell_length_c {c:.5f}
_cell_angle_alpha {alpha:.4f}
_cell_angle_beta {beta:.4f}
_cell_angle_gamma {gamma:.4f}
_cell_volume {volume:.3f}
{z_line}
_refine_ls_R_factor_gt {r_factor}
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_U_iso_or_equiv
{rows}
"""


# Corundum (Al2O3, R -3 c): a = 4.7589, c = 12.991 Å in hexagonal axes; Al on 0 0 z, O on x 0 1/4.
A_HEX, C_HEX, Z_AL, X_O = 4.7589, 12.991, 0.35216, 0.30624
A_RHOMB = np.sqrt(A_HEX**2 / 3 + C_HEX**2 / 9)
ALPHA = np.degrees(np.arccos((2 * C_HEX**2 - 3 * A_HEX**2) / (2 * C_HEX**2 + 6 * A_HEX**2)))


def corundum_rhombohedral(name="corundum_r", system="rhombohedral", z=2, r_factor="0.03"):
    cell = (A_RHOMB, A_RHOMB, A_RHOMB, ALPHA, ALPHA, ALPHA)
    sites = [("Al1", "Al", Z_AL, Z_AL, Z_AL), ("O1", "O", X_O + 0.25, 0.25 - X_O, 0.25)]
    return structure_cif(name, "R -3 c", 167, system, cell, sites, "Al2 O3", z, r_factor)


def corundum_hexagonal(name="corundum_h", r_factor="0.02"):
    cell = (A_HEX, A_HEX, C_HEX, 90, 90, 120)
    sites = [("Al1", "Al", 0, 0, Z_AL), ("O1", "O", X_O, 0, 0.25)]
    # Older CIFs give the cell setting of trigonal groups in hexagonal axes as "hexagonal".
    return structure_cif(name, "R -3 c", 167, "hexagonal", cell, sites, "Al2 O3", 6, r_factor)

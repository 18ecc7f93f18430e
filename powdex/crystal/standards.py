"""Certified line-position standards: the cells and space groups of the NIST standard reference materials that
calibrate diffractometers and serve as internal standards mixed into a sample.

Certified cells (NIST certificates of analysis, at 22.5 °C):
SRM 660c LaB6 a = 4.156826 Å, Pm-3m (2020 certificate);
SRM 640e Si a = 5.431179 Å, Fd-3m (2015 certificate);
SRM 674b CeO2 a = 5.411651 Å, Fm-3m (2017 certificate);
SRM 676a Al2O3 a = 4.759138 Å, c = 12.99244 Å, R-3c (hexagonal axes; 2015 certificate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from powdex.crystal.absences import systematically_absent
from powdex.crystal.cell import Cell


@dataclass(frozen=True)
class Standard:
    name: str
    certificate: str
    cell: Cell
    space_group: str

    def line_q2(self, q2_max: float) -> np.ndarray:
        """q² (Å⁻²) of the distinct lines its space group allows up to ``q2_max``, ascending."""
        hkl, q2 = self.cell.miller_indices_within(q2_max)
        allowed = ~systematically_absent(self.space_group, hkl)
        return np.unique(np.round(q2[allowed], 10))


STANDARDS = {
    "LaB6": Standard("LaB6", "NIST SRM 660c", Cell(4.156826, 4.156826, 4.156826, 90, 90, 90), "Pm-3m"),
    "Si": Standard("Si", "NIST SRM 640e", Cell(5.431179, 5.431179, 5.431179, 90, 90, 90), "Fd-3m"),
    "CeO2": Standard("CeO2", "NIST SRM 674b", Cell(5.411651, 5.411651, 5.411651, 90, 90, 90), "Fm-3m"),
    "Al2O3": Standard("Al2O3", "NIST SRM 676a", Cell(4.759138, 4.759138, 12.99244, 90, 90, 120), "R-3c:H"),
}

"""Write the bundled example peak lists from published cells.

Each list holds the first 20 lines that the space group allows (systematic
absences from gemmi; silicon has only 15 below 180°), at Cu Kα1, with 2θ rounded to 0.005°; reflections closer
than 0.02° are merged into one line. Positions are calculated, not measured;
intensities are left out, as in a peak list picked by eye.

    python3 examples/make_examples.py
"""

from pathlib import Path

import numpy as np

from powdex.crystal import Cell, space_group, systematically_absent
from powdex.peaks import CU_KA1, q2_to_two_theta

EXAMPLES = {
    "silicon": (
        Cell(5.4311946, 5.4311946, 5.4311946),
        "F d -3 m",
        "Si, NIST SRM 640c certificate (2000): a = 5.4311946 Å at 22.5 °C",
    ),
    "corundum": (
        Cell(4.7602, 4.7602, 12.9933, 90, 90, 120),
        "R -3 c:H",
        "α-Al2O3, Lewis, Schwarzenbach & Flack (1982) Acta Cryst. A38, 733-739: a = 4.7602, c = 12.9933 Å",
    ),
    "rutile": (
        Cell(4.5937, 4.5937, 2.9587),
        "P 42/m n m",
        "TiO2 rutile, Burdett et al. (1987) J. Am. Chem. Soc. 109, 3639-3646: a = 4.5937, c = 2.9587 Å",
    ),
    "glycine": (
        Cell(5.1020, 11.9709, 5.4575, 90, 111.740, 90),
        "P 1 21/n 1",
        "α-glycine, Jönsson & Kvick (1972) Acta Cryst. B28, 1827-1833: "
        "a = 5.1020, b = 11.9709, c = 5.4575 Å, β = 111.740°",
    ),
}


def peak_positions(cell: Cell, group: str, n: int = 20) -> np.ndarray:
    r = np.arange(-12, 13)
    hkl = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    hkl = hkl[np.any(hkl != 0, axis=1)]
    hkl = hkl[~systematically_absent(space_group(group), hkl)]
    tt = np.sort(q2_to_two_theta(cell.q2(hkl), CU_KA1))
    tt = tt[np.isfinite(tt)]
    lines = [tt[0]]
    for t in tt[1:]:
        if t - lines[-1] > 0.02:
            lines.append(t)
    return np.round(np.array(lines[:n]) / 0.005) * 0.005


def main() -> None:
    here = Path(__file__).parent
    for name, (cell, group, reference) in EXAMPLES.items():
        positions = peak_positions(cell, group)
        count = "first 20" if len(positions) == 20 else f"all {len(positions)}"
        lines = [
            f"# {reference}",
            f"# space group {group}; {count} allowed lines (2θ < 180°) calculated from the published cell",
            f"# wavelength: {CU_KA1}",
            "2theta",
        ]
        lines += [f"{t:.3f}" for t in positions]
        (here / f"{name}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

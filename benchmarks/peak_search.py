"""Benchmark of the Kα-aware peak search on synthetic Cu Kα1 + Kα2 patterns.

Patterns come from cells of every crystal system (powdex.patterns.simulate:
pseudo-Voigt lines with Caglioti widths, random intensities over three
decades, a sloping background, multiplicative Gaussian noise of 1, 2 and
3 %), 0.01° steps from 5 to 90°.  The true lines are the Kα1 reflections,
those closer than half a FWHM merged.  For the first 30 true lines above
1 % of the strongest (by angle), and the picks up to the last of them:

- recall: the share of those lines with a pick within half a FWHM;
- precision: the share of picks within half a FWHM of a true Kα1 line of
  any intensity (anything else is a Kα2 ghost, a noise bump or a background
  artefact; at 1 % noise lines of 0.05 % are found, and they are real);
- position error: |pick − line| for matched lines with no other line of
  0.2 % within one FWHM (an unresolved pair has no one true position).

``--instrument`` also searches each pattern with the instrument that
simulated it (Caglioti U, V, W of ``powdex.patterns.simulate``, Kα1/Kα2 of
Cu) and gives that search's row beside the plain one: the instrument's
widths must not cost true lines.

The last table times reading a 10 000-point .xye file, its background and
search (warm: imports and first calls done), the median of repeats.

    python3 benchmarks/peak_search.py --seeds 3 [--instrument]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from powdex.crystal import Cell
from powdex.instrument import Instrument
from powdex.patterns import read_pattern
from powdex.patterns.radiation import tube_lines
from powdex.patterns.search import search_peaks
from powdex.patterns.simulate import LAB_CAGLIOTI, simulate_pattern

CELLS = {
    "cubic": Cell(5.4309, 5.4309, 5.4309),
    "tetragonal": Cell(4.5937, 4.5937, 2.9587),
    "hexagonal": Cell(4.9134, 4.9134, 5.4052, 90, 90, 120),
    "orthorhombic": Cell(8.4797, 5.3975, 6.9596),
    "monoclinic": Cell(7.256, 9.451, 10.862, 90, 98.4, 90),
    "triclinic": Cell(6.173, 7.528, 9.012, 84.3, 78.9, 69.5),
}
NOISES = (0.01, 0.02, 0.03)
FIRST_LINES = 30
STRONG = 0.01
NEIGHBOUR = 0.002


def true_lines(positions, heights, widths):
    """Lines closer than half a FWHM merged: (position, height, width, isolated)."""
    groups = [[0]]
    for i in range(1, positions.size):
        (groups[-1].append(i) if positions[i] - positions[groups[-1][-1]] < 0.5 * widths[i] else groups.append([i]))
    merged = []
    for group in groups:
        h = heights[group]
        merged.append((np.average(positions[group], weights=h), h.sum(), widths[group].mean(), len(group) == 1))
    lines = np.array(merged)
    strongest = lines[:, 1].max()
    visible = lines[:, 1] >= NEIGHBOUR * strongest
    for k in range(len(lines)):
        others = visible.copy()
        others[k] = False
        if np.any(np.abs(lines[others, 0] - lines[k, 0]) < lines[k, 2]):
            lines[k, 3] = 0
    return lines


def score(simulated, found):
    lines = true_lines(simulated.line_two_theta, simulated.line_height, simulated.line_fwhm)
    strongest = lines[:, 1].max()
    strong = lines[lines[:, 1] >= STRONG * strongest][:FIRST_LINES]
    real = lines
    limit = strong[-1, 0] + 0.5 * strong[-1, 2]
    picks = found.two_theta[found.two_theta <= limit]
    hits, errors = 0, []
    for position, _, width, isolated in strong:
        distance = np.abs(picks - position)
        if distance.size and distance.min() <= 0.5 * width:
            hits += 1
            if isolated:
                errors.append(distance.min())
    true_picks = sum(np.any(np.abs(real[:, 0] - p) <= 0.5 * real[:, 2]) for p in picks)
    return hits / len(strong), (true_picks / picks.size if picks.size else 0.0), errors, len(strong), picks.size


def timing(repeats: int) -> float:
    simulated = simulate_pattern(CELLS["monoclinic"], two_theta_range=(5.0, 105.0), step=0.01, seed=0)
    pattern = simulated.pattern
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pattern.xye"
        np.savetxt(path, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]), fmt="%.4f %.2f %.2f",
                   header="wavelength: 1.5406")
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            search_peaks(read_pattern(path, anode="Cu"))
            times.append(time.perf_counter() - start)
    return len(pattern), float(np.median(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="patterns per cell and noise level")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats")
    parser.add_argument("--instrument", action="store_true",
                        help="also search with the instrument that simulated the patterns")
    arguments = parser.parse_args()
    console = Console(width=150)
    u, v, w = LAB_CAGLIOTI
    tube = tube_lines("Cu")
    # The simulated lines' FWHM is Caglioti's: the instrument's Gaussian part, no Lorentzian.
    instruments = {"plain": None}
    if arguments.instrument:
        instruments["instrument"] = Instrument(wavelengths=(tube.k_alpha1, tube.k_alpha2), ratio=tube.ratio,
                                               U=u, V=v, W=w, source="simulated lab instrument")
    table = Table(title=f"Peak search, first {FIRST_LINES} lines ≥ {STRONG:.0%} of the strongest (Cu Kα1+Kα2)")
    for column in ("system", "noise", "search", "patterns", "lines", "picks", "recall", "precision",
                   "median |Δ2θ| (°)"):
        table.add_column(column, justify="right")
    totals = {mode: {"hits": 0.0, "lines": 0, "true": 0.0, "picks": 0, "errors": []} for mode in instruments}
    for name, cell in CELLS.items():
        for noise in NOISES:
            for mode, instrument in instruments.items():
                recalls, precisions, errors, n_lines, n_picks = [], [], [], 0, 0
                for seed in range(arguments.seeds):
                    simulated = simulate_pattern(cell, noise=noise, seed=seed)
                    recall, precision, pattern_errors, lines, picks = score(
                        simulated, search_peaks(simulated.pattern, instrument=instrument))
                    recalls.append(recall)
                    precisions.append(precision)
                    errors += pattern_errors
                    n_lines += lines
                    n_picks += picks
                    totals[mode]["hits"] += recall * lines
                    totals[mode]["lines"] += lines
                    totals[mode]["true"] += precision * picks
                    totals[mode]["picks"] += picks
                totals[mode]["errors"] += errors
                table.add_row(name, f"{noise:.0%}", mode, str(arguments.seeds), str(n_lines), str(n_picks),
                              f"{np.mean(recalls):.3f}", f"{np.mean(precisions):.3f}", f"{np.median(errors):.4f}")
    for mode, total in totals.items():
        table.add_row("all", "", mode, "", str(total["lines"]), str(total["picks"]),
                      f"{total['hits'] / total['lines']:.3f}", f"{total['true'] / total['picks']:.3f}",
                      f"{np.median(total['errors']):.4f}", style="bold")
    console.print(table)
    points, seconds = timing(arguments.repeats)
    speed = Table(title="Read (.xye) + background + search, warm")
    speed.add_column("points", justify="right")
    speed.add_column("median time (s)", justify="right")
    speed.add_row(str(points), f"{seconds:.3f}")
    console.print(speed)


if __name__ == "__main__":
    main()

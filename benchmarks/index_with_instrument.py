"""Indexing displaced lab samples with and without the calibrated instrument.

Synthetic Cu Kα1 + Kα2 patterns (``powdex.patterns.simulate``: Caglioti widths,
random intensities over three decades, 2 % noise, a sloping background and
Kβ at ``--k-beta`` of Kα1: 0.15 unfiltered, 0.01 or less behind a β filter) of one cell per crystal
system, 5–90° 2θ,
measured on a Bragg–Brentano instrument with a zero error and a specimen
displacement (Δ2θ = zero + displacement · cos θ: the pattern is resampled so
that each Bragg angle appears at its shifted position).  Each is indexed from
the raw pattern three ways: plainly, with a fitted zero shift (``zero_shift``),
and with the instrument (``instrument=`` of ``read_peak_input``-style picking
and of ``powdex.index``), and a fourth with the instrument that also carries
the Kβ ratio (``Instrument.k_beta_ratio``, ``--k-beta``: what ``powdex.calibrate``
measures on a standard scanned on it).  The table gives the true cell's rank and the picks
among the 20 used that are not the sample's Kα1 lines (within 0.3 FWHM of
their shifted positions): Kβ replicas, Kα2 residues and noise.

``--picks-only`` skips indexing and searches ``--seeds`` patterns per cell
plainly and with the instrument (without and with its Kβ ratio): the spurious picks among the first 20, and
the recall of the first 25 lines above 1 % of the strongest among all picks
(within 0.3 FWHM), so that setting tube lines aside is seen not to cost
sample lines.

    python3 benchmarks/index_with_instrument.py --time-limit 10 --displacement -0.12 --zero 0.03 --k-beta 0.01
    python3 benchmarks/index_with_instrument.py --picks-only --seeds 3 --displacement -0.3 --zero 0.05 --k-beta 0.15
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from rich.console import Console
from rich.table import Table

import powdex
from powdex.crystal import Cell, same_lattice
from powdex.instrument import Instrument, corrected_two_theta, peak_shift
from powdex.patterns import peaks_from_pattern, search_peaks
from powdex.patterns.radiation import tube_lines
from powdex.patterns.simulate import LAB_CAGLIOTI, simulate_pattern

CELLS = {
    "cubic P": (Cell(5.4309, 5.4309, 5.4309), "P"),
    "tetragonal P": (Cell(4.5937, 4.5937, 2.9587), "P"),
    "hexagonal P": (Cell(4.9134, 4.9134, 5.4052, 90, 90, 120), "P"),
    "orthorhombic P": (Cell(8.4797, 5.3975, 6.9596), "P"),
    "monoclinic P": (Cell(7.256, 9.451, 10.862, 90, 98.4, 90), "P"),
}


def displaced(cell: Cell, instrument: Instrument, seed: int, k_beta: float):
    """A simulated pattern of ``cell`` measured with ``instrument``'s shifts, and its shifted Kα1 lines."""
    tube = tube_lines("Cu")
    simulated = simulate_pattern(cell, noise=0.02, seed=seed, tube_replicas=((tube.k_beta, k_beta),) if k_beta else ())
    pattern = simulated.pattern
    # What the detector sees at x is what diffracts at the Bragg angle that the instrument shifts to x.
    bragg = corrected_two_theta(instrument, pattern.two_theta)
    shifted = replace(pattern, intensity=np.interp(bragg, pattern.two_theta, pattern.intensity),
                      sigma=np.interp(bragg, pattern.two_theta, pattern.sigma))
    lines = simulated.line_two_theta + peak_shift(instrument, simulated.line_two_theta)
    return shifted, lines, simulated.line_fwhm, simulated.line_height


def spurious_picks(picks, lines, widths) -> int:
    """The picks farther than 0.3 FWHM from every (shifted) Kα1 line."""
    nearest = np.argmin(np.abs(picks[:, None] - lines[None, :]), axis=1)
    return int(np.sum(np.abs(picks - lines[nearest]) > 0.3 * widths[nearest]))


def picks_only(name: str, instrument: Instrument, given: Instrument | None, seed: int, k_beta: float) -> dict:
    """Spurious picks among the first 20, and the first 25 lines above 1 % found among all picks, of a pattern
    measured on ``instrument`` and searched with ``given``."""
    pattern, lines, widths, heights = displaced(CELLS[name][0], instrument, seed, k_beta)
    first = np.asarray(peaks_from_pattern(pattern, n_peaks=20, instrument=given).two_theta)
    found = search_peaks(pattern, instrument=given).two_theta
    strong = heights >= 0.01 * heights.max()
    wanted, wanted_widths = lines[strong][:25], widths[strong][:25]
    hits = np.min(np.abs(wanted[:, None] - found[None, :]), axis=1) <= 0.3 * wanted_widths
    return {"spurious": spurious_picks(first, lines, widths), "found": int(hits.sum()), "lines": int(wanted.size)}


def run(name: str, instrument: Instrument, given: Instrument | None, zero_shift: bool, time_limit: float, seed: int,
        k_beta: float) -> dict:
    cell, centring = CELLS[name]
    pattern, lines, widths, _ = displaced(cell, instrument, seed, k_beta)
    start = time.perf_counter()
    peaks = peaks_from_pattern(pattern, n_peaks=20, instrument=given)
    config = powdex.IndexingConfig(time_limit=time_limit, zero_shift=zero_shift, seed=seed)
    result = powdex.index(peaks, config=config, instrument=given)
    seconds = time.perf_counter() - start
    rank = next((i for i, c in enumerate(result.candidates, 1)
                 if same_lattice(c.cell, cell, c.bravais.centring, centring, rtol=5e-3)), None)
    return {"rank": rank, "spurious": spurious_picks(np.asarray(peaks.two_theta), lines, widths), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per search")
    parser.add_argument("--zero", type=float, default=0.03, help="the instrument's zero error, ° 2θ")
    parser.add_argument("--displacement", type=float, default=-0.12, help="specimen displacement term, ° 2θ at θ = 0")
    parser.add_argument("--k-beta", type=float, default=0.01, help="Kβ height as a fraction of Kα1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--picks-only", action="store_true", help="search the peaks only, no indexing")
    parser.add_argument("--seeds", type=int, default=3, help="patterns per cell with --picks-only (seeds from --seed)")
    args = parser.parse_args()
    u, v, w = LAB_CAGLIOTI
    # The simulated lines' FWHM is Caglioti's: the instrument's Gaussian part, no Lorentzian.
    instrument = Instrument(wavelengths=(tube_lines("Cu").k_alpha1, tube_lines("Cu").k_alpha2),
                            ratio=tube_lines("Cu").ratio, zero=args.zero, displacement=args.displacement,
                            U=u, V=v, W=w, source="simulated lab instrument")
    console = Console(width=160)
    if args.picks_only:
        picks_table(instrument, args)
        return
    table = Table(title=f"displaced lab samples (zero {args.zero:+g}°, displacement {args.displacement:+g}° · cos θ, "
                        f"Kβ {args.k_beta:g}): true cell's rank / spurious picks of 20")
    modes = searched_with(instrument, args.k_beta, zero_shift=True)
    table.add_column("cell")
    for mode in modes:
        table.add_column(mode)
    totals = {mode: [0, 0] for mode in modes}
    for name in CELLS:
        row = [name]
        for mode, given in modes.items():
            outcome = run(name, instrument, given, mode == "zero shift", args.time_limit, args.seed, args.k_beta)
            totals[mode][0] += outcome["rank"] == 1
            totals[mode][1] += outcome["spurious"]
            row.append(f"{outcome['rank'] or '–'} / {outcome['spurious']} ({outcome['seconds']:.1f} s)")
        table.add_row(*row)
    table.add_row("first / spurious in all", *(f"{totals[m][0]} of {len(CELLS)} / {totals[m][1]}" for m in modes))
    console.print(table)


def searched_with(instrument: Instrument, k_beta: float, zero_shift: bool) -> dict[str, Instrument | None]:
    """The ways each pattern is searched: the instrument each is given (None: plainly)."""
    modes: dict[str, Instrument | None] = {"plain": None}
    if zero_shift:
        modes["zero shift"] = None
    modes["instrument"] = instrument
    modes["instrument with its Kβ ratio"] = instrument.with_values(k_beta_ratio=k_beta)
    return modes


def picks_table(instrument: Instrument, args) -> None:
    table = Table(title=f"displaced lab samples (zero {args.zero:+g}°, displacement {args.displacement:+g}° · cos θ, "
                        f"Kβ {args.k_beta:g}), {args.seeds} per cell: spurious picks of the first 20 / first 25 "
                        "lines ≥ 1 % found")
    modes = searched_with(instrument, args.k_beta, zero_shift=False)
    table.add_column("cell")
    for mode in modes:
        table.add_column(mode)
    totals = {mode: np.zeros(3, dtype=int) for mode in modes}
    for name in CELLS:
        row = [name]
        for mode, given in modes.items():
            outcomes = [picks_only(name, instrument, given, seed, args.k_beta)
                        for seed in range(args.seed, args.seed + args.seeds)]
            counts = np.array([[o["spurious"], o["found"], o["lines"]] for o in outcomes]).sum(axis=0)
            totals[mode] += counts
            row.append(f"{counts[0]} / {counts[1]} of {counts[2]}")
        table.add_row(*row)
    table.add_row("all", *(f"{totals[m][0]} / {totals[m][1]} of {totals[m][2]}" for m in modes))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()

"""Instrument calibration and sample broadening: accuracy tables.

    python benchmarks/calibration.py [--scan LaB6_SCAN [--min 20 --max 70]] [--seeds 1]

Table 1: synthetic CeO2 (Cu Kα1+Kα2, σ = √y) over a known instrument, size 20–500 nm and strain
0–0.3 %: size and strain found with the right instrument (error in %), and whether the check
flags the instrument file with W 20 % too large.  Table 2 (with --scan): calibration on a real
LaB6 (SRM 660 series) scan, Rwp, Rexp and, per isolated line, the FWHM of its own pseudo-Voigt fit
against the calibrated profile's FWHM at that angle.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from powdex.crystal import Cell
from powdex.instrument import Instrument
from powdex.patterns import read_pattern
from powdex.refinement.broadening import SCHERRER_K, sample_broadening
from powdex.refinement.calibrate import calibrate
from powdex.refinement.synthetic import CU_KALPHA, synthetic_pattern

INSTRUMENT = Instrument(wavelengths=CU_KALPHA, ratio=0.5, U=0.004, V=-0.002, W=0.003, X=0.02, Y=0.01, S_L=0.02,
                        H_L=0.01)
CEO2 = Cell(5.411651, 5.411651, 5.411651)
GRID = [(20.0, 0.0), (20.0, 0.003), (50.0, 0.001), (100.0, 0.0), (100.0, 0.001), (200.0, 0.002), (500.0, 0.0),
        (500.0, 0.003)]


def synthetic_table(seeds: int) -> None:
    print(f"{'size nm':>8} {'strain %':>8} {'seed':>4} {'size found':>10} {'err %':>6} {'strain found %':>14} "
          f"{'err %':>6} {'W+20% flagged':>13} {'s':>5}")
    for size, strain in GRID:
        for seed in range(seeds):
            profile = dict(INSTRUMENT.profile, X=INSTRUMENT.X + 4 * strain * 180 / math.pi,
                           Y=INSTRUMENT.Y + SCHERRER_K * CU_KALPHA[0] * 180 / math.pi / (size * 10))
            pattern, _, _ = synthetic_pattern(CEO2, "Fm-3m", two_theta=np.arange(20.0, 130.0, 0.02), seed=seed + 2,
                                              profile=profile, peak_area=20000.0)
            start = time.perf_counter()
            right = sample_broadening(pattern, CEO2, "Fm-3m", INSTRUMENT)
            wrong = sample_broadening(pattern, CEO2, "Fm-3m", INSTRUMENT.with_values(W=INSTRUMENT.W * 1.2))
            seconds = time.perf_counter() - start
            found = right.size_nm or float("nan")
            strain_error = (100 * (right.strain - strain) / strain) if strain else float("nan")
            print(f"{size:8.0f} {100 * strain:8.2f} {seed:4d} {found:10.1f} {100 * (found - size) / size:6.1f} "
                  f"{100 * right.strain:14.4f} {strain_error:6.1f} {not wrong.consistent!s:>13} {seconds:5.1f}")


def real_table(path: str, low: float | None, high: float | None) -> None:
    pattern = read_pattern(path, anode="Cu")
    window = None if low is None and high is None else (low or -np.inf, high or np.inf)
    start = time.perf_counter()
    calibration = calibrate(pattern, "LaB6", two_theta_range=window)
    seconds = time.perf_counter() - start
    stats, instrument = calibration.refinement.statistics, calibration.instrument
    print(f"\n{path}: {seconds:.1f} s, Rwp {100 * stats.rwp:.2f} %, Rexp {100 * stats.rexp:.2f} %, "
          f"reduced chi2 {stats.reduced_chi2:.2f}; {calibration.refinement.message}")
    print("  " + ", ".join(f"{name} {getattr(instrument, name):.5g}"
                           for name in ("zero", "displacement", "U", "V", "W", "X", "Y", "S_L", "H_L")))
    for note in instrument.notes[1:]:
        print(f"  note: {note}")
    print(f"{'hkl':>8} {'2θ':>8} {'line FWHM °':>11} {'profile FWHM °':>14} {'residual %':>10} {'esd %':>6}")
    for peak in calibration.peak_widths:
        print(f"{''.join(map(str, peak.hkl)):>8} {peak.two_theta:8.2f} {peak.fwhm:11.4f} {peak.profile_fwhm:14.4f} "
              f"{100 * peak.residual:10.2f} {100 * peak.residual_esd:6.2f}")
    within = sum(abs(p.residual) <= 0.05 for p in calibration.peak_widths)
    print(f"lines within 5 %: {within} of {len(calibration.peak_widths)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--scan", action="append", default=[], help="a real LaB6 scan (Cu Kα); repeatable")
    parser.add_argument("--min", type=float, default=None)
    parser.add_argument("--max", type=float, default=None)
    args = parser.parse_args()
    synthetic_table(args.seeds)
    for path in args.scan:
        real_table(path, args.min, args.max)


if __name__ == "__main__":
    main()

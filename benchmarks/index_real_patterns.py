"""Indexing from the raw pattern on real measured patterns with published cells.

Each file in tests/data/patterns that has a published cell (listed below,
provenance in tests/data/patterns/PROVENANCE.md) is read as a user's file
is, through :func:`powdex.patterns.read_peak_input` (the 20 lowest-angle
picks of at least 1 % of the strongest peak's height), given its wavelength or tube, and indexed by :func:`powdex.index`
with the default settings and a time limit.  The rank is that of the first
candidate whose lattice is the published one (reduced cells compared,
:func:`powdex.crystal.same_lattice`).  For every pattern the table sets the
picks against the published cell's reflections (every hkl, no extinctions):
the zero offset that best aligns them, and the picks no reflection explains
at that offset (below the first reflection: background or beam artefacts;
elsewhere: impurity lines, tube lines, Kα2 or noise); for a miss, that says
why.  The "spurious" column counts those picks.

``--instrument`` runs each pattern that has an instrument file (in
tests/data/instrument) twice, without and with it (``instrument=`` of
``read_peak_input`` and ``powdex.index``); the others once.
``--gsas-tutorials DIR`` adds the patterns of the GSAS-II tutorials
repository (AdvancedPhotonSource/GSAS-II-tutorials, checked at commit
e1e260108e8881663e3c2ebfbba59d712220f6ca) read from a local checkout DIR:
that repository has no licence file, so its files are evaluated here but not
shipped in tests/data.  Among them is the only real triclinic pattern found
(Keokuk kaolinite, Bruker RAW v3; cell of Bish & Von Dreele 1989, the
tutorial's ``kaolinite.cif``).
``--internal-standard`` runs each pattern with a certified standard mixed in
again with that standard's lines set aside (``internal_standard=`` of
``read_peak_input``); without it, a standard seen among the picks is set aside
by ``powdex.index`` itself when the search of all the picks finds nothing
decisive (``powdex.indexing.internal_standard``).  The CPU column is the search's own processor time: on
a machine shared with other work the wall time grows with their load.

    python3 benchmarks/index_real_patterns.py --time-limit 60 [--zero-shift] [--instrument] [--internal-standard]
        [--gsas-tutorials DIR] [--only FILE ...]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import powdex
from powdex.crystal import Cell, same_lattice
from powdex.patterns import read_peak_input
from powdex.peaks.units import q2_to_two_theta, two_theta_to_q2

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "patterns"
INSTRUMENTS = DATA.parent / "instrument"
# Zero offsets tried when explaining the picks (degrees 2θ).
ZERO_OFFSETS = np.arange(-0.8, 0.8001, 0.005)


@dataclass(frozen=True)
class RealPattern:
    file: str
    kind: str
    system: str
    cell: Cell
    centring: str
    wavelength: float | None = None
    anode: str | None = None
    instrument: str | None = None  # the instrument file of tests/data/instrument its source fits with
    internal_standard: str | None = None  # a certified standard mixed into the sample (powdex.crystal.standards)
    root: Path = DATA  # the folder the file is in


PATTERNS = (
    RealPattern("PBSO4.XRA", "lab Cu Kα1+2", "orthorhombic", Cell(8.482371, 5.400051, 6.961979), "P", anode="Cu",
                instrument="INST_XRY.prm"),
    RealPattern("PBSO4.CWN", "neutron", "orthorhombic", Cell(8.472792, 5.393243, 6.953462), "P", wavelength=1.909),
    RealPattern("FAP.XRA", "lab Cu Kα1+2", "hexagonal", Cell(9.372, 9.372, 6.886, 90, 90, 120), "P", anode="Cu",
                instrument="INST_XRY.prm"),
    RealPattern("A_SI3N4.XRA", "lab Cu Kα1+2", "trigonal", Cell(7.753888, 7.753888, 5.620424, 90, 90, 120), "P", anode="Cu",
                instrument="INST_XRY.prm"),
    RealPattern("B_SI3N4.XRA", "lab Cu Kα1+2", "hexagonal", Cell(7.601983, 7.601983, 2.907200, 90, 90, 120), "P", anode="Cu",
                instrument="INST_XRY.prm"),
    RealPattern("XRD-918-16_10.xrdml", "lab Cu Kα1+2", "trigonal", Cell(4.9134, 4.9134, 5.4052, 90, 90, 120), "P"),
    RealPattern("garnet.raw", "neutron", "cubic", Cell(12.18772, 12.18772, 12.18772), "I", wavelength=1.909),
    RealPattern("LaB6_660c_PDF1m.chi", "synchrotron", "cubic", Cell(4.15682, 4.15682, 4.15682), "P", wavelength=0.1665,
                instrument="PDF_1m.instprm"),
    RealPattern("sucrose_11bmb_0842_to16deg.fxye", "synchrotron", "monoclinic",
                Cell(10.863168, 8.703946, 7.757701, 90, 102.9426, 90), "P", wavelength=0.589183,
                instrument="11bmb_0842.prm"),
    RealPattern("jadarite_11bmb_6231_to12deg.fxye", "synchrotron", "monoclinic",
                Cell(6.763493, 13.803014, 7.689354, 90, 124.0869, 90), "P", wavelength=0.413529,
                instrument="11bmb_6231.prm"),
    RealPattern("Quinoli.gda", "synchrotron", "orthorhombic", Cell(7.748, 7.651, 12.736), "P", wavelength=1.148407,
                instrument="BNL-I.instprm"),
    RealPattern("OH_53.fxye", "synchrotron", "tetragonal", Cell(6.03, 6.03, 7.78), "I", wavelength=0.413263),
    RealPattern("OH_00.fxye", "synchrotron", "orthorhombic", Cell(7.712699, 8.543299, 8.536427), "F", wavelength=0.413263),
    RealPattern("pyxrd_brk_raw2.raw", "lab Cu Kα1+2", "hexagonal", Cell(3.2498, 3.2498, 5.2066, 90, 90, 120), "P"),
    RealPattern("Si_Al2O3_11bmb_8341_to24deg.fxye", "synchrotron", "trigonal",
                Cell(4.759, 4.759, 12.99, 90, 90, 120), "R", wavelength=0.413011, internal_standard="Si",
                instrument="11bmb_8341.prm"),
    RealPattern("COD_1501688_EtNH3Cl.cif", "lab Cu Kα1+2", "monoclinic",
                Cell(8.22307, 5.99899, 4.55113, 90, 93.9367, 90), "P"),
    RealPattern("COD_1518592_AuY.cif", "lab Cu Kα1", "monoclinic",
                Cell(7.79058, 18.7202, 6.74157, 90, 103.1674, 90), "P"),
    # Rounded room-temperature cell for x = 0.25 (Radaelli et al. 1994); the scan also holds La2O3 lines.  Its
    # instrument is the Si calibration of the same Rigaku MiniFlex 600 that Xerus ships.
    RealPattern("Xerus_La1.75Sr0.25CuO4.ras", "lab Cu Kα1+2", "tetragonal", Cell(3.77, 3.77, 13.25), "I",
                instrument="Xerus_RigakuSi.instprm"),
    # FullProf's rutile/anatase example with its own resolution file; the rutile cell its rutana_tch.pcr refines
    # (anatase, I41/amd a = 3.783144, c = 9.531285 Å, is the second phase).
    RealPattern("crysfml_rutana.xy", "lab Cu Kα1+2", "tetragonal", Cell(4.594355, 4.594355, 2.960119), "P",
                anode="Cu", instrument="crysfml_rut_cukalpha.irf"),
)


# Read from a checkout of AdvancedPhotonSource/GSAS-II-tutorials (``--gsas-tutorials``); not shipped (no licence).
GSAS_TUTORIALS = (
    # Stacking-faulted kaolinite Al2Si2O5(OH)4 from Keokuk, Iowa; C1 cell refined from these data (Bish & Von Dreele
    # 1989, Clays Clay Miner. 37, 289), as the tutorial's kaolinite.cif gives it.
    RealPattern("StackingFaults-II/data/Keokuk kaolinite.RAW", "lab Cu Kα1+2", "triclinic",
                Cell(5.1554, 8.9448, 7.4048, 91.700, 104.862, 89.822), "C"),
)


def explain_picks(two_theta: np.ndarray, wavelength: float, cell: Cell, tolerance: float) -> tuple[str, int]:
    """Why the picks do not index: the best zero offset and the picks no reflection explains; and how many
    picks no reflection explains."""
    q2_max = float(two_theta_to_q2(min(two_theta.max() + 2.0, 179.0), wavelength))
    _, q2 = cell.miller_indices_within(q2_max)
    lines = np.sort(q2_to_two_theta(np.unique(np.round(q2, 9)), wavelength))
    best_zero, best_explained = 0.0, None
    for zero in ZERO_OFFSETS:
        distance = np.min(np.abs(two_theta[:, None] - zero - lines[None, :]), axis=1)
        explained = distance <= tolerance
        # The offset that explains the most picks; of equal ones, the smallest.
        if best_explained is None or explained.sum() > best_explained.sum() or (
                explained.sum() == best_explained.sum() and abs(zero) < abs(best_zero)):
            best_zero, best_explained = float(zero), explained
    reasons = []
    if abs(best_zero) >= 0.05:
        reasons.append(f"zero offset {best_zero:+.2f}°")
    unexplained = two_theta[~best_explained]
    below = unexplained[unexplained < lines[0] + best_zero - tolerance]
    if below.size:
        reasons.append(f"{below.size} picks below the first line ({', '.join(f'{t:.2f}' for t in below)}°)")
    others = unexplained[unexplained >= lines[0] + best_zero - tolerance]
    if others.size:
        reasons.append(f"{others.size} unexplained picks ({', '.join(f'{t:.2f}' for t in others)}°)")
    return "; ".join(reasons), int(unexplained.size)


def run(case: RealPattern, time_limit: float, zero_shift: bool | None, with_instrument: bool = False,
        with_standard: bool = False) -> dict:
    instrument = powdex.Instrument.load(INSTRUMENTS / case.instrument) if with_instrument and case.instrument else None
    standard = case.internal_standard if with_standard else None
    start, cpu = time.perf_counter(), time.process_time()
    peaks = read_peak_input(case.root / case.file, wavelength=case.wavelength, anode=case.anode, instrument=instrument,
                            internal_standard=standard)
    result = powdex.index(peaks, config=powdex.IndexingConfig(time_limit=time_limit, zero_shift=zero_shift),
                          instrument=instrument)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rank = next((i for i, c in enumerate(result.candidates, 1)
                 if same_lattice(c.cell, case.cell, c.bravais.centring, case.centring, rtol=5e-3)), None)
    two_theta = np.asarray(peaks.two_theta)
    # About the position error of a pick, growing with angle as peaks widen.
    tolerance = max(0.02, 0.002 * float(two_theta.max()))
    why, spurious = explain_picks(two_theta, peaks.wavelength, case.cell, tolerance)
    if not why:
        why = "every pick explained" if rank == 1 else "every pick explained: the search missed it"
    best = result.candidates[0] if result.candidates else None
    return {"case": case, "rank": rank, "seconds": seconds, "cpu": cpu, "why": why, "n": peaks.n,
            "spurious": spurious, "instrument": case.instrument if instrument is not None else "–",
            "standard": standard or "–",
            "best": f"{best.bravais.value} {best.cell}" if best else "none"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per pattern")
    parser.add_argument("--only", nargs="*", help="file names to run (default: all)")
    parser.add_argument("--zero-shift", action="store_true", default=None,
                        help="fit a zero shift from the start (default settings: from the second pass)")
    parser.add_argument("--instrument", action="store_true",
                        help="also run each pattern that has an instrument file with it")
    parser.add_argument("--internal-standard", action="store_true",
                        help="also run each pattern with an internal standard mixed in with its lines set aside")
    parser.add_argument("--gsas-tutorials", type=Path, metavar="DIR",
                        help="also run the patterns of a local GSAS-II-tutorials checkout (not shipped: no licence)")
    args = parser.parse_args()
    cases = list(PATTERNS)
    if args.gsas_tutorials:
        cases += [replace(case, root=args.gsas_tutorials) for case in GSAS_TUTORIALS]
    console = Console(width=200)
    table = Table(title="powdex index on real measured patterns (published cell's rank)")
    for column in ("pattern", "kind", "system", "published cell", "instrument", "standard", "peaks", "spurious",
                   "rank", "time (s)", "CPU (s)", "first candidate", "picks against the published cell"):
        table.add_column(column)
    rows = []
    for case in cases:
        if args.only and case.file not in args.only:
            continue
        variants = [(False, False)]
        variants += [(True, False)] if args.instrument and case.instrument else []
        variants += [(False, True)] if args.internal_standard and case.internal_standard else []
        for with_instrument, with_standard in variants:
            row = run(case, args.time_limit, args.zero_shift, with_instrument, with_standard)
            rows.append(row)
            console.print(f"{case.file} (instrument {row['instrument']}, standard {row['standard']}): rank "
                          f"{row['rank']}, {row['spurious']} spurious picks, in {row['seconds']:.1f} s "
                          f"({row['cpu']:.1f} s CPU) {row['why']}")
            table.add_row(case.file, case.kind, case.system, str(case.cell), row["instrument"], row["standard"],
                          str(row["n"]), str(row["spurious"]), str(row["rank"] or "–"), f"{row['seconds']:.1f}",
                          f"{row['cpu']:.1f}", row["best"], row["why"])
    console.print(table)
    for label, chosen in (("as a user's file", [r for r in rows if r["instrument"] == r["standard"] == "–"]),
                          ("with an instrument", [r for r in rows if r["instrument"] != "–"]),
                          ("with the internal standard's lines set aside", [r for r in rows if r["standard"] != "–"])):
        if chosen:
            first = sum(row["rank"] == 1 for row in chosen)
            spurious = sum(row["spurious"] for row in chosen)
            console.print(f"{label}: published cell first {first} of {len(chosen)}; {spurious} spurious picks in all")


if __name__ == "__main__":
    main()

"""GSAS raw data (``.gsa``, ``.gsas``, ``.fxye``, ``.xra``, ...): the first constant-wavelength bank.

A title line, optional ``Instrument parameter`` and ``#`` comment lines,
then ``BANK n npts nrec CONST|CONS start step 0 0 STD|ESD|FXYE|FXY``, as
described in the GSAS manual (Larson & Von Dreele, LAUR 86-748) and read by
GSAS-II's ``G2pwd_fxye``.  Angles of CONST banks are in centidegrees.  STD
holds ten fields of eight characters per line, each a two-character count
of summed detectors (blank: one) and a six-character intensity, σ² = I/n;
ESD holds five (I, σ) pairs of eight-character fields; FXY/FXYE hold free
(2θ, I[, σ]) rows.  Time-of-flight banks (RALF, TIME_MAP, SLOG) are refused:
powdex reads constant-wavelength patterns.  The file names no wavelength
(that lives in the instrument parameter file), so it comes from the caller.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError
from powdex.peaks.text_table import read_text

SUFFIXES = (".gsa", ".gsas", ".fxye", ".fxy", ".xra", ".gda", ".gs", ".esd", ".std")
_BANK = re.compile(rb"^BANK\s+\d+", re.MULTILINE)


def sniff(head: bytes, path: Path) -> bool:
    return _BANK.search(head) is not None


def _fixed_fields(line: str, width: int) -> list[str]:
    line = line.rstrip("\n\r")
    return [line[i : i + width] for i in range(0, len(line), width)]


def read(path: Path, source: str) -> Pattern:
    try:
        lines = read_text(path).splitlines()
    except PeakInputError:
        with open(path, encoding="latin-1") as handle:  # titles are often Latin-1
            lines = handle.read().splitlines()
    bank_line = next((i for i, line in enumerate(lines) if line.startswith("BANK")), None)
    if bank_line is None:
        raise PeakInputError(f"{source}: a GSAS file needs a 'BANK' line; none found")
    where = f"{source}:{bank_line + 1}"
    fields = lines[bank_line].split()
    if len(fields) < 5:
        raise PeakInputError(f"{where}: BANK line too short: {lines[bank_line].strip()!r}")
    binning = fields[4].upper()
    if binning not in ("CONST", "CONS"):
        raise PeakInputError(f"{where}: {binning} bank is time-of-flight; powdex reads constant-wavelength 2θ banks")
    try:
        n_points = int(fields[2])
        start, step = float(fields[5]) / 100, float(fields[6]) / 100
    except (ValueError, IndexError):
        raise PeakInputError(f"{where}: cannot read npts, start and step from {lines[bank_line].strip()!r}") from None
    layout = fields[9].upper() if len(fields) > 9 else "STD"
    body = []
    for line in lines[bank_line + 1 :]:
        if line.startswith("BANK"):
            break
        if line.strip() and not line.startswith("#"):
            body.append(line)
    sigma = None
    two_theta = None
    try:
        if layout == "STD":
            counts, intensity = [], []
            for line in body:
                for field in _fixed_fields(line, 8):
                    if field.strip():
                        counts.append(max(int(field[:2]) if field[:2].strip() else 1, 1))
                        intensity.append(float(field[2:]))
            intensity, counts = np.array(intensity), np.array(counts)
            sigma = np.sqrt(np.maximum(intensity, 1.0) / counts)
        elif layout == "ESD":
            values = [float(field) for line in body for field in _fixed_fields(line, 8) if field.strip()]
            intensity, sigma = np.array(values[0::2]), np.array(values[1::2])
        elif layout in ("FXYE", "FXY"):
            rows = np.array([[float(token) for token in line.split()] for line in body])
            two_theta, intensity = rows[:, 0] / 100, rows[:, 1]
            sigma = rows[:, 2] if layout == "FXYE" else None
        else:
            raise PeakInputError(f"{where}: unknown GSAS data layout {layout!r} (expected STD, ESD, FXY or FXYE)")
    except (ValueError, IndexError) as error:
        raise PeakInputError(f"{source}: {layout} data after line {bank_line + 1} is not numbers as GSAS writes them ({error})") from None
    if intensity.size != n_points and two_theta is None:
        if intensity.size < n_points:
            raise PeakInputError(f"{where}: BANK line promises {n_points} points, the file holds {intensity.size}")
        intensity, sigma = intensity[:n_points], sigma[:n_points]
    if two_theta is None:
        two_theta = start + step * np.arange(intensity.size)
    return pattern_from_columns(two_theta, intensity, sigma, source, metadata={"title": lines[0].strip()})


FORMAT = PatternFormat("GSAS raw data", SUFFIXES, sniff, read)

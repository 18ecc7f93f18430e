"""Rigaku ``.ras`` text: the first scan between ``*RAS_INT_START`` and ``*RAS_INT_END``.

A ``*RAS_DATA_START`` file of ``*RAS_HEADER_START`` … ``*KEY "value"`` …
``*RAS_HEADER_END`` blocks, each followed by rows of ``2θ counts
attenuation``; the intensity is counts × attenuation.  Header keys used:
``HW_XG_WAVE_LENGTH_ALPHA1``, ``_ALPHA2``, ``_BETA``, ``HW_XG_TARGET_NAME``,
``MEAS_SCAN_AXIS_X_INTERNAL`` (else ``MEAS_SCAN_AXIS_X``), ``MEAS_DATA_COUNT``.
GSAS-II's ``G2pwd_rigaku`` reads the same structure.  Files are Latin-1 or
Shift-JIS: only the ASCII keys and numbers are read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

SUFFIXES = (".ras",)
_HEADER_ITEM = re.compile(r'^\*(\w+)\s+"?([^"]*)"?\s*$')
# Rigaku writes the doublet ratio nowhere in .ras; its software assumes 1/2.
_RIGAKU_RATIO = 0.5


def sniff(head: bytes, path: Path) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").startswith(b"*RAS_")


def header_lines(header: dict[str, str]) -> tuple[tuple[float, ...], float, dict[str, object]]:
    """Tube lines and metadata from Rigaku header items (shared with ``.rasx``)."""
    def number(key: str) -> float | None:
        try:
            value = float(header.get(key, ""))
        except ValueError:
            return None
        return value if value > 0 else None

    alpha1, alpha2 = number("HW_XG_WAVE_LENGTH_ALPHA1"), number("HW_XG_WAVE_LENGTH_ALPHA2")
    wavelengths = tuple(w for w in (alpha1, alpha2) if w)
    metadata: dict[str, object] = {}
    if header.get("HW_XG_TARGET_NAME"):
        metadata["anode"] = header["HW_XG_TARGET_NAME"]
    if number("HW_XG_WAVE_LENGTH_BETA"):
        metadata["k_beta"] = number("HW_XG_WAVE_LENGTH_BETA")
    return wavelengths, _RIGAKU_RATIO if len(wavelengths) == 2 else 0.0, metadata


def intensity_rows(lines, source: str, first_line: int) -> np.ndarray:
    """(2θ, counts × attenuation) from ``2θ counts [attenuation]`` rows."""
    rows = []
    for number, line in enumerate(lines, start=first_line):
        tokens = line.replace(",", " ").split()
        if not tokens:
            continue
        try:
            values = [float(token) for token in tokens[:3]]
        except ValueError:
            raise PeakInputError(f"{source}:{number}: expected '2θ counts [attenuation]', got {line.strip()[:40]!r}") from None
        if len(values) < 2:
            raise PeakInputError(f"{source}:{number}: expected '2θ counts [attenuation]', got {line.strip()[:40]!r}")
        rows.append((values[0], values[1] * (values[2] if len(values) == 3 else 1.0)))
    if not rows:
        raise PeakInputError(f"{source}: the scan holds no data rows")
    return np.array(rows)


def read(path: Path, source: str) -> Pattern:
    with open(path, encoding="latin-1") as handle:
        lines = handle.read().splitlines()
    header: dict[str, str] = {}
    start = end = None
    for number, line in enumerate(lines):
        line = line.strip()
        if line == "*RAS_INT_START":
            start = number + 1
        elif line == "*RAS_INT_END" and start is not None:
            end = number
            break
        elif start is None and (item := _HEADER_ITEM.match(line)):
            header[item.group(1)] = item.group(2).strip()
    if start is None or end is None:
        raise PeakInputError(f"{source}: no *RAS_INT_START … *RAS_INT_END block, not a complete Rigaku .ras scan")
    # The internal axis name is ASCII ("TwoThetaTheta"); the displayed one may be Shift-JIS ("2θ/θ" on a MiniFlex).
    axis = header.get("MEAS_SCAN_AXIS_X_INTERNAL") or header.get("MEAS_SCAN_AXIS_X", "2-Theta/Omega")
    if "theta" not in axis.lower():
        raise PeakInputError(f"{source}: the scan axis is {axis!r}, not 2θ")
    data = intensity_rows(lines[start:end], source, start + 1)
    wavelengths, ratio, metadata = header_lines(header)
    if header.get("FILE_SAMPLE"):
        metadata["sample"] = header["FILE_SAMPLE"]
    pattern = pattern_from_columns(data[:, 0], data[:, 1], None, source, wavelengths=wavelengths, ratio=ratio,
                                   metadata=metadata)
    # A header count that the rows do not match: a cut or unfinished scan, read as it is.
    # SmartLab writes the count as "3501", MiniFlex as "4001.0000000000".
    try:
        expected = float(header.get("MEAS_DATA_COUNT", ""))
    except ValueError:
        return pattern
    if expected != len(data):
        return replace(pattern, notes=(*pattern.notes, f"the header says {expected:g} points, the scan holds {len(data)}"))
    return pattern


FORMAT = PatternFormat("Rigaku RAS", SUFFIXES, sniff, read)

"""Text columns: 2θ, intensity and optionally σ (``.xy``, ``.xye``, ``.csv``, ``.dat``).

The text syntax is that of peak lists (:mod:`powdex.peaks.text_table`):
comments, any of ``, ; tab space`` as separators, one header line, a
``# wavelength: 1.5406`` comment.  A third column is σ; further columns are
ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.text_table import parse_text_table, read_text

SUFFIXES = (".xy", ".xye", ".csv", ".dat", ".txt", ".asc")


def sniff(head: bytes, path: Path) -> bool:
    """Text whose first lines of data are numbers."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    lines = [line for line in text.splitlines()[:-1] if line.strip() and line.lstrip()[0] not in "#!"]
    numeric = 0
    for line in lines[:20]:
        tokens = line.replace(",", " ").replace(";", " ").split()
        try:
            [float(token) for token in tokens]
        except ValueError:
            continue
        numeric += len(tokens) >= 2
    return numeric >= 3


def read(path: Path, source: str) -> Pattern:
    table = parse_text_table(read_text(path), source)
    count = 3 if len(table.rows[0]) >= 3 else 2
    names = ("2θ", "intensity", "σ")[:count]
    columns = table.leading_columns(count, names)
    return pattern_from_columns(
        columns[:, 0],
        columns[:, 1],
        columns[:, 2] if count == 3 else None,
        source,
        wavelengths=() if table.wavelength is None else (table.wavelength,),
        line_numbers=table.line_numbers,
    )


FORMAT = PatternFormat("text columns", SUFFIXES, sniff, read)

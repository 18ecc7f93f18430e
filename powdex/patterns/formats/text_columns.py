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
from powdex.peaks.text_table import _is_number, parse_text_table, read_text

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


_SEPARATORS = str.maketrans(",;\t", "   ")


def _clean_columns(text: str, source: str):
    """(columns, wavelength, line numbers) of a clean numeric table in one vectorised pass, or
    None when anything is unusual (trailing comments, ragged rows, no '.' in
    the data, non-numbers): then the line-by-line parser of peak lists reads
    the file and names the offending line.  A measured pattern has thousands
    of lines, which that parser takes a tenth of a second over."""
    lines = text.splitlines()
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip() and line.lstrip()[0] not in "#!"]
    if not numbered:
        return None
    if not all(_is_number(token) for token in numbered[0][1].translate(_SEPARATORS).split()):
        numbered = numbered[1:]  # a header line of column names
    line_numbers = [number for number, _ in numbered]
    data = [line for _, line in numbered]
    if len(data) < 2 or "#" in "".join(data) or "!" in "".join(data):
        return None
    body = "\n".join(data).translate(_SEPARATORS)
    if "." not in body:
        return None  # maybe decimal commas: the full parser decides
    widths = {len(line.split()) for line in body.splitlines()}
    if len(widths) != 1:
        return None
    try:
        values = np.array(body.split(), dtype=float)
    except ValueError:
        return None
    # Wavelength comments and the header: the full parser, on the lines that are not data.
    preamble = [line for line in lines if not line.strip() or line.lstrip()[0] in "#!"]
    wavelength = parse_text_table("\n".join([*preamble, data[0]]), source).wavelength
    return values.reshape(len(data), widths.pop()), wavelength, line_numbers


def read(path: Path, source: str) -> Pattern:
    text = read_text(path)
    clean = _clean_columns(text, source)
    if clean is not None:
        columns, wavelength, line_numbers = clean
        if columns.shape[1] < 2:
            clean = None
    if clean is None:
        table = parse_text_table(text, source)
        count = 3 if len(table.rows[0]) >= 3 else 2
        columns = table.leading_columns(count, ("2θ", "intensity", "σ")[:count])
        wavelength, line_numbers = table.wavelength, table.line_numbers
    return pattern_from_columns(
        columns[:, 0],
        columns[:, 1],
        columns[:, 2] if columns.shape[1] >= 3 else None,
        source,
        wavelengths=() if wavelength is None else (wavelength,),
        line_numbers=line_numbers,
    )


FORMAT = PatternFormat("text columns", SUFFIXES, sniff, read)

"""Lenient reading of numeric text columns, shared by peak-list and pattern files.

Accepted: UTF-8 text (a byte-order mark is skipped); comma, semicolon, tab or
space separators; ``#`` and ``!`` comments, whole-line or trailing; blank
lines; one header line of column names (words: every name holds a letter)
before the first data line; a ``# wavelength: 1.5406`` or ``# lambda = 0.7093``
comment with a wavelength between 0.01 and 20 Å.  Everything else that is not a
number is an error naming the file, line and column, and so are control
characters (a NUL byte from a corrupted copy), and two ways a comma silently
shifts columns: data lines with different numbers of columns (``28.44 1,520``,
a thousands separator) and decimal commas (``28,44``).
"""

import re
import unicodedata
from dataclasses import dataclass
from os import PathLike

import numpy as np

from .peaklist import PeakInputError
from .units import MAX_WAVELENGTH, MIN_WAVELENGTH

_SEPARATORS = re.compile(r"[,;\s]+")
_COMMENT_START = re.compile(r"[#!]")
# "wavelength: 1.5406", "lambda = 0.7093 A", "λ 1.5406"; group 1 is the ':' or '='.
_WAVELENGTH_STATEMENT = re.compile(r"(?:\bwavelength\b|\blambda\b|λ)\s*([:=])?\s*(\S*)", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_COMMA_NUMBER = re.compile(r"[-+]?\d+,\d+")


def read_text(path: str | PathLike) -> str:
    """The file's text, or a one-line PeakInputError instead of a traceback."""
    try:
        # utf-8-sig: editors on Windows start UTF-8 files with a byte-order mark, which is no data.
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except FileNotFoundError:
        raise PeakInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise PeakInputError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise PeakInputError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise PeakInputError(f"{path}: not a text file (not valid UTF-8)") from None
    except OSError as error:  # a symbolic-link loop, an I/O error of the disk or network file system, ...
        raise PeakInputError(f"{path}: cannot read ({error.strerror or error})") from None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _wavelength_in(comment: str, where: str) -> float | None:
    """The wavelength a comment states, None for comments that state none.

    Prose such as "# measured at the Cu wavelength" states none; a keyword
    followed by ':' or '=' promises a value, so a missing or non-positive one
    is an error rather than silently falling back to another wavelength.
    """
    statement = _WAVELENGTH_STATEMENT.search(comment)
    if statement is None:
        return None
    number = _LEADING_NUMBER.match(statement.group(2))
    if number is None and statement.group(1) is None:
        return None
    if number is None or float(number.group()) <= 0:
        raise PeakInputError(f"{where}: cannot read a positive wavelength from comment {comment.strip()!r}")
    wavelength = float(number.group())
    if not MIN_WAVELENGTH <= wavelength <= MAX_WAVELENGTH:
        raise PeakInputError(
            f"{where}: wavelength {wavelength:g} Å is implausible (diffraction uses {MIN_WAVELENGTH:g} to "
            f"{MAX_WAVELENGTH:g} Å); give it in Å"
        )
    return wavelength


def _is_column_name(token: str) -> bool:
    # A header names columns with words ("2theta", "I", "q²"); "28..44" is a mistyped number, not a name.
    return any(character.isalpha() for character in token)


def _refuse_control_characters(content: str, where: str) -> None:
    """A NUL or other control character (a corrupted copy, a binary file with a text extension) is no
    separator and no number; left alone it makes a data line look like a header."""
    for character in content:
        if character != "\t" and unicodedata.category(character) == "Cc":
            raise PeakInputError(f"{where}: control character U+{ord(character):04X} in the line (a corrupted or binary file?)")


@dataclass(frozen=True)
class TextTable:
    """The numeric rows of a text file and what its header and comments said."""

    source: str
    header: tuple[str, ...] | None
    rows: tuple[tuple[float, ...], ...]
    line_numbers: tuple[int, ...]
    wavelength: float | None

    def leading_columns(self, count: int, names: tuple[str, ...]) -> np.ndarray:
        """The first ``count`` columns as an (n_rows, count) array; extra columns
        (e.g. the uncertainty of an .xye file) are ignored."""
        for row, line in zip(self.rows, self.line_numbers):
            if len(row) < count:
                raise PeakInputError(
                    f"{self.source}:{line}: found {len(row)} column(s), expected {count} ({', '.join(names)})"
                )
        return np.array([row[:count] for row in self.rows], dtype=np.float64).reshape(-1, count)


def parse_text_table(text: str, source: str) -> TextTable:
    header = None
    rows = []
    line_numbers = []
    contents = []  # each data line without its comment
    wavelength = None
    wavelength_line = None
    for line_number, line in enumerate(text.splitlines(), start=1):
        where = f"{source}:{line_number}"
        comment_start = _COMMENT_START.search(line)
        content = line if comment_start is None else line[: comment_start.start()]
        if comment_start is not None:
            stated = _wavelength_in(line[comment_start.end() :], where)
            if stated is not None and wavelength is not None and stated != wavelength:
                raise PeakInputError(
                    f"{where}: wavelength {stated:g} contradicts {wavelength:g} given on line {wavelength_line}"
                )
            if stated is not None:
                wavelength, wavelength_line = stated, line_number
        _refuse_control_characters(content, where)
        tokens = [token for token in _SEPARATORS.split(content) if token]
        if not tokens:
            continue
        numeric = [_is_number(token) for token in tokens]
        is_first_content = header is None and not rows
        if is_first_content and not any(numeric) and all(_is_column_name(token) for token in tokens):
            header = tuple(tokens)
            continue
        if not all(numeric):
            column = numeric.index(False)
            raise PeakInputError(f"{where}: non-numeric value {tokens[column]!r} in column {column + 1}")
        if rows and len(tokens) != len(rows[0]):
            raise PeakInputError(f"{where}: {len(tokens)} columns, but line {line_numbers[0]} has {len(rows[0])}")
        rows.append(tuple(float(token) for token in tokens))
        line_numbers.append(line_number)
        contents.append(content)
    if not rows:
        raise PeakInputError(f"{source}: no data (the file is empty or holds only comments)")
    _refuse_decimal_commas(rows, line_numbers, contents, source)
    return TextTable(source, header, tuple(rows), tuple(line_numbers), wavelength)


def _refuse_decimal_commas(rows, line_numbers, contents, source: str) -> None:
    """A file written with decimal commas (``28,44 100``) parses as whole
    numbers in shifted columns.  Measured positions are never all whole
    numbers, so: no '.' in the data, a comma between digits, and every first
    column a whole number mean decimal commas."""
    if any("." in content for content in contents):
        return
    if not all(float(row[0]).is_integer() for row in rows):
        return
    for content, line in zip(contents, line_numbers):
        found = _COMMA_NUMBER.search(content)
        if found:
            number = found.group()
            raise PeakInputError(
                f"{source}:{line}: {number!r} looks like a decimal comma (no '.' in the data and every position "
                f"a whole number); write {number.replace(',', '.')}: powdex reads ',' as a column separator"
            )

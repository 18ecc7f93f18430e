"""Pattern file formats: one module per format, found by content and suffix.

Each module defines ``FORMAT``, a :class:`PatternFormat`.  Adding a format is
one new module here plus its name in ``BUILT_IN`` (or, from outside powdex,
one call to :func:`register`).  The formats are tried in order: the first
whose ``sniff`` recognises the file's content wins, preferring one that also
claims the file's suffix; a file no format recognises goes to the format of
its suffix, whose reader says what is wrong.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError
from powdex.peaks.text_table import read_text

# How much of the start of a file ``sniff`` sees.
HEAD_BYTES = 4096


@dataclass(frozen=True)
class PatternFormat:
    """A file format: its name, suffixes, how to recognise it and how to read it.

    ``sniff(head, path)`` gets the first ``HEAD_BYTES`` of the file (and its
    path, for zip containers that must be listed); ``read(path, source)``
    returns the file's one :class:`Pattern` or raises :class:`PeakInputError`
    with one line starting with ``source``.
    """

    name: str
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes, Path], bool]
    read: Callable[[Path, str], Pattern]


# Most specific first: text columns recognise almost any text, so they come last.
BUILT_IN = ("xrdml", "bruker_brml", "rigaku_rasx", "bruker_raw", "rigaku_ras", "gsas", "pdcif", "nexus", "text_columns")

_registered: list[PatternFormat] = []


def register(pattern_format: PatternFormat) -> None:
    """Add a format, tried before the built-in ones."""
    _registered.append(pattern_format)


def formats() -> tuple[PatternFormat, ...]:
    built_in = [importlib.import_module(f"{__name__}.{name}").FORMAT for name in BUILT_IN]
    return (*_registered, *built_in)


def pattern_suffixes() -> frozenset[str]:
    """Every suffix some format claims, lower case with the dot."""
    return frozenset(suffix for pattern_format in formats() for suffix in pattern_format.suffixes)


def read_head(path: Path, source: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError:
        read_text(path)  # says in one line what is wrong with the file (missing, a directory...)
        raise


def format_of(path: Path, source: str) -> PatternFormat:
    """The format that reads ``path``: by content first, the suffix breaking ties."""
    head = read_head(path, source)
    if not head:
        raise PeakInputError(f"{source}: empty file")
    suffix = path.suffix.lower()
    known = formats()
    recognised = [pattern_format for pattern_format in known if pattern_format.sniff(head, path)]
    for pattern_format in recognised:
        if suffix in pattern_format.suffixes:
            return pattern_format
    if recognised:
        return recognised[0]
    for pattern_format in known:
        if suffix in pattern_format.suffixes:
            return pattern_format
    raise PeakInputError(f"{source}: not a pattern format powdex reads (known suffixes: {', '.join(sorted(pattern_suffixes()))})")

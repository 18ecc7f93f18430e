"""Measured powder patterns: the ``Pattern`` every stage reads, instrument file
readers, background and peak search.

A low layer beside ``powdex.peaks``: numpy and scipy, plus the readers' own
small dependencies.
"""

from powdex.patterns.pattern import Pattern
from powdex.patterns.radiation import ANODES, TubeLines, tube_lines
from powdex.patterns.reading import read_pattern, with_radiation


def __getattr__(name: str):
    # Peak search needs scipy.signal and pybaselines (slow to import): load on first use.
    if name in ("peaks_from_pattern", "read_peak_input"):
        from powdex.patterns import peak_input

        return getattr(peak_input, name)
    if name in ("PeakSearch", "search_peaks"):
        from powdex.patterns import search

        return getattr(search, name)
    raise AttributeError(f"module 'powdex.patterns' has no attribute {name!r}")


__all__ = [
    "ANODES",
    "Pattern",
    "PeakSearch",
    "TubeLines",
    "peaks_from_pattern",
    "read_pattern",
    "read_peak_input",
    "search_peaks",
    "tube_lines",
    "with_radiation",
]

"""Measured powder patterns: the ``Pattern`` every stage reads, instrument file
readers, background and peak search.

A low layer beside ``powdex.peaks``: numpy and scipy, plus the readers' own
small dependencies.
"""

from powdex.patterns.pattern import Pattern
from powdex.patterns.radiation import ANODES, TubeLines, tube_lines
from powdex.patterns.reading import read_pattern, with_radiation

__all__ = ["ANODES", "Pattern", "TubeLines", "read_pattern", "tube_lines", "with_radiation"]

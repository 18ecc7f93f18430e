"""Measured powder patterns: the ``Pattern`` every stage reads, instrument file
readers, background and peak search.

A low layer beside ``powdex.peaks``: numpy and scipy, plus the readers' own
small dependencies.
"""

from powdex.patterns.pattern import Pattern

__all__ = ["Pattern"]

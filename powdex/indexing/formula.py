"""Formula units per cell from the volume per non-hydrogen atom (about 18 Å³ in organic and many inorganic solids;
Kempster & Lipson 1972): a check on a cell's size that a referee asks for."""

from __future__ import annotations

import re

# Å³ per non-hydrogen atom of a typical molecular crystal (Kempster & Lipson 1972).
VOLUME_PER_ATOM = 18.0

_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def non_hydrogen_atoms(formula: str) -> float:
    """Atoms other than H (and D) in a formula such as ``C6H12O6`` or ``ZrO2`` (no brackets)."""
    text = formula.replace(" ", "")
    if not text or _ELEMENT.sub("", text):
        raise ValueError(f"formula {formula!r}: write element symbols with counts, e.g. C6H12O6 (no brackets)")
    return sum(float(count or 1) for symbol, count in _ELEMENT.findall(text) if symbol not in ("H", "D"))


def formula_units(volume: float, formula: str) -> float:
    """Formula units a cell of ``volume`` Å³ holds at ``VOLUME_PER_ATOM`` per non-hydrogen atom."""
    atoms = non_hydrogen_atoms(formula)
    if atoms <= 0:
        raise ValueError(f"formula {formula!r} has no atom other than hydrogen")
    return volume / (VOLUME_PER_ATOM * atoms)

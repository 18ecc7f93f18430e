"""Formula units per cell from a chemical formula: a check on a cell's size that a referee asks for.

Two estimates of the volume a formula unit fills:

* 18 Å³ per non-hydrogen atom (Kempster & Lipson 1972), the rule of thumb for organic and many inorganic
  solids;
* Hofmann volumes (Hofmann 2002, Acta Cryst. B58, 489–493): the mean volume per atom of each element,
  hydrogen included, fitted to the crystal structures of the Cambridge Structural Database and the ICSD
  (``hofmann_volumes.json``, with its provenance).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

# Å³ per non-hydrogen atom of a typical molecular crystal (Kempster & Lipson 1972).
VOLUME_PER_ATOM = 18.0
HOFMANN_VOLUMES = Path(__file__).with_name("hofmann_volumes.json")

_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def element_counts(formula: str) -> dict[str, float]:
    """Atoms of each element in a formula such as ``C6H12O6`` or ``ZrO2`` (no brackets); deuterium is hydrogen."""
    text = formula.replace(" ", "")
    if not text or _ELEMENT.sub("", text):
        raise ValueError(f"formula {formula!r}: write element symbols with counts, e.g. C6H12O6 (no brackets)")
    counts: dict[str, float] = {}
    for symbol, count in _ELEMENT.findall(text):
        element = "H" if symbol == "D" else symbol
        counts[element] = counts.get(element, 0.0) + float(count or 1)
    return counts


def non_hydrogen_atoms(formula: str) -> float:
    """Atoms other than H (and D) in a formula."""
    return sum(n for element, n in element_counts(formula).items() if element != "H")


def formula_units(volume: float, formula: str) -> float:
    """Formula units a cell of ``volume`` Å³ holds at ``VOLUME_PER_ATOM`` per non-hydrogen atom."""
    atoms = non_hydrogen_atoms(formula)
    if atoms <= 0:
        raise ValueError(f"formula {formula!r} has no atom other than hydrogen")
    return volume / (VOLUME_PER_ATOM * atoms)


@cache
def _hofmann_table() -> dict[str, float]:
    return json.loads(HOFMANN_VOLUMES.read_text())["volumes"]


def hofmann_volume(formula: str) -> float:
    """Å³ a formula unit fills: the sum of its atoms' Hofmann volumes; ValueError for an element the table lacks
    (noble gases, Pm, Po and the heaviest)."""
    table = _hofmann_table()
    counts = element_counts(formula)
    missing = sorted(e for e in counts if e not in table)
    if missing:
        raise ValueError(f"formula {formula!r}: no Hofmann volume for {', '.join(missing)}")
    return sum(n * table[e] for e, n in counts.items())


def formula_units_text(volume: float, formula: str) -> str:
    """Formula units of ``formula`` in a cell of ``volume`` Å³ by both estimates, for a note."""
    text = (f"{formula_units(volume, formula):.2f} formula units of {formula} at {VOLUME_PER_ATOM:g} Å³ per "
            "non-hydrogen atom")
    try:
        per_unit = hofmann_volume(formula)
    except ValueError as error:
        return f"{text} ({error})"
    return f"{text}, {volume / per_unit:.2f} by Hofmann volumes ({per_unit:.1f} Å³ per formula unit)"

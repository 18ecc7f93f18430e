"""Import of a directory of CIF files with the seed's quality criteria and duplicate removal (section 2.1.1).

Quality criteria, each a rejection reason in the summary:

1. a chemical formula is given (``_chemical_formula_sum``);
2. a space-group number 1–230 is given;
3. a Hermann–Mauguin symbol is given, known to gemmi and of that number;
4. a crystal system is given, agrees with the space group and the cell obeys it;
5. the cell can be Niggli-reduced;
6. the stated volume matches the cell (1 % relative);
7. the stated volume is consistent with the atom count: at most 18 Å³ per
   atom of the cell contents (formula × Z, hydrogen included) — the seed's
   "within 18 times the number of atoms".

Duplicates (same crystal family — hexagonal and rhombohedral together —, same
composition, Niggli cells within 5 %) keep the entry with the lowest R-factor;
entries without an R-factor lose against any with one. The R-factor is stored.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import gemmi
import numpy as np

from powdex.crystal import Cell, niggli_reduce
from powdex.training.diffraction import Structure
from powdex.training.entry import Entry, entry_from_structure

VOLUME_RTOL = 0.01
MAX_VOLUME_PER_ATOM = 18.0
DUPLICATE_RTOL = 0.05
_DEFAULT_B = 3.0
_U_TO_B = 8 * np.pi**2


class Rejected(Exception):
    """A CIF failing a quality criterion; the message is the reason counted in the summary."""


@dataclass
class ImportSummary:
    read: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)


def _value(block: gemmi.cif.Block, *tags: str) -> str | None:
    for tag in tags:
        value = block.find_value(tag)
        if value is not None and value not in ("?", "."):
            return gemmi.cif.as_string(value).strip()
    return None


def _number(text: str | None) -> float | None:
    return None if text is None else gemmi.cif.as_number(text)


def composition(formula: str) -> dict[str, float]:
    """Element counts of a CIF formula such as ``C12 H10 N2 O``."""
    counts: Counter = Counter()
    for symbol, count in re.findall(r"([A-Z][a-z]?)\s*([0-9.]*)", formula):
        counts[symbol] += float(count) if count else 1.0
    return dict(counts)


def entry_from_cif_block(block: gemmi.cif.Block, identifier: str) -> Entry:
    """Check one CIF data block against the quality criteria and compute its entry; raises ``Rejected``."""
    formula = _value(block, "_chemical_formula_sum")
    if not formula or not composition(formula):
        raise Rejected("no chemical formula")
    number_text = _value(block, "_space_group_IT_number", "_symmetry_Int_Tables_number")
    if number_text is None:
        raise Rejected("no space-group number")
    number = int(_number(number_text))
    if not 1 <= number <= 230:
        raise Rejected("space-group number outside 1-230")
    symbol = _value(block, "_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M")
    sg = gemmi.find_spacegroup_by_name(symbol) if symbol else None
    if sg is None:
        raise Rejected("no obtainable Hermann-Mauguin symbol")
    if sg.number != number:
        raise Rejected("Hermann-Mauguin symbol does not match the number")
    system = _value(block, "_space_group_crystal_system", "_symmetry_cell_setting")
    if system is None:
        raise Rejected("no crystal system")
    small = gemmi.make_small_structure_from_block(block)
    stated_system = system.lower().replace("rhombohedral", "trigonal")
    if stated_system != sg.crystal_system_str() or not small.cell.is_compatible_with_spacegroup(sg, 1e-3):
        raise Rejected("crystal system inconsistent with the cell")
    try:
        cell = Cell.from_gemmi(small.cell)
        niggli_reduce(cell, sg.centring_type())
    except (ValueError, RuntimeError):
        raise Rejected("cell not reducible") from None
    stated_volume = _number(_value(block, "_cell_volume"))
    if stated_volume is None or not np.isclose(stated_volume, cell.volume, rtol=VOLUME_RTOL):
        raise Rejected("stated volume does not match the cell")
    z = _number(_value(block, "_cell_formula_units_Z"))
    atoms = sum(composition(formula).values()) * (z if z else 1.0)
    if stated_volume > MAX_VOLUME_PER_ATOM * atoms:
        raise Rejected("volume inconsistent with the atom count")
    small.spacegroup_hm = sg.xhm()
    small.setup_cell_images()
    sites = small.get_all_unit_cell_sites()
    if not len(sites):
        raise Rejected("no atom sites")
    u_iso = [s.u_iso for s in sites if s.u_iso > 0]
    structure = Structure(
        sg,
        cell,
        np.array([s.fract.tolist() for s in sites]),
        tuple(s.element.name for s in sites),
        float(np.mean(u_iso) * _U_TO_B) if u_iso else _DEFAULT_B,
        np.array([s.occ for s in sites]),
    )
    r_factor = _number(_value(block, "_refine_ls_R_factor_gt", "_refine_ls_R_factor_all"))
    return entry_from_structure(structure, "cif", identifier, formula, r_factor)


def import_cif_directory(folder: Path) -> tuple[list[Entry], ImportSummary]:
    """Entries of every acceptable CIF under ``folder`` (one per data block), duplicates removed."""
    summary = ImportSummary()
    entries: list[Entry] = []
    for path in sorted(Path(folder).rglob("*.cif")):
        try:
            blocks = list(gemmi.cif.read(str(path)))
        except (ValueError, RuntimeError):
            summary.read += 1
            summary.rejected["unreadable CIF"] += 1
            continue
        for block in blocks:
            summary.read += 1
            identifier = path.name if len(blocks) == 1 else f"{path.name}:{block.name}"
            try:
                entries.append(entry_from_cif_block(block, identifier))
            except Rejected as reason:
                summary.rejected[str(reason)] += 1
            except (ValueError, RuntimeError) as error:  # anything gemmi or the cell code cannot digest
                summary.rejected[f"invalid data ({type(error).__name__})"] += 1
    unique = remove_duplicates(entries)
    summary.rejected["duplicate"] += len(entries) - len(unique)
    summary.accepted = len(unique)
    return unique, summary


def _family(entry: Entry) -> str:
    return "hexagonal" if entry.lattice_system == "rhombohedral" else entry.lattice_system


def _normalised_composition(formula: str) -> tuple:
    counts = composition(formula)
    total = sum(counts.values())
    return tuple(sorted((el, round(n / total, 4)) for el, n in counts.items()))


def remove_duplicates(entries: list[Entry]) -> list[Entry]:
    """Keep one entry per duplicate set: the lowest R-factor (missing R-factors rank last, then input order)."""
    ranked = sorted(
        range(len(entries)), key=lambda i: (entries[i].r_factor is None, entries[i].r_factor or 0.0, i)
    )
    kept: list[Entry] = []
    for i in ranked:
        entry = entries[i]
        if not any(_duplicates(entry, other) for other in kept):
            kept.append(entry)
    return sorted(kept, key=entries.index)


def _duplicates(a: Entry, b: Entry) -> bool:
    if _family(a) != _family(b) or _normalised_composition(a.formula) != _normalised_composition(b.formula):
        return False
    return bool(np.all(np.abs(a.reduced_cell - b.reduced_cell) <= DUPLICATE_RTOL * np.abs(b.reduced_cell)))


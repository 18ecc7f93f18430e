"""Import of a directory of CIF files as training entries, with quality criteria and duplicate removal.

The space group is gemmi's reading of the block (``SmallStructure.spacegroup``):
the listed symmetry operations first, then the Hall symbol, then the
Hermann–Mauguin symbol with origin choice 2 where a group has two, and for R
groups rhombohedral or hexagonal axes as the cell says. Quality criteria, each
a rejection reason in the summary:

1. a chemical formula is given (``_chemical_formula_sum``);
2. a space-group number 1–230 is given;
3. gemmi obtains a tabulated setting from the block and it has that number;
4. a crystal system is given and is of the group's crystal family (trigonal
   groups are often reported as "hexagonal" or "rhombohedral"), and the cell
   obeys the group;
5. the cell can be Niggli-reduced;
6. the stated volume matches the cell (1 % relative);
7. the stated volume is consistent with the atom count (formula × Z,
   hydrogen included). For organic compounds (carbon and hydrogen in the
   formula) that is "within 18 times the number of atoms": at most
   18 Å³ per atom, about twice the typical 9–10 Å³ of an organic crystal
   counted with its hydrogens, so a Z too small by half is caught. Inorganic
   compounds are far less uniform (diamond 5.7, silicon 20, KCl 31, CsI 57 Å³
   per atom), and the organic bound would reject silicon and rock salt: they
   must lie within 4–100 Å³ per atom, which still catches a formula or Z off
   by an order of magnitude. A missing Z is derived from the atom sites
   (non-hydrogen atoms in the cell over those in the formula) and must come
   out a whole number;
8. every atom site has a known element (types such as Q peaks or "Wat" are
   not scattered as dummy atoms).

Any other failure of one block (a value gemmi or the cell code cannot digest)
is counted by its exception type; no file stops the run. ``ImportSummary.problems``
holds one line per rejected block naming the file and the problem.

Duplicates (same crystal family — hexagonal and rhombohedral together —, same
composition, cells within 5 %) keep the entry with the lowest R-factor; entries
without an R-factor lose against any with one. "Cells within 5 %" is read as
lattices within 5 %: the shortest lattice vectors agree within 5 % and the
volumes within 15 % (``powdex.crystal.LatticeSignature`` at rtol 0.05). The
vectors fix the angles as well, and unlike Niggli parameters they do not jump
at the boundaries of the Niggli domain (angles near 90°), so one crystal
reported in two settings (rhombohedral and hexagonal axes) is found too; 5 %
of an angle (4.5° at 90°) would be far laxer than 5 % of a length. Entries are
compared only within their (family, composition) bucket. The R-factor is stored.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import gemmi
import numpy as np

from powdex.crystal import Cell, lattice_signature, niggli_reduce
from powdex.training.diffraction import Structure
from powdex.training.entry import Entry, entry_from_structure

VOLUME_RTOL = 0.01
MAX_ORGANIC_VOLUME_PER_ATOM = 18.0  # Å³, the organic bound (criterion 7)
INORGANIC_VOLUME_PER_ATOM = (4.0, 100.0)  # Å³
DUPLICATE_RTOL = 0.05
Z_TOLERANCE = 0.1  # a derived Z must lie this close to a whole number
_DEFAULT_B = 3.0
_U_TO_B = 8 * np.pi**2
_HYDROGEN = {"H", "D"}


class Rejected(Exception):
    """A CIF failing a quality criterion: ``reason`` is counted in the summary, ``detail`` only listed."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


@dataclass
class ImportSummary:
    read: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # "file[:block]: reason[: detail]", one per rejection

    def reject(self, identifier: str, reason: str, detail: str = "") -> None:
        self.rejected[reason] += 1
        self.problems.append(f"{identifier}: {reason}" + (f": {detail}" if detail else ""))


def _value(block: gemmi.cif.Block, *tags: str) -> str | None:
    for tag in tags:
        value = block.find_value(tag)
        if value is not None and value not in ("?", "."):
            return gemmi.cif.as_string(value).strip()
    return None


def _number(text: str | None) -> float | None:
    value = None if text is None else gemmi.cif.as_number(text)
    return None if value is None or not np.isfinite(value) else value


def composition(formula: str) -> dict[str, float]:
    """Element counts of a CIF formula such as ``C12 H10 N2 O``."""
    counts: Counter = Counter()
    for symbol, count in re.findall(r"([A-Z][a-z]?)\s*([0-9.]*)", formula):
        counts[symbol] += float(count) if count else 1.0
    return dict(counts)


def _family(system: str) -> str:
    """Crystal family of a crystal or lattice system (as CIFs spell them, lower case)."""
    return "hexagonal" if system in ("trigonal", "rhombohedral", "hexagonal") else system


def entry_from_cif_block(block: gemmi.cif.Block, identifier: str) -> Entry:
    """Check one CIF data block against the quality criteria and compute its entry; raises ``Rejected``."""
    formula = _value(block, "_chemical_formula_sum")
    counts = composition(formula) if formula else {}
    if not counts:
        raise Rejected("no chemical formula")
    number = _number(_value(block, "_space_group_IT_number", "_symmetry_Int_Tables_number"))
    if number is None:
        raise Rejected("no space-group number")
    if not (number == int(number) and 1 <= number <= 230):
        raise Rejected("space-group number outside 1-230")
    small = gemmi.make_small_structure_from_block(block)
    sg = small.spacegroup
    if sg is None:
        raise Rejected("no obtainable Hermann-Mauguin symbol")
    if sg.number != number:
        raise Rejected("Hermann-Mauguin symbol does not match the number")
    stated_system = _value(block, "_space_group_crystal_system", "_symmetry_cell_setting")
    if stated_system is None:
        raise Rejected("no crystal system")
    if _family(stated_system.lower()) != _family(sg.crystal_system_str()):
        raise Rejected("crystal system inconsistent with the space group")
    if not small.cell.is_compatible_with_spacegroup(sg, 1e-3):
        raise Rejected("cell inconsistent with the space group")
    try:
        cell = Cell.from_gemmi(small.cell)
        niggli_reduce(cell, sg.centring_type())
    except (ValueError, RuntimeError):
        raise Rejected("cell not reducible") from None
    stated_volume = _number(_value(block, "_cell_volume"))
    if stated_volume is None or not np.isclose(stated_volume, cell.volume, rtol=VOLUME_RTOL):
        raise Rejected("stated volume does not match the cell")
    unknown = sorted({s.type_symbol or s.label for s in small.sites if s.element.name == "X"})
    if unknown:
        raise Rejected("unknown atom type", ", ".join(unknown))
    sites = small.get_all_unit_cell_sites()
    if not len(sites):
        raise Rejected("no atom sites")
    z = _number(_value(block, "_cell_formula_units_Z")) or _z_from_sites(sites, counts)
    per_atom = stated_volume / (sum(counts.values()) * z)
    organic = "C" in counts and "H" in counts
    lo, hi = (0.0, MAX_ORGANIC_VOLUME_PER_ATOM) if organic else INORGANIC_VOLUME_PER_ATOM
    if not lo <= per_atom <= hi:
        raise Rejected("volume inconsistent with the atom count", f"{per_atom:.1f} Å³ per atom")
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


def _z_from_sites(sites, counts: dict[str, float]) -> float:
    """Formula units per cell from the atom sites; hydrogen is left out (often not located)."""
    in_formula = sum(n for el, n in counts.items() if el not in _HYDROGEN)
    in_cell = sum(s.occ for s in sites if s.element.name not in _HYDROGEN)
    z = in_cell / in_formula if in_formula else 0.0
    if round(z) < 1 or abs(z - round(z)) > Z_TOLERANCE:
        raise Rejected("no Z, and the atom sites give no whole number of formula units")
    return float(round(z))


def cif_files(folder: Path) -> list[Path]:
    """Every ``*.cif`` under ``folder``, whatever the case of the suffix (``*.CIF`` too), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".cif" and p.is_file())


def import_cif_directory(folder: Path) -> tuple[list[Entry], ImportSummary]:
    """Entries of every acceptable CIF under ``folder`` (one per data block), duplicates removed."""
    summary = ImportSummary()
    entries: list[Entry] = []
    for path in cif_files(folder):
        name = str(path.relative_to(folder))
        try:
            blocks = list(gemmi.cif.read(str(path)))
        except Exception as error:  # gemmi's message names the file and line
            summary.read += 1
            summary.reject(name, "unreadable CIF", str(error))
            continue
        for block in blocks:
            summary.read += 1
            identifier = name if len(blocks) == 1 else f"{name}:{block.name}"
            try:
                entries.append(entry_from_cif_block(block, identifier))
            except Rejected as rejection:
                summary.reject(identifier, rejection.reason, rejection.detail)
            except Exception as error:  # anything else one block can raise must not stop the run
                summary.reject(identifier, f"invalid data ({type(error).__name__})", str(error))
    unique = remove_duplicates(entries)
    kept = {id(e) for e in unique}
    for entry in entries:
        if id(entry) not in kept:
            summary.reject(entry.identifier, "duplicate")
    summary.accepted = len(unique)
    return unique, summary


def _normalised_composition(formula: str) -> tuple:
    counts = composition(formula)
    total = sum(counts.values())
    return tuple(sorted((el, round(n / total, 4)) for el, n in counts.items()))


def remove_duplicates(entries: list[Entry]) -> list[Entry]:
    """Keep one entry per duplicate set: the lowest R-factor (missing R-factors rank last, then input order)."""
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, e in enumerate(entries):
        buckets[(_family(e.lattice_system), _normalised_composition(e.formula))].append(i)
    keep = []
    for members in buckets.values():
        members.sort(key=lambda i: (entries[i].r_factor is None, entries[i].r_factor or 0.0, i))
        kept: list = []
        for i in members:
            signature = lattice_signature(Cell.from_parameters(entries[i].reduced_cell))
            if not any(signature.matches(other, rtol=DUPLICATE_RTOL) for other in kept):
                kept.append(signature)
                keep.append(i)
    return [entries[i] for i in sorted(keep)]

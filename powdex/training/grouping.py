"""Grouping of entries: lattice system → Bravais lattice → pattern of reflection conditions.

The group of an entry is read from ``groups/<lattice system>.csv``: one row per
Hermann–Mauguin symbol in the reindexed setting, with the group it belongs to.
The files are made by ``write_group_specs`` with the rules below and can then
be edited by hand (rename or merge groups by editing the ``group`` column).

Rules:

1. Two symbols have the same *pattern* when they forbid exactly the same
   reflections among all hkl with |h|, |k|, |l| ≤ 4 (P 2 2 2 and P m m m do;
   P 21 2 2 and P 2 21 2 do not). Each pattern of a Bravais lattice is a group.
2. A pattern whose expected share of its lattice system (space-group
   frequencies × 1/6 per axis order) is below ``RARE_SHARE`` is merged with the
   other axis permutations of the same space-group setting (P 21 2 2 /
   P 2 21 2 / P 2 2 21, say).
3. What is still rare after rule 2 is merged into one ``<Bravais> rare`` group
   per Bravais lattice.

Symbols not in the files (a CIF in an unusual setting) are placed by their
pattern; a pattern not in the files goes to ``<Bravais> unlisted``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from functools import cache
from importlib import resources
from itertools import permutations
from pathlib import Path

import gemmi
import numpy as np

from powdex.crystal import Cell, LatticeSystem, systematically_absent
from powdex.training.reindex import reindex
from powdex.training.spacegroups import bravais_lattice_of, generation_settings, lattice_system_of

RARE_SHARE = 0.005
_RANGE = np.arange(-4, 5)
_TEST_HKL = np.stack(np.meshgrid(_RANGE, _RANGE, _RANGE, indexing="ij"), axis=-1).reshape(-1, 3)
_DISPLAY_HKL = _TEST_HKL[(_TEST_HKL >= 0).all(axis=1) & (_TEST_HKL.max(axis=1) <= 2) & _TEST_HKL.any(axis=1)]
_FIELDS = ("group", "bravais_lattice", "space_group_symbol", "space_group_number", "expected_share_percent", "absent_low_order_reflections")


def reflection_pattern(symbol: str) -> bytes:
    """The set of forbidden reflections with |h|, |k|, |l| ≤ 4, as a hashable key."""
    return np.packbits(systematically_absent(gemmi.SpaceGroup(symbol), _TEST_HKL)).tobytes()


def _display(symbol: str) -> str:
    """Low-order reflections the symbol forbids beyond its lattice centring, e.g. ``001 100 012``."""
    ops = gemmi.SpaceGroup(symbol).operations()
    centring = np.array(ops.cen_ops, dtype=float) / gemmi.Op.DEN  # (n, 3) translations
    turns = _DISPLAY_HKL @ centring.T
    centring_absent = np.any(np.abs(turns - np.rint(turns)) > 1e-6, axis=1)
    shown = _DISPLAY_HKL[systematically_absent(gemmi.SpaceGroup(symbol), _DISPLAY_HKL) & ~centring_absent]
    return " ".join("".join(map(str, h)) for h in shown) or "-"


def _reindexed_symbols() -> dict[str, list[tuple[str, int, float, str]]]:
    """Per lattice system: (reindexed symbol, number, expected share, generating setting) for every axis order."""
    settings = generation_settings()
    out: dict[str, list] = defaultdict(list)
    for name, weight in zip(settings.names, settings.weights):
        sg = gemmi.SpaceGroup(name)
        system = lattice_system_of(sg)
        cells = _test_cells(system)
        for cell in cells:
            setting = reindex(cell, sg, system)
            out[system.value].append((setting.space_group.xhm(), sg.number, weight / len(cells), name))
    return out


def _test_cells(system: LatticeSystem) -> list[Cell]:
    """One cell per distinct axis order the reindexing can meet."""
    lengths = permutations((5.0, 7.0, 9.0))
    if system is LatticeSystem.MONOCLINIC:
        return [system.cell_from_free_parameters([*p, 100]) for p in lengths]
    if system is LatticeSystem.TRICLINIC:
        return [system.cell_from_free_parameters([*p, 80, 95, 100]) for p in lengths]
    if system is LatticeSystem.ORTHORHOMBIC:
        return [system.cell_from_free_parameters(p) for p in lengths]
    if system in (LatticeSystem.HEXAGONAL, LatticeSystem.RHOMBOHEDRAL):  # R groups in hexagonal axes
        return [LatticeSystem.HEXAGONAL.cell_from_free_parameters([5, 9])]
    return [system.cell_from_free_parameters([5] if system is LatticeSystem.CUBIC else [5, 9])]


def group_specs() -> dict[str, list[dict]]:
    """Rows of the group files by lattice system, made by the rules in the module docstring."""
    specs = {}
    for system, rows in _reindexed_symbols().items():
        total = sum(r[2] for r in rows)
        share: dict[str, float] = defaultdict(float)
        info = {}
        for symbol, number, weight, setting in rows:
            share[symbol] += weight / total
            info[symbol] = (number, setting)
        pattern_of = {s: reflection_pattern(s) for s in share}
        bravais_of = {s: bravais_lattice_of(gemmi.SpaceGroup(s)).value for s in share}
        # Rule 1: groups are patterns within a Bravais lattice.
        parent = {s: (bravais_of[s], pattern_of[s]) for s in share}
        group_share: dict = defaultdict(float)
        for s, key in parent.items():
            group_share[key] += share[s]
        # Rule 2: a rare pattern joins the other axis orders of its generating setting.
        by_setting: dict[str, set] = defaultdict(set)
        for s, (_, setting) in info.items():
            by_setting[setting].add(s)
        merged = {key: key for key in group_share}

        def root(key, merged=merged):
            while merged[key] != key:
                key = merged[key]
            return key

        for members in by_setting.values():
            keys = {root(parent[s]) for s in members}
            if len(keys) > 1 and any(group_share[k] < RARE_SHARE for k in keys):
                first, *rest = sorted(keys)
                for k in rest:
                    merged[k] = first
        final_share: dict = defaultdict(float)
        for s in share:
            final_share[root(parent[s])] += share[s]
        # Rule 3: whatever is still rare becomes "<Bravais> rare"; other groups are named by their commonest symbol.
        names = {}
        for key, value in final_share.items():
            members = [s for s in share if root(parent[s]) == key]
            top = max(members, key=lambda s: share[s])
            names[key] = f"{bravais_of[top]} rare" if value < RARE_SHARE else f"{bravais_of[top]} {top}"
        specs[system] = sorted(
            (
                {
                    "group": names[root(parent[s])],
                    "bravais_lattice": bravais_of[s],
                    "space_group_symbol": s,
                    "space_group_number": info[s][0],
                    "expected_share_percent": f"{100 * share[s]:.4f}",
                    "absent_low_order_reflections": _display(s),
                }
                for s in share
            ),
            key=lambda r: (r["bravais_lattice"], r["group"], -float(r["expected_share_percent"])),
        )
    return specs


def write_group_specs(folder: Path) -> None:
    """Write ``<lattice system>.csv`` group files into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for system, rows in group_specs().items():
        with open(folder / f"{system}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=_FIELDS)
            writer.writeheader()
            writer.writerows(rows)


@cache
def group_table(system: str) -> tuple[dict[str, str], dict[tuple[str, bytes], str]]:
    """(symbol → group, (Bravais lattice, pattern) → group) from the packaged group file of a lattice system."""
    text = resources.files("powdex.training").joinpath(f"groups/{system}.csv").read_text()
    by_symbol, by_pattern = {}, {}
    for row in csv.DictReader(io.StringIO(text)):
        by_symbol[row["space_group_symbol"]] = row["group"]
        by_pattern[(row["bravais_lattice"], reflection_pattern(row["space_group_symbol"]))] = row["group"]
    return by_symbol, by_pattern


def group_of(system: str, bravais_lattice: str, reindexed_symbol: str) -> str:
    by_symbol, by_pattern = group_table(system)
    if reindexed_symbol in by_symbol:
        return by_symbol[reindexed_symbol]
    return by_pattern.get((bravais_lattice, reflection_pattern(reindexed_symbol)), f"{bravais_lattice} unlisted")

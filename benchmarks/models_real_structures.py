"""The shipped regression models on real crystal structures that were never
in their training data.

    pip download --no-deps pyxtal==1.1.5 dans_diffraction==3.4.0 -d wheels
    python3 benchmarks/models_real_structures.py wheels/*.whl

Arguments are CIF files, folders of them, or wheels and zip archives whose
``.cif`` members are read (the structure libraries that ship with PyXtal and
Dans_Diffraction: elements, oxides, intermetallics, small molecules).  gemmi
reads each block's cell, space group and sites (no metadata criteria: these
are curated examples, unlike the database dumps ``powdex dataset import-cif``
screens), and powdex's diffraction code gives the observable peak list, as
for a training entry.  The true group's variance network and forest predict
the cell from the first 20 peaks (cubic: 10).

The table gives, per lattice system, the median relative volume error of the
network mean and the forest mean of the true group, of the best group (the
lowest network error among the system's groups: the indexer draws from all
of them), the share of cell parameters within the network's 2σ, how many
structures the models read fewer peaks of than 20 (cubic 10), and how many
could not be evaluated: fewer observable peaks than the models need (peak
lists stop at the training patterns' 2θ = 60°, where copper has two lines),
or a group with no shipped model.
"""

from __future__ import annotations

import argparse
import zipfile
from collections import defaultdict
from pathlib import Path

import gemmi
import numpy as np
from rich.console import Console
from rich.table import Table

from powdex.crystal import Cell, LatticeSystem
from powdex.models import SHIPPED, load_system, shipped_systems
from powdex.models.regression import enough_peaks, peaks_read, peaks_used
from powdex.training.diffraction import Structure
from powdex.training.entry import entry_from_structure
from powdex.training.grouping import group_of

DEFAULT_B = 3.0  # Å², where a CIF gives no displacement parameters


def cif_texts(paths: list[Path]):
    """(name, CIF text) of every CIF file, folder member or archive member."""
    for path in paths:
        if path.is_dir():
            yield from cif_texts(sorted(p for p in path.rglob("*") if p.suffix.lower() == ".cif"))
        elif path.suffix.lower() in (".whl", ".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in sorted(archive.namelist()):
                    if member.lower().endswith(".cif"):
                        yield f"{path.name}:{member}", archive.read(member).decode("utf-8", "replace")
        else:
            yield str(path), path.read_text(encoding="utf-8", errors="replace")


def structures(paths: list[Path]):
    """(name, Structure) of every block gemmi can turn into a structure; skipped blocks are counted by reason."""
    skipped: defaultdict[str, int] = defaultdict(int)
    found = []
    for name, text in cif_texts(paths):
        try:
            document = gemmi.cif.read_string(text)
        except (RuntimeError, ValueError):
            skipped["unreadable CIF"] += 1
            continue
        for block in document:
            try:
                small = gemmi.make_small_structure_from_block(block)
            except (RuntimeError, ValueError):
                skipped["not a small structure"] += 1
                continue
            sg = small.spacegroup
            if sg is None or not small.cell.is_compatible_with_spacegroup(sg, 1e-3):
                skipped["no space group that fits the cell"] += 1
                continue
            sites = small.get_all_unit_cell_sites()
            if not len(sites) or any(site.element.name == "X" for site in sites):
                skipped["no atoms or unknown atoms"] += 1
                continue
            u_iso = [s.u_iso for s in sites if s.u_iso > 0]
            found.append((f"{name}:{block.name}", Structure(
                sg, Cell.from_gemmi(small.cell), np.array([s.fract.tolist() for s in sites]),
                tuple(s.element.name for s in sites), float(np.mean(u_iso) * 8 * np.pi**2) if u_iso else DEFAULT_B,
                np.array([s.occ for s in sites]))))
    return found, skipped


def entries(paths: list[Path]):
    """(name, Entry) of every block gemmi can turn into a structure; skipped blocks are counted by reason."""
    found, skipped = structures(paths)
    made = []
    for name, structure in found:
        try:
            made.append((name, entry_from_structure(structure, "cif", name, "")))
        except (RuntimeError, ValueError) as error:
            skipped[f"{type(error).__name__}"] += 1
    return made, dict(skipped)


def evaluate(found, directory: Path = SHIPPED) -> dict[str, dict[str, list]]:
    results: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    models = {system: load_system(system, directory) for system in shipped_systems(directory)}
    for name, entry in found:
        system = LatticeSystem(entry.lattice_system)
        if system not in models or not enough_peaks(system, entry.observable_q2):
            results[system.value]["too few peaks"].append(name)
            continue
        q2 = peaks_read(system, entry.observable_q2)
        truth = np.asarray(entry.reindexed_cell, dtype=float)
        volume = Cell(*truth).volume
        group = group_of(system.value, entry.bravais_lattice, entry.reindexed_space_group_symbol)
        errors = {}
        for group_name, model in models[system].regression.items():
            network = model.network_prediction(q2)
            error = abs(Cell(*model.cells(network.mean)[0]).volume - volume) / volume
            errors[group_name] = error
            if group_name == group:
                forest = model.forest_prediction(q2)[:, 0].mean(axis=0, keepdims=True)
                results[system.value]["network"].append(error)
                results[system.value]["forest"].append(abs(Cell(*model.cells(forest)[0]).volume - volume) / volume)
                truth_scaled = model.scaler.scale_cells(truth[None])[:, list(model.columns)]
                z = np.abs(truth_scaled - network.mean) / np.sqrt(network.variance)
                results[system.value]["within 2σ"].extend((z[0] <= 2).tolist())
                results[system.value]["short list"].append(len(q2) < peaks_used(system))
                results[system.value]["names"].append(f"{name} ({group}: V {volume:.0f}, a {truth[0]:.2f})")
        if group not in errors:
            results[system.value]["group not shipped"].append(name)
            continue
        results[system.value]["best group"].append(min(errors.values()))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="CIF files, folders or wheel/zip archives")
    parser.add_argument("--list", action="store_true", help="also list every structure with its errors")
    parser.add_argument("--models", type=Path, default=SHIPPED, help="model directory (default: the shipped models)")
    args = parser.parse_args()
    found, skipped = entries(args.paths)
    results = evaluate(found, args.models)
    table = Table(title=f"regression models of {args.models.name} on {len(found)} real structures "
                        f"(skipped: {', '.join(f'{v} {k}' for k, v in skipped.items()) or 'none'})")
    for column in ("lattice system", "structures", "median |ΔV|/V network", "forest", "best group",
                   "parameters within 2σ", "read under 20 peaks (cubic 10)", "too few peaks", "group not shipped"):
        table.add_column(column, justify="right")
    for system in LatticeSystem:
        row = results.get(system.value)
        if not row:
            continue
        n = len(row["network"])
        median = lambda key: f"{np.median(row[key]):.1%}" if row[key] else "-"  # noqa: E731, B023  (used at once, in this iteration)
        within = f"{np.mean(row['within 2σ']):.0%}" if row["within 2σ"] else "-"
        table.add_row(system.value, str(n), median("network"), median("forest"), median("best group"), within,
                      str(sum(row["short list"])), str(len(row["too few peaks"])), str(len(row["group not shipped"])))
    Console(width=140).print(table)
    if args.list:
        for system, row in results.items():
            for name, error in zip(row["names"], row["network"]):
                print(f"{system:12s} {error:7.1%}  {name}")


if __name__ == "__main__":
    main()

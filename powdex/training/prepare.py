"""From a built dataset to training tables: group, split, scale, augment.

For each lattice system, ``prepare_dataset`` writes into ``<dataset>/prepared/``:

* ``<system>.parquet``: the entries (without patterns) with ``group``,
  ``split`` ("training" / "validation") and ``augmented_from`` (identifier of
  the parent entry, null for originals); augmented entries take their parent's
  group and split;
* ``<system>.scaling.json``: the ``Scaler`` fitted on the training entries;
* ``<system>.augmentation.json``: the fitted ρ parameters r0, r1, the
  first-peak distribution and the cell perturbation method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import gemmi
import numpy as np
import pyarrow as pa

from powdex.crystal import Cell, LatticeSystem, cells_from_free, free_parameter_columns, niggli_reduce
from powdex.models.scaling import Scaler
from powdex.training.augmentation import CellPerturber, PeakResampler, augmentation_counts
from powdex.training.build import read_lattice_system
from powdex.training.diffraction import PEAK_LIST_LENGTH, DiffractionLines, merge_coincident, reflections
from powdex.training.entry import Entry, entries_from_table, entries_to_table, write_entry_table
from powdex.training.grouping import group_of
from powdex.training.split import validation_mask

DEFAULT_TARGET_PER_SYMBOL = 200
_MAX_PERTURBATION_TRIES = 20
# Everything but the pattern, which training never reads.
_ENTRY_COLUMNS = [f.name for f in fields(Entry) if f.name != "pattern"]


@dataclass(frozen=True)
class PreparedSystem:
    system: str
    training: int
    validation: int
    augmented_training: int
    augmented_validation: int


def prepare_dataset(dataset: Path, seed: int = 0, target_per_symbol: int = DEFAULT_TARGET_PER_SYMBOL) -> list[PreparedSystem]:
    out = Path(dataset) / "prepared"
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for system in LatticeSystem:
        table = read_lattice_system(dataset, system.value, columns=_ENTRY_COLUMNS)
        if table is not None and table.num_rows:
            summary.append(prepare_lattice_system(table, system, out, seed, target_per_symbol))
    return summary


def prepare_lattice_system(
    table: pa.Table, system: LatticeSystem, out: Path, seed: int, target_per_symbol: int
) -> PreparedSystem:
    entries = entries_from_table(table)
    groups = [group_of(system.value, e.bravais_lattice, e.reindexed_space_group_symbol) for e in entries]
    validation = validation_mask(groups, seed)
    training = [e for e, v in zip(entries, validation) if not v]
    cells = np.array([e.reindexed_cell for e in entries])
    scaler = Scaler.fit(cells[~validation], [e.observable_q2 for e in training])
    scaler.save(out / f"{system.value}.scaling.json")

    resampler = PeakResampler.fit([e.allowed_q2 for e in training], [e.observable_q2 for e in training])
    method = "random" if system is LatticeSystem.CUBIC else "svd"
    free = [free_parameter_columns(system, c) for c in cells]
    scaled = np.array([scaler.scale_cells(c)[list(cols)] for c, cols in zip(cells, free)])
    perturber = CellPerturber.fit(scaled[~validation], method)
    (out / f"{system.value}.augmentation.json").write_text(
        json.dumps({"r0": resampler.r0, "r1": resampler.r1, "first_peak": resampler.first_peak.tolist(), "cell_method": method})
    )

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(list(LatticeSystem).index(system),)))
    counts = np.zeros(len(entries), dtype=int)
    for side in (False, True):  # rarity is counted within each side: augmentation happens after the split
        members = np.flatnonzero(validation == side)
        counts[members] = augmentation_counts([entries[i].reindexed_space_group_symbol for i in members], target_per_symbol)
    augmented, parents = [], []
    for i in np.flatnonzero(counts):
        for _ in range(counts[i]):
            child = _augmented(entries[i], system, free[i], scaled[i], scaler, perturber, resampler, rng)
            if child is not None:
                augmented.append(child)
                parents.append(i)

    rows = entries_to_table(entries + augmented)
    parent_of = list(range(len(entries))) + parents
    rows = rows.append_column("group", pa.array([groups[p] for p in parent_of]))
    rows = rows.append_column("split", pa.array(["validation" if validation[p] else "training" for p in parent_of]))
    rows = rows.append_column(
        "augmented_from", pa.array([None] * len(entries) + [entries[p].identifier for p in parents], pa.string())
    )
    write_entry_table(rows, out / f"{system.value}.parquet")
    parent_validation = validation[np.asarray(parents, dtype=int)]
    return PreparedSystem(
        system.value,
        int((~validation).sum()),
        int(validation.sum()),
        int((~parent_validation).sum()),
        int(parent_validation.sum()),
    )


def _augmented(entry: Entry, system, columns, scaled_free, scaler, perturber, resampler, rng) -> Entry | None:
    """A copy of ``entry`` with a perturbed cell, its non-absent peaks and a resampled observable list.

    Peak list 1 is recomputed from scratch for the perturbed cell (gemmi's non-absent reflections of the
    reindexed setting, coincident positions merged): a perturbation reorders reflections, so the parent's
    first 60 are not the child's. The observable list is resampled from all non-absent peaks up to 2θ = 60°,
    as the parent's was chosen from all of them. Intensities are unknown (NaN).
    Returns None if no valid cell came up.
    """
    for _ in range(_MAX_PERTURBATION_TRIES):
        values = perturber.perturb(scaled_free, rng)
        full = scaler.scale_cells(entry.reindexed_cell)
        full[list(columns)] = values
        candidate = scaler.unscale_cells(full)[list(columns)]
        try:
            cell = Cell.from_parameters(cells_from_free(system, columns, candidate)[0])
        except ValueError:
            continue
        lengths = cell.parameters[:3]
        if system in (LatticeSystem.ORTHORHOMBIC, LatticeSystem.MONOCLINIC, LatticeSystem.TRICLINIC) and not (
            lengths[0] <= lengths[1] <= lengths[2]
        ):
            continue
        break
    else:
        return None
    hkl = reflections(cell, gemmi.SpaceGroup(entry.reindexed_space_group_symbol))
    peaks = merge_coincident(DiffractionLines(cell.q2(hkl), hkl, np.ones(len(hkl))))
    chosen = resampler.resample(peaks.q2, rng)
    allowed = slice(0, PEAK_LIST_LENGTH)
    inverse = np.linalg.inv(entry.reindexing_matrix)
    conventional = cell.transformed(inverse)
    reduced = niggli_reduce(conventional, gemmi.SpaceGroup(entry.space_group_symbol).centring_type()).cell
    conventional_hkl = np.rint(peaks.hkl @ inverse.T).astype(np.int32)
    return Entry(
        **{
            **entry.__dict__,
            "reindexed_cell": cell.parameters,
            "conventional_cell": conventional.parameters,
            "reduced_cell": reduced.parameters,
            "volume": conventional.volume,
            "reduced_volume": reduced.volume,
            "allowed_q2": peaks.q2[allowed],
            "allowed_hkl": conventional_hkl[allowed],
            "allowed_hkl_reindexed": peaks.hkl[allowed],
            "allowed_intensity": np.full(len(peaks.q2[allowed]), np.nan),
            "observable_q2": peaks.q2[chosen],
            "observable_hkl": conventional_hkl[chosen],
            "observable_hkl_reindexed": peaks.hkl[chosen],
            "observable_intensity": np.full(len(chosen), np.nan),
        }
    )

"""Training arrays of one lattice system from a prepared dataset (``powdex dataset prepare``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from powdex.crystal import LatticeSystem
from powdex.models.regression import min_peaks, peaks_used
from powdex.models.scaling import Scaler

_COLUMNS = ["identifier", "reindexed_cell", "observable_q2", "observable_hkl_reindexed", "group", "split", "augmented_from"]


@dataclass(frozen=True)
class SystemData:
    """Entries with at least ``min_peaks`` observable peaks, their first ``n_peaks`` (at most) padded with NaN
    (q²) and (000) (indices)."""

    system: LatticeSystem
    scaler: Scaler
    cells: np.ndarray  # (n, 6) reindexed, Å and degrees
    q2: np.ndarray  # (n, n_peaks), NaN past an entry's last peak
    hkl: np.ndarray  # (n, n_peaks, 3) reindexed
    group: np.ndarray  # (n,) str
    training: np.ndarray  # (n,) bool; the rest is validation
    augmented: np.ndarray  # (n,) bool
    origin: np.ndarray  # (n,) str: the identifier of the crystal an entry is, or was augmented from
    dropped: int  # entries with too few peaks

    @property
    def n_peaks(self) -> int:
        return self.q2.shape[1]

    @property
    def counts(self) -> np.ndarray:
        """Peaks of each entry (n,)."""
        return np.isfinite(self.q2).sum(axis=1)

    def full(self) -> SystemData:
        """The entries with all ``n_peaks`` peaks (the assignment network reads that many)."""
        return self.subset(self.counts == self.n_peaks)

    def subset(self, mask: np.ndarray) -> SystemData:
        return SystemData(
            self.system, self.scaler, self.cells[mask], self.q2[mask], self.hkl[mask], self.group[mask],
            self.training[mask], self.augmented[mask], self.origin[mask], self.dropped,
        )


def prepared_systems(prepared: Path) -> list[LatticeSystem]:
    return [s for s in LatticeSystem if (Path(prepared) / f"{s.value}.parquet").exists()]


def load_system_data(prepared: Path, system: LatticeSystem) -> SystemData:
    prepared = Path(prepared)
    table = pq.read_table(prepared / f"{system.value}.parquet", columns=_COLUMNS)
    n_peaks = peaks_used(system)
    q2_lists = ragged_to_numpy(table.column("observable_q2"))
    hkl_lists = ragged_to_numpy(table.column("observable_hkl_reindexed"))
    parents = table.column("augmented_from").to_pylist()
    keep = np.array([len(q) >= min_peaks(system) for q in q2_lists], dtype=bool)
    rows = np.flatnonzero(keep)
    cells = table.column("reindexed_cell").combine_chunks().flatten().to_numpy().reshape(-1, 6)
    q2 = np.full((len(rows), n_peaks), np.nan)
    hkl = np.zeros((len(rows), n_peaks, 3), dtype=np.int32)
    for k, i in enumerate(rows):
        given = min(len(q2_lists[i]), n_peaks)
        q2[k, :given] = q2_lists[i][:given]
        hkl[k, :given] = np.asarray(hkl_lists[i][:given]).reshape(-1, 3)
    return SystemData(
        system=system,
        scaler=Scaler.load(prepared / f"{system.value}.scaling.json"),
        cells=cells[rows],
        q2=q2,
        hkl=hkl,
        group=np.array(table.column("group").to_pylist(), dtype=object)[rows],
        training=np.array(table.column("split").to_pylist())[rows] == "training",
        augmented=np.array([a is not None for a in parents])[rows],
        origin=np.array([p or i for p, i in zip(parents, table.column("identifier").to_pylist())], dtype=object)[rows],
        dropped=int((~keep).sum()),
    )


def ragged_to_numpy(column: pa.Array) -> list[np.ndarray]:
    """Rows of a list column (list<double> or list<fixed_size_list<int16, 3>>) as numpy arrays."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = column.offsets.to_numpy()
    values = column.values
    if pa.types.is_fixed_size_list(values.type):
        flat = values.flatten().to_numpy(zero_copy_only=False).reshape(-1, 3).astype(np.int32)
    else:
        flat = values.to_numpy(zero_copy_only=False)
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(column))]

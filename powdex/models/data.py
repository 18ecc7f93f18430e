"""Training arrays of one lattice system from a prepared dataset (``powdex dataset prepare``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from powdex.crystal import LatticeSystem
from powdex.models.regression import peaks_used
from powdex.training.entry import ragged_to_numpy
from powdex.training.scaling import Scaler

_COLUMNS = ["identifier", "reindexed_cell", "observable_q2", "observable_hkl_reindexed", "group", "split", "augmented_from"]


@dataclass(frozen=True)
class SystemData:
    """Entries with at least ``n_peaks`` observable peaks; peaks truncated to the first ``n_peaks``."""

    system: LatticeSystem
    scaler: Scaler
    cells: np.ndarray  # (n, 6) reindexed, Å and degrees
    q2: np.ndarray  # (n, n_peaks)
    hkl: np.ndarray  # (n, n_peaks, 3) reindexed
    group: np.ndarray  # (n,) str
    training: np.ndarray  # (n,) bool; the rest is validation
    augmented: np.ndarray  # (n,) bool
    origin: np.ndarray  # (n,) str: the identifier of the crystal an entry is, or was augmented from
    dropped: int  # entries with too few peaks

    @property
    def n_peaks(self) -> int:
        return self.q2.shape[1]

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
    keep = np.array([len(q) >= n_peaks for q in q2_lists], dtype=bool)
    rows = np.flatnonzero(keep)
    cells = table.column("reindexed_cell").combine_chunks().flatten().to_numpy().reshape(-1, 6)
    return SystemData(
        system=system,
        scaler=Scaler.load(prepared / f"{system.value}.scaling.json"),
        cells=cells[rows],
        q2=np.array([q2_lists[i][:n_peaks] for i in rows]).reshape(-1, n_peaks),
        hkl=np.array([hkl_lists[i][:n_peaks] for i in rows]).reshape(-1, n_peaks, 3),
        group=np.array(table.column("group").to_pylist(), dtype=object)[rows],
        training=np.array(table.column("split").to_pylist())[rows] == "training",
        augmented=np.array([a is not None for a in parents])[rows],
        origin=np.array([p or i for p, i in zip(parents, table.column("identifier").to_pylist())], dtype=object)[rows],
        dropped=int((~keep).sum()),
    )

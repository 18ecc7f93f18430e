"""Counts per lattice system and group, and histograms of cell parameters and peak counts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.training.build import read_lattice_system
from powdex.training.grouping import group_of

_COUNT_COLUMNS = ["bravais_lattice", "reindexed_space_group_symbol"]
_HISTOGRAM_COLUMNS = ["reindexed_cell", "allowed_q2", "observable_q2"]


def dataset_counts(dataset: Path) -> dict[str, Counter]:
    """Entries per group, by lattice system."""
    counts = {}
    for system in (s.value for s in LatticeSystem):
        table = read_lattice_system(dataset, system, columns=_COUNT_COLUMNS)
        if table is None:
            continue
        pairs = zip(table["bravais_lattice"].to_pylist(), table["reindexed_space_group_symbol"].to_pylist())
        counts[system] = Counter(group_of(system, b, s) for b, s in pairs)
    return counts


def draw_histograms(dataset: Path, out: Path) -> list[Path]:
    """One PNG per lattice system with a, b, c, α, β, γ of the reindexed cells and both peak counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for system in (s.value for s in LatticeSystem):
        table = read_lattice_system(dataset, system, columns=_HISTOGRAM_COLUMNS)
        if table is None:
            continue
        cells = np.asarray(table["reindexed_cell"].combine_chunks().flatten()).reshape(-1, 6)
        fig, axes = plt.subplots(2, 4, figsize=(16, 7))
        for i, name in enumerate(("a (Å)", "b (Å)", "c (Å)", "α (°)", "β (°)", "γ (°)")):
            axes.flat[i].hist(cells[:, i], bins=60)
            axes.flat[i].set_xlabel(name)
        for ax, column, label in ((axes.flat[6], "allowed_q2", "non-absent peaks"), (axes.flat[7], "observable_q2", "observable peaks")):
            ax.hist(table[column].combine_chunks().value_lengths().to_numpy(), bins=np.arange(0, 62))
            ax.set_xlabel(f"{label} per entry (max 60)")
        fig.suptitle(f"{system}: {table.num_rows} entries (reindexed cells)")
        fig.tight_layout()
        path = out / f"{system}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written

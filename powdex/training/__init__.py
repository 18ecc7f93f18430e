"""Training data for the learned models of the data-driven indexer: crystals (synthetic or from CIF files),
their powder patterns and peak lists, grouped, split, scaled and augmented.

Synthetic crystals and imported CIFs become ``Entry`` records (pattern, two peak
lists, conventional / reindexed / Niggli cells), stored as Parquet per lattice
system, then grouped, split, scaled and augmented for training.
"""

from powdex.training.build import build_synthetic, read_lattice_system, synthetic_entry
from powdex.training.entry import Entry, entries_from_table, entries_to_table, entry_from_structure

__all__ = [
    "Entry",
    "build_synthetic",
    "entries_from_table",
    "entries_to_table",
    "entry_from_structure",
    "read_lattice_system",
    "synthetic_entry",
]

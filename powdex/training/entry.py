"""One training entry (a crystal, its pattern and its two peak lists) and its columnar (Arrow/Parquet) form.

Storage: the pattern is float16 (three significant digits; it is kept
for inspection only, it is not used after the peak lists are made), peak
heights float32, q² and cells float64 (they are the training targets and must
reproduce cell.q2(hkl) exactly). Float columns are written with Parquet's
byte-stream split before zstd, which compresses floating-point data about a
third better than zstd alone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from powdex.crystal import niggli_reduce
from powdex.models.data import ragged_to_numpy
from powdex.training.diffraction import DiffractionLines, Structure, diffraction
from powdex.training.reindex import reindex
from powdex.training.spacegroups import bravais_lattice_of, lattice_system_of


@dataclass
class Entry:
    """Everything the training data keeps per crystal. Cells are (a, b, c, α, β, γ) in Å and degrees.

    Peak lists hold q² = 1/d² (Å⁻²), the normalised peak height and Miller
    indices both in the conventional and in the reindexed setting.
    """

    source: str  # "synthetic" or "cif"
    identifier: str  # entry index for synthetic crystals, file name for CIFs
    formula: str
    r_factor: float | None  # refinement R-factor, None when unknown (synthetic crystals)
    space_group_number: int
    space_group_symbol: str  # conventional setting, extended Hermann–Mauguin
    reindexed_space_group_symbol: str
    bravais_lattice: str
    lattice_system: str
    conventional_cell: np.ndarray
    reindexed_cell: np.ndarray
    reindexing_matrix: np.ndarray  # (3, 3): h_reindexed = M h_conventional
    reduced_cell: np.ndarray  # Niggli-reduced primitive cell
    volume: float  # conventional cell
    reduced_volume: float
    pattern: np.ndarray | None  # float16 on diffraction.TWO_THETA; None when read without the pattern column
    allowed_q2: np.ndarray
    allowed_intensity: np.ndarray
    allowed_hkl: np.ndarray
    allowed_hkl_reindexed: np.ndarray
    observable_q2: np.ndarray
    observable_intensity: np.ndarray
    observable_hkl: np.ndarray
    observable_hkl_reindexed: np.ndarray


def entry_from_structure(
    structure: Structure, source: str, identifier: str, formula: str, r_factor: float | None = None
) -> Entry:
    """Compute pattern, peak lists and the three cell representations of a structure."""
    sg = structure.space_group
    system = lattice_system_of(sg)
    bravais = bravais_lattice_of(sg)
    setting = reindex(structure.cell, sg, system)
    # The setting's own centring: an I 1 2/a 1 or A m m 2 cell reduced as C-centred would be another lattice.
    reduced = niggli_reduce(structure.cell, sg.centring_type()).cell
    result = diffraction(structure)

    def peaks(prefix: str, p: DiffractionLines) -> dict:
        return {
            f"{prefix}_q2": p.q2,
            f"{prefix}_intensity": p.intensity,
            f"{prefix}_hkl": p.hkl,
            f"{prefix}_hkl_reindexed": setting.miller_indices(p.hkl),
        }

    return Entry(
        source=source,
        identifier=identifier,
        formula=formula,
        r_factor=r_factor,
        space_group_number=sg.number,
        space_group_symbol=sg.xhm(),
        reindexed_space_group_symbol=setting.space_group.xhm(),
        bravais_lattice=bravais.value,
        lattice_system=system.value,
        conventional_cell=structure.cell.parameters,
        reindexed_cell=setting.cell.parameters,
        reindexing_matrix=setting.matrix,
        reduced_cell=reduced.parameters,
        volume=structure.cell.volume,
        reduced_volume=reduced.volume,
        pattern=result.pattern,
        **peaks("allowed", result.allowed),
        **peaks("observable", result.observable),
    )


_CELL_COLUMNS = ("conventional_cell", "reindexed_cell", "reduced_cell")
_PEAK_PREFIXES = ("allowed", "observable")


def entries_to_table(entries: list[Entry]) -> pa.Table:
    """Columnar form: scalars as columns, cells as fixed-size lists, peak lists as variable-length lists.

    The pattern column is left out when any entry has no pattern.
    """
    columns: dict[str, pa.Array] = {}
    for f in fields(Entry):
        values = [getattr(e, f.name) for e in entries]
        if f.name in _CELL_COLUMNS:
            columns[f.name] = _fixed(np.array(values, dtype=np.float64).reshape(-1, 6), 6)
        elif f.name == "reindexing_matrix":
            columns[f.name] = _fixed(np.array(values, dtype=np.float64).reshape(-1, 9), 9)
        elif f.name == "pattern":
            if entries and all(v is not None for v in values):
                columns[f.name] = _fixed(np.array(values, dtype=np.float16).reshape(len(entries), -1), len(values[0]))
        elif f.name.endswith("_q2"):
            columns[f.name] = _ragged([np.asarray(v, dtype=np.float64) for v in values])
        elif f.name.endswith("_intensity"):
            columns[f.name] = _ragged([np.asarray(v, dtype=np.float32) for v in values])
        elif "_hkl" in f.name:
            columns[f.name] = _ragged([np.asarray(v, dtype=np.int16).reshape(-1, 3) for v in values], width=3)
        else:
            columns[f.name] = pa.array(values, type=pa.float64() if f.name == "r_factor" else None)
    return pa.table(columns)


def entries_from_table(table: pa.Table) -> list[Entry]:
    data = {name: table.column(name) for name in table.column_names if name in {f.name for f in fields(Entry)}}
    n = table.num_rows
    out: dict[str, list] = {}
    for name, column in data.items():
        column = column.combine_chunks()
        if name in _CELL_COLUMNS or name in ("reindexing_matrix", "pattern"):
            flat = column.flatten().to_numpy(zero_copy_only=False).reshape(n, -1)
            out[name] = [row.reshape(3, 3) if name == "reindexing_matrix" else row for row in flat]
        elif name.endswith(("_q2", "_intensity")) or "_hkl" in name:
            out[name] = list(ragged_to_numpy(column))
        else:
            out[name] = column.to_pylist()
    out.setdefault("pattern", [None] * n)
    return [Entry(**{name: out[name][i] for name in out}) for i in range(n)]


def write_entry_table(table: pa.Table, path: Path) -> None:
    """Write an entry table (or a prepared one) to Parquet with the compact options above."""
    floats = [f.name for f in table.schema if _is_float(f.type)]
    pq.write_table(
        table,
        path,
        compression="zstd",
        use_dictionary=[name for name in table.column_names if name not in floats],
        use_byte_stream_split=floats,
    )


def _is_float(t: pa.DataType) -> bool:
    while pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
        t = t.value_type
    return pa.types.is_floating(t)


def _fixed(values: np.ndarray, width: int) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)


def _ragged(rows: list[np.ndarray], width: int | None = None) -> pa.ListArray:
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int32)
    flat = np.concatenate(rows) if rows else np.zeros((0,) if width is None else (0, width))
    values = pa.array(flat.reshape(-1)) if width is None else _fixed(flat.astype(np.int16), width)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


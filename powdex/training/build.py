"""Parallel, resumable generation of synthetic datasets, stored as Parquet per lattice system.

Layout of a dataset directory::

    build.json                      seed and chunk size (a resumed build must match)
    <lattice system>/chunk-000042.parquet
    done/chunk-000042               written last: entries up to its "stop" are complete

Entry i is made from its own random stream (``entry_rng(seed, i)``), so a
dataset depends only on the seed and the entry count, never on the number of
processes or on interruptions. Work is cut into chunks of consecutive entry
indices; each worker writes its chunk's files (temporary name, then rename) and
the ``done`` marker last, so a killed build loses at most unfinished chunks and
``resume`` skips every finished one.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from powdex.training.entry import Entry, entries_to_table, entry_from_structure
from powdex.training.synthetic import entry_rng, formula, random_space_group, random_structure

DEFAULT_CHUNK_SIZE = 1000
LATTICE_SYSTEMS = ("cubic", "tetragonal", "hexagonal", "rhombohedral", "orthorhombic", "monoclinic", "triclinic")
_MANIFEST = "build.json"


@dataclass(frozen=True)
class ChunkResult:
    chunk: int
    counts: dict[str, int]  # entries written per lattice system


def synthetic_entry(seed: int, index: int) -> Entry:
    """Entry ``index`` of the synthetic dataset with ``seed``."""
    rng = entry_rng(seed, index)
    structure = random_structure(rng, random_space_group(rng))
    return entry_from_structure(structure, "synthetic", str(index), formula(structure.elements))


def build_synthetic(
    out: Path,
    entries: int,
    seed: int,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_chunk: Callable[[ChunkResult, int], None] | None = None,
) -> Counter:
    """Generate ``entries`` synthetic entries into ``out``; finished chunks of an earlier run are kept.

    ``on_chunk(result, entries_in_chunk)`` is called as chunks complete (progress reporting).
    Returns the number of entries written in this call per lattice system.
    """
    out = Path(out)
    chunk_size = _check_manifest(out, seed, chunk_size)
    jobs = [
        (out, seed, c, c * chunk_size, min(entries, (c + 1) * chunk_size))
        for c in range(-(-entries // chunk_size))
        if _finished_until(out, c) < min(entries, (c + 1) * chunk_size)
    ]
    totals: Counter = Counter()
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        results: Iterator = (_write_chunk(*job) for job in jobs)
        sizes = iter([job[4] - job[3] for job in jobs])
    else:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded)
        futures = {pool.submit(_write_chunk, *job): job[4] - job[3] for job in jobs}
        results = (f.result() for f in as_completed(futures))
        sizes = None
    try:
        for result in results:
            totals.update(result.counts)
            if on_chunk is not None:
                on_chunk(result, next(sizes) if sizes else sum(result.counts.values()))
    finally:
        if workers != 1:
            pool.shutdown(cancel_futures=True)
    return totals


def _check_manifest(out: Path, seed: int, chunk_size: int) -> int:
    manifest = out / _MANIFEST
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved["seed"] != seed:
            raise ValueError(f"{out} holds a build with seed {saved['seed']}, not {seed}; use another directory")
        return int(saved["chunk_size"])
    out.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"seed": seed, "chunk_size": chunk_size}))
    return chunk_size


def _finished_until(out: Path, chunk: int) -> int:
    """Entry index up to which a chunk is written (a smaller earlier build may have left it partial)."""
    marker = out / "done" / f"chunk-{chunk:06d}"
    return json.loads(marker.read_text())["stop"] if marker.exists() else -1


def _single_threaded() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _write_chunk(out: Path, seed: int, chunk: int, start: int, stop: int) -> ChunkResult:
    table = entries_to_table([synthetic_entry(seed, i) for i in range(start, stop)])
    table = table.append_column("entry_index", pa.array(range(start, stop), pa.int64()))
    counts = write_by_lattice_system(table, out, f"chunk-{chunk:06d}")
    marker = out / "done" / f"chunk-{chunk:06d}"
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(json.dumps({"stop": stop, "counts": counts}))
    return ChunkResult(chunk, counts)


def write_by_lattice_system(table: pa.Table, out: Path, name: str) -> dict[str, int]:
    """Split a table of entries by lattice system into ``out/<system>/<name>.parquet`` (atomic per file)."""
    counts = {}
    systems = table.column("lattice_system").to_pylist()
    for system in LATTICE_SYSTEMS:
        rows = [i for i, s in enumerate(systems) if s == system]
        if not rows:
            continue
        folder = Path(out) / system
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table.take(rows), tmp, compression="zstd")
        tmp.rename(folder / f"{name}.parquet")
        counts[system] = len(rows)
    return counts


def read_lattice_system(out: Path, system: str) -> pa.Table | None:
    """All entries of one lattice system in a dataset directory, or None if it has none."""
    folder = Path(out) / system
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

"""Parallel, resumable generation of synthetic datasets, stored as Parquet per lattice system.

Layout of a dataset directory::

    build.json                      generator version, seed, chunk size and lattice-system shares
                                    (a resumed build must match all four)
    <lattice system>/chunk-000042.parquet
    done/chunk-000042               written last: entries up to its "stop" are complete

Entry i is made from its own random stream (``entry_rng(seed, i)``) and its
lattice system from i alone (``lattice_system_of_entry``), so a dataset depends
only on the random seed, the shares and the entry count, never on the number of
processes or on interruptions. Work is cut into chunks of consecutive entry
indices; each worker writes its chunk's files (temporary name, then rename) and
the ``done`` marker last, so a killed build loses at most unfinished chunks and
``resume`` skips every finished one.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from powdex.crystal import LatticeSystem
from powdex.optim.executors import available_cores, limit_to_one_thread
from powdex.training.entry import Entry, entries_to_table, entry_from_structure, write_entry_table
from powdex.training.errors import DatasetError
from powdex.training.spacegroups import system_shares
from powdex.training.synthetic import GENERATOR_VERSION, entry_rng, formula, lattice_system_of_entry, random_space_group, random_structure

DEFAULT_CHUNK_SIZE = 1000
_MANIFEST = "build.json"


def synthetic_entry(seed: int, index: int, shares: dict[str, float]) -> Entry:
    """Entry ``index`` of the synthetic dataset with ``seed`` and lattice-system ``shares``."""
    rng = entry_rng(seed, index)
    space_group, component = random_space_group(rng, lattice_system_of_entry(seed, index, shares))
    structure = random_structure(rng, space_group, component)
    return entry_from_structure(structure, "synthetic", str(index), formula(structure.elements))


def entries_of_system(seed: int, system: str, min_lines: int = 0) -> Iterator[Entry]:
    """The entries of one lattice system with at least ``min_lines`` observable lines, in order, without end:
    the synthetic dataset with ``seed`` made of that system alone (tests and benchmarks draw cases from it)."""
    shares = {s.value: float(s.value == system) for s in LatticeSystem}
    for index in itertools.count():
        entry = synthetic_entry(seed, index, shares)
        if len(entry.observable_q2) >= min_lines:
            yield entry


def build_synthetic(
    out: Path,
    entries: int,
    seed: int,
    shares: dict[str, float] | None = None,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Callable[[int, bool], None] | None = None,
) -> Counter:
    """Generate ``entries`` synthetic entries into ``out``; finished chunks of an earlier run are kept.

    ``shares`` is the fraction of entries per lattice system (``spacegroups.system_shares``; None: natural).
    ``on_progress(entries, resumed)`` is called once with the entries kept from an earlier run
    (``resumed`` True) and then as chunks complete. Returns the entries written in this call per
    lattice system.
    """
    out = Path(out)
    shares = _rounded(system_shares("natural") if shares is None else shares)
    chunk_size = _check_manifest(out, seed, chunk_size, shares)
    chunks = [(c * chunk_size, min(entries, (c + 1) * chunk_size)) for c in range(-(-entries // chunk_size))]
    jobs = [(out, seed, shares, c, start, stop) for c, (start, stop) in enumerate(chunks) if _finished_until(out, c) < stop]
    if on_progress is not None:
        on_progress(entries - sum(job[5] - job[4] for job in jobs), True)
    totals: Counter = Counter()
    workers = workers or available_cores()
    if workers == 1:
        results: Iterator = (_write_chunk(*job) for job in jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=limit_to_one_thread)
        results = (f.result() for f in as_completed([pool.submit(_write_chunk, *job) for job in jobs]))
    try:
        for counts in results:
            totals.update(counts)
            if on_progress is not None:
                on_progress(sum(counts.values()), False)
    finally:
        if workers != 1:
            pool.shutdown(cancel_futures=True)
    return totals


def read_manifest(out: Path) -> dict:
    return json.loads((Path(out) / _MANIFEST).read_text())


def _check_manifest(out: Path, seed: int, chunk_size: int, shares: dict[str, float]) -> int:
    manifest = out / _MANIFEST
    wanted = {"generator_version": GENERATOR_VERSION, "seed": seed, "system_shares": shares}
    if manifest.exists():
        saved = read_manifest(out)
        saved.setdefault("generator_version", 1)  # builds before the version was recorded
        for key, value in wanted.items():
            if saved.get(key) != value:
                raise DatasetError(f"{out} holds a build with {key} {_shown(saved.get(key))}, not {_shown(value)}; use another directory")
        return int(saved["chunk_size"])
    out.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({**wanted, "chunk_size": chunk_size}, indent=2))
    return chunk_size


def _shown(value) -> str:
    return ",".join(f"{k}={v:.4g}" for k, v in value.items()) if isinstance(value, dict) else str(value)


def _rounded(shares: dict[str, float]) -> dict[str, float]:
    # Twelve digits survive the JSON round trip and tell different share specifications apart.
    return {s.value: round(float(shares[s.value]), 12) for s in LatticeSystem}


def _finished_until(out: Path, chunk: int) -> int:
    """Entry index up to which a chunk is written (a smaller earlier build may have left it partial)."""
    marker = out / "done" / f"chunk-{chunk:06d}"
    return json.loads(marker.read_text())["stop"] if marker.exists() else -1


def _write_chunk(out: Path, seed: int, shares: dict[str, float], chunk: int, start: int, stop: int) -> dict[str, int]:
    table = entries_to_table([synthetic_entry(seed, i, shares) for i in range(start, stop)])
    table = table.append_column("entry_index", pa.array(range(start, stop), pa.int64()))
    counts = write_by_lattice_system(table, out, f"chunk-{chunk:06d}")
    marker = out / "done" / f"chunk-{chunk:06d}"
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(json.dumps({"stop": stop, "counts": counts}))
    return counts


def write_by_lattice_system(table: pa.Table, out: Path, name: str) -> dict[str, int]:
    """Split a table of entries by lattice system into ``out/<system>/<name>.parquet`` (atomic per file)."""
    counts = {}
    systems = table.column("lattice_system").to_pylist()
    for system in (s.value for s in LatticeSystem):
        rows = [i for i, s in enumerate(systems) if s == system]
        if not rows:
            continue
        folder = Path(out) / system
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.parquet.tmp"
        write_entry_table(table.take(rows), tmp)
        tmp.rename(folder / f"{name}.parquet")
        counts[system] = len(rows)
    return counts


def read_lattice_system(out: Path, system: str, columns: list[str] | None = None) -> pa.Table | None:
    """Entries of one lattice system in a dataset directory (only ``columns`` if given), or None if it has none.

    Files that lack a requested column (CIF imports have no ``entry_index``) give nulls there.
    """
    folder = Path(out) / system
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if not files:
        return None
    tables = []
    for f in files:
        present = pq.read_schema(f).names
        tables.append(pq.read_table(f, columns=None if columns is None else [c for c in columns if c in present]))
    return pa.concat_tables(tables, promote_options="default")

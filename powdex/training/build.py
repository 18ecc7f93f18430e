"""Parallel, resumable generation of synthetic datasets, stored as Parquet per lattice system.

Layout of a dataset directory (a ``powdex.optim.Journal``)::

    build.json                      journal manifest: generator version, seed and lattice-system shares
                                    (a resumed build must match all three), the chunk size it reuses
    <lattice system>/chunk-000042.parquet
    done/chunk-000042-to-43000.json written last: entries of chunk 42 up to 43000 are complete

Entry i is made from its own random stream (``entry_rng(seed, i)``) and its
lattice system from i alone (``lattice_system_of_entry``), so a dataset depends
only on the random seed, the shares and the entry count, never on the number of
processes or on interruptions. Work is cut into chunks of consecutive entry
indices, run by ``powdex.optim.parallel_map``: each worker writes its chunk's
files (temporary name, then rename) and the driver records the chunk in the
journal, so a killed build loses at most unfinished chunks (its workers die
with it) and a rerun skips every finished one.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from powdex.crystal import LatticeSystem
from powdex.files import write_atomically
from powdex.optim.executors import InProcess, LocalProcesses
from powdex.optim.journal import SCHEMA_VERSION, Journal, fingerprint, significant
from powdex.optim.parallel import parallel_map
from powdex.training.entry import Entry, entries_to_table, entry_from_structure, write_entry_table
from powdex.training.spacegroups import system_shares
from powdex.training.synthetic import (
    GENERATOR_VERSION,
    entry_rng,
    formula,
    lattice_system_of_entry,
    random_space_group,
    random_structure,
)

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
    _migrate_unjournaled_build(out)
    journal = Journal(out, {"generator_version": GENERATOR_VERSION, "seed": seed, "system_shares": shares},
                      notes={"chunk_size": chunk_size}, manifest=_MANIFEST, records="done")
    chunk_size = int(journal.notes["chunk_size"])
    chunks = [(out, seed, shares, c, c * chunk_size, min(entries, (c + 1) * chunk_size))
              for c in range(-(-entries // chunk_size))]
    # A chunk is finished up to the largest end recorded for it (an earlier, smaller build may have left it short).
    finished_until: dict[int, int] = {}
    for record in journal.finished().values():
        finished_until[record["chunk"]] = max(record["stop"], finished_until.get(record["chunk"], -1))
    todo = [job for job in chunks if finished_until.get(job[3], -1) < job[5]]
    if on_progress is not None:
        on_progress(entries - sum(job[5] - job[4] for job in todo), True)
    totals: Counter = Counter()
    executor = InProcess() if workers == 1 else LocalProcesses(workers)
    for _, record in parallel_map(_write_chunk, todo, executor=executor, journal=journal, key=_chunk_key):
        totals.update(record["counts"])
        if on_progress is not None:
            on_progress(sum(record["counts"].values()), False)
    return totals


def _chunk_key(job: tuple) -> str:
    chunk, stop = job[3], job[5]
    return f"chunk-{chunk:06d}-to-{stop}"


def _migrate_unjournaled_build(out: Path) -> None:
    """Builds before the journal kept the settings at the top of build.json and a marker
    done/chunk-000042 holding {"stop", "counts"}: rewritten as the journal's, so they resume."""
    manifest = out / _MANIFEST
    if not manifest.exists():
        return
    saved = json.loads(manifest.read_text())
    if "schema" in saved:
        return
    settings = {"generator_version": saved.get("generator_version", 1), "seed": saved["seed"],
                "system_shares": saved["system_shares"]}
    for marker in sorted((out / "done").glob("chunk-*")):
        if marker.suffix != ".json":
            chunk = int(marker.name.removeprefix("chunk-"))
            record = {"chunk": chunk, **json.loads(marker.read_text())}
            write_atomically(out / "done" / f"{_chunk_key((None, None, None, chunk, None, record['stop']))}.json",
                             json.dumps(record))
            marker.unlink()
    write_atomically(manifest, json.dumps({"schema": SCHEMA_VERSION, "fingerprint": fingerprint(settings),
                                           "settings": significant(settings), "notes": {"chunk_size": saved["chunk_size"]}},
                                          indent=1))


def _rounded(shares: dict[str, float]) -> dict[str, float]:
    # Twelve digits survive the JSON round trip and tell different share specifications apart.
    return {s.value: round(float(shares[s.value]), 12) for s in LatticeSystem}


def _write_chunk(job: tuple[Path, int, dict[str, float], int, int, int]) -> dict:
    """Worker side: the chunk's entries, written per lattice system; the record goes to the journal."""
    out, seed, shares, chunk, start, stop = job
    table = entries_to_table([synthetic_entry(seed, i, shares) for i in range(start, stop)])
    table = table.append_column("entry_index", pa.array(range(start, stop), pa.int64()))
    return {"chunk": chunk, "stop": stop, "counts": write_by_lattice_system(table, out, f"chunk-{chunk:06d}")}


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

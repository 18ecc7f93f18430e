"""The series runner (see the package docstring)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from powdex.errors import PowdexError
from powdex.files import write_atomically
from powdex.indexing.config import IndexingConfig, settings_fingerprint
from powdex.indexing.result import IndexingResult
from powdex.optim.journal import Journal

if TYPE_CHECKING:
    from powdex.optim.executors import Executor

logger = logging.getLogger(__name__)

PLOT_INTERVAL_S = 5.0
# probability: the calibrated probability that the best cell is right (powdex.indexing.confidence), the
# column that tells which patterns of a series need a look.
SUMMARY_COLUMNS = ("pattern", "bravais", "a", "b", "c", "alpha", "beta", "gamma", "volume", "M", "F", "indexed",
                   "score", "probability", "space_groups", "error")

# Called as each pattern ends, with its path, its document (a result, or {"error": message}), the patterns
# finished so far (those found done included) and the total.
SeriesProgress = Callable[[Path, dict, int, int], None]


class Interrupts:
    """What ``index_series`` asks of an interrupt handler (``powdex.cli.interrupts.InterruptLatch`` is one):
    ``check()`` raises KeyboardInterrupt if a stop was asked for; ``raising()`` is a block a stop ends at once.
    This default leaves KeyboardInterrupt to Python."""

    def check(self) -> None:
        return None

    def raising(self):
        return nullcontext()


@dataclass
class SeriesResult:
    """Every pattern's document, in input order: a result's JSON, or {"error": message}; None where another run
    holds the pattern and had not finished it."""

    out: Path
    files: list[Path]
    documents: dict[Path, dict | None] = field(default_factory=dict)
    skipped: int = 0  # patterns already done with these settings when the run started
    held_elsewhere: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[Path]:
        return [p for p in self.files if (self.documents.get(p) or {}).get("error")]

    @property
    def indexed(self) -> list[Path]:
        return [p for p in self.files if "error" not in (self.documents.get(p) or {"error": "not done"})]

    def result(self, path: Path) -> IndexingResult | None:
        document = self.documents.get(Path(path))
        return IndexingResult.from_dict(document) if document and "error" not in document else None


class SeriesError(PowdexError):
    """Sources or an output folder that a series cannot use."""


# What a directory given as a source is searched for, besides the suffixes of the pattern formats.
PEAK_FILE_SUFFIXES = (".txt", ".csv", ".dat", ".xy", ".npy", ".pkslst")


def input_suffixes() -> tuple[str, ...]:
    from powdex.patterns.formats import pattern_suffixes

    return tuple(sorted(set(PEAK_FILE_SUFFIXES) | pattern_suffixes()))


def peak_files(sources: Sequence[str | os.PathLike]) -> list[Path]:
    """The peak lists and patterns of ``sources`` (files, and directories of files with ``input_suffixes()``),
    once each; SeriesError where a directory has none or two files would write the same result."""
    files = []
    suffixes = input_suffixes()
    for path in map(Path, sources):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise SeriesError(f"{path}: no peak lists or patterns ({', '.join(suffixes)}) in this directory")
            files += found
        else:
            files.append(path)  # a missing file is reported when it is read
    names: dict[str, Path] = {}
    for f in files:
        if f.stem in names and names[f.stem] != f:
            raise SeriesError(f"{names[f.stem]} and {f}: two peak lists named {f.stem!r} would write the same result")
        names[f.stem] = f
    return list(dict.fromkeys(files))


def series_fingerprint(config: IndexingConfig, reading: dict) -> str:
    return settings_fingerprint(config, extra={"reading": reading})


def index_series(
    sources: Sequence[str | os.PathLike], out: str | os.PathLike, *, config: IndexingConfig | None = None,
    executor: Executor | None = None, workers: int = 1, reading: dict | None = None,
    progress: SeriesProgress | None = None, interrupts: Interrupts | None = None,
) -> SeriesResult:
    """Index every peak list of ``sources`` into ``out`` (see the package docstring); resumes what is there.

    ``reading``: ``units``, ``wavelength`` and ``n_peaks`` for ``powdex.peaks.read_peaks`` (2θ files without a
    wavelength are read at Cu Kα1, as the CLI does). ``executor``: a ``powdex.optim.Executor`` to index the
    patterns on; else ``workers`` worker processes (``LocalProcesses``; 0: one per core; 1: in this process).
    The patterns go through ``powdex.optim.parallel_map`` with the folder as its journal (``SeriesJournal``).
    A KeyboardInterrupt (or ``interrupts.check()``) stops the series at once, the patterns in flight lost:
    the summary and plot are written, then the KeyboardInterrupt goes on to the caller.
    """
    from powdex.optim.executors import InProcess, LocalProcesses
    from powdex.optim.parallel import parallel_map
    from powdex.optim.resources import available_cores

    config = config or IndexingConfig()
    reading = {"units": None, "wavelength": None, "n_peaks": 20} | (reading or {})
    interrupts = interrupts or Interrupts()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = peak_files(sources)
    journal = SeriesJournal(out, config, reading)
    series = SeriesResult(out, files)
    finished = journal.finished()
    for path in files:
        if path.stem in finished:
            series.documents[path] = finished[path.stem]
    series.skipped = len(series.documents)
    todo = [p for p in files if p not in series.documents]
    if executor is None:
        slots = min(workers or available_cores(), len(todo))
        executor = LocalProcesses(slots) if slots > 1 else InProcess()
    runner = _Runner(series, journal, progress)
    work = partial(index_file, reading=reading, config=config, fingerprint=journal.series_fingerprint)
    results = parallel_map(work, todo, executor=executor, journal=journal, key=_stem, claim=runner.claim)
    try:
        while True:
            interrupts.check()
            try:
                # Waiting for a pattern is the one place a stop ends at once: what is in flight is lost anyway.
                with interrupts.raising():
                    arrived = next(results, None)
            except BrokenExecutor:
                interrupts.check()  # a SIGTERM to the whole job killed the workers too: it is the stop
                raise
            if arrived is None:
                break
            runner.arrived(*arrived)
    finally:
        results.close()  # stops the executor's workers at once if the series is cut short
        runner.release_all()
        # Rebuilt from every result on every way out: an interrupted or killed series leaves a summary and
        # plot of what it finished, this run's and any other's on the same folder.
        for path in files:
            if series.documents.get(path) is None:
                series.documents.pop(path, None)
                done = load_finished(journal.record_path(path.stem), journal.series_fingerprint)
                if done is not None:
                    series.documents[path] = done
        series.held_elsewhere = [p for p in series.held_elsewhere if p not in series.documents]
        rows = write_summary(series)
        plot_series(rows, out / "series.png")
    return series


def _stem(path: Path) -> str:
    return path.stem


class SeriesJournal(Journal):
    """A series folder as a ``powdex.optim.Journal``: the records are the result documents
    ``OUT/<name>.json`` (key: the pattern file's stem), the manifest ``OUT/.series.json``.

    A document is finished work when its settings fingerprint is this series' (documents written before
    fingerprints were kept, by the settings they recorded): a series with other settings redoes the patterns,
    overwriting their results, rather than refusing the folder."""

    records_carry_settings = True

    def __init__(self, out: Path, config: IndexingConfig, reading: dict):
        self.series_fingerprint = series_fingerprint(config, reading)
        super().__init__(out, {"indexing": config.model_dump(mode="json"), "reading": reading},
                         defaults={"indexing": IndexingConfig().model_dump(mode="json")}, manifest=".series.json",
                         records=".")

    def record_path(self, key: str) -> Path:
        return self.records_folder / f"{key}.json"

    def key_of(self, path: Path) -> str:
        return path.stem

    def accepts(self, key: str, record: Any) -> bool:
        return finished_document(record, self.series_fingerprint) is not None


class _Runner:
    """The driver's side of a series: a pattern's lock is taken as it is handed out and released when its
    result is written (``parallel_map`` records it before it arrives here)."""

    def __init__(self, series: SeriesResult, journal: SeriesJournal, progress: SeriesProgress | None):
        self.series = series
        self.journal = journal
        self.progress = progress
        self.locks: dict[Path, PatternLock] = {}
        self.plotted = time.monotonic()

    def claim(self, path: Path) -> bool:
        """Take the pattern's lock; False where another run holds it or has finished it meanwhile.

        The lock is registered before it is taken: a Ctrl-C or SIGTERM raised at once while the driver waits
        (``Interrupts.raising``) can land in here, and ``release_all`` then still removes the file."""
        lock = PatternLock(self.series.out / f".{path.stem}.lock")
        self.locks[path] = lock
        if not lock.acquire():
            del self.locks[path]
            self.series.held_elsewhere.append(path)
            logger.info("%s: another run (%s) is indexing it; left to it", path, lock.owner())
            return False
        done = load_finished(self.journal.record_path(path.stem), self.journal.series_fingerprint)
        if done is not None:  # finished by another run since this one looked
            self.locks.pop(path).release()
            self.series.documents[path] = done
            return False
        return True

    def arrived(self, path: Path, document: dict) -> None:
        self.locks.pop(path).release()
        self.series.documents[path] = document
        rows = write_summary(self.series)
        # A plot of 200 patterns takes 0.4 s: redrawn every few seconds, and once at the end.
        if time.monotonic() - self.plotted >= PLOT_INTERVAL_S:
            plot_series(rows, self.series.out / "series.png")
            self.plotted = time.monotonic()
        if self.progress is not None:
            self.progress(path, document, len(self.series.documents), len(self.series.files))

    def release_all(self) -> None:
        for lock in self.locks.values():
            lock.release()
        self.locks.clear()


def index_file(path: Path, *, reading: dict, config: IndexingConfig, fingerprint: str) -> dict:
    """Worker side: the JSON document of one pattern, or {"error": message, ...} for bad input."""
    from powdex.indexing.search import index
    from powdex.patterns import read_peak_input
    from powdex.peaks import CU_KA1

    settings = {"indexing": config.model_dump(mode="json"), "reading": reading}
    try:
        peaks = read_peak_input(path, units=reading["units"], wavelength=reading["wavelength"],
                                anode=reading.get("anode"), n_peaks=reading["n_peaks"], default_wavelength=CU_KA1,
                                internal_standard=reading.get("internal_standard"))
        result = index(peaks, config=config)
    except PowdexError as error:
        from powdex import __version__

        message = " ".join(str(error).split())
        return {"powdex_version": __version__, "settings": settings, "settings_fingerprint": fingerprint,
                "error": message}
    return replace(result, settings=settings, settings_fingerprint=fingerprint).to_dict()


def load_finished(path: Path, fingerprint: str) -> dict | None:
    """The finished result in ``path`` with these settings (a rerun skips it), or None."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return finished_document(document, fingerprint)


def finished_document(document: Any, fingerprint: str) -> dict | None:
    """``document`` if it is a finished result with these settings, else None.

    Documents written before fingerprints were kept carry their settings: the fingerprint is taken from them."""
    if not isinstance(document, dict) or "error" in document or "candidates" not in document:
        return None
    recorded = document.get("settings_fingerprint")
    if not recorded:
        settings = document.get("settings") or {}
        try:
            recorded = series_fingerprint(IndexingConfig(**settings.get("indexing", {})), settings.get("reading", {}))
        except ValueError:
            return None
    return document if recorded == fingerprint else None


class PatternLock:
    """A lock file created exclusively (``O_EXCL``), holding ``host pid``; a lock whose owner on this host is
    dead is stale and taken over."""

    def __init__(self, path: Path):
        self.path = path
        self.held = False

    def owner(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> bool:
        for _ in range(2):  # once more after removing a stale lock
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._stale():
                    return False
                self.path.unlink(missing_ok=True)
                continue
            self.held = True  # ours from here: released even if the write below is cut short
            with os.fdopen(handle, "w") as stream:
                stream.write(f"{socket.gethostname()} {os.getpid()}\n")
            return True
        return False

    def _stale(self) -> bool:
        try:
            host, number = self.path.read_text().split()
            pid = int(number)
        except (OSError, ValueError):
            # Being written this instant, or garbage: garbage older than a minute is stale.
            try:
                return time.time() - self.path.stat().st_mtime > 60
            except OSError:
                return True
        if host != socket.gethostname():
            return False  # another machine's process: cannot be checked from here
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def write_summary(series: SeriesResult) -> list[dict]:
    """summary.csv: the best candidate of every finished pattern, in input order; returns its rows."""
    rows = []
    for path in series.files:
        document = series.documents.get(path)
        if document is None:
            continue
        best = document["candidates"][0] if document.get("candidates") else None
        row = {"pattern": path.name, "error": document.get("error", "" if best else "no cell found")}
        if best is not None:
            fom = best["figures_of_merit"]
            row |= {k: best[k] for k in ("bravais", "a", "b", "c", "alpha", "beta", "gamma", "volume", "score")}
            row |= {"M": fom["M"], "F": fom["F"], "indexed": f"{best['n_indexed']}/{best['n_peaks']}",
                    "probability": best.get("probability", "")}  # none in results written before it
            if best.get("space_groups"):  # results written before space groups were suggested have none
                row["space_groups"] = " ".join(best["space_groups"][0]["space_groups"])
        rows.append(row)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, SUMMARY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(series.out / "summary.csv", text.getvalue())
    return rows


def plot_series(rows: list[dict], path: Path) -> None:
    """series.png: a, b, c and V of each pattern's best cell, in input order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    indexed = [(i, r) for i, r in enumerate(rows) if r.get("bravais")]
    fig, (lengths, volume) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for key in ("a", "b", "c"):
        lengths.plot([i for i, _ in indexed], [r[key] for _, r in indexed], marker=".", label=key)
    lengths.set(ylabel="Å", title="best cell along the series")
    lengths.legend(fontsize=8)
    volume.plot([i for i, _ in indexed], [r["volume"] for _, r in indexed], marker=".", color="k")
    for i, r in indexed:
        volume.annotate(r["bravais"], (i, r["volume"]), fontsize=6, xytext=(0, 4), textcoords="offset points",
                        ha="center")
    volume.set(xlabel="pattern (input order)", ylabel="V (Å³)")
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=100)
    plt.close(fig)
    write_atomically(path, image.getvalue())

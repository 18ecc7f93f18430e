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
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from powdex.errors import PowdexError
from powdex.files import write_atomically
from powdex.indexing.config import IndexingConfig, settings_fingerprint
from powdex.indexing.result import IndexingResult

logger = logging.getLogger(__name__)

PLOT_INTERVAL_S = 5.0
POLL_S = 0.2  # how often a waiting driver looks at its interrupt flag
SUMMARY_COLUMNS = ("pattern", "bravais", "a", "b", "c", "alpha", "beta", "gamma", "volume", "M", "F", "indexed",
                   "score", "space_groups", "error")

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
        return [p for p in self.files if self.documents.get(p) and "error" not in self.documents[p]]

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
    executor=None, workers: int = 1, reading: dict | None = None, progress: SeriesProgress | None = None,
    interrupts: Interrupts | None = None,
) -> SeriesResult:
    """Index every peak list of ``sources`` into ``out`` (see the package docstring); resumes what is there.

    ``reading``: ``units``, ``wavelength`` and ``n_peaks`` for ``powdex.peaks.read_peaks`` (2θ files without a
    wavelength are read at Cu Kα1, as the CLI does). ``executor``: a ``concurrent.futures`` executor to index
    the patterns on (the caller shuts it down); else ``workers`` processes of ``powdex.optim``'s
    ``WorkerPool`` (1: in this process). A KeyboardInterrupt (or ``interrupts.check()``) stops the series
    between patterns: the summary and plot are written, then the KeyboardInterrupt goes on to the caller.
    """
    config = config or IndexingConfig()
    reading = {"units": None, "wavelength": None, "n_peaks": 20} | (reading or {})
    interrupts = interrupts or Interrupts()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = peak_files(sources)
    fingerprint = series_fingerprint(config, reading)
    series = SeriesResult(out, files)
    for path in files:
        done = load_finished(out / f"{path.stem}.json", fingerprint)
        if done is not None:
            series.documents[path] = done
    series.skipped = len(series.documents)
    todo = [p for p in files if p not in series.documents]
    runner = _Runner(series, reading, config, fingerprint, progress, interrupts)
    try:
        if executor is not None:
            runner.run_on(executor, todo, slots=max(1, workers))
        elif workers == 1 or len(todo) <= 1:
            runner.run_here(todo)
        else:
            from powdex.optim.executors import WorkerPool, available_cores

            slots = min(workers or available_cores(), len(todo))
            pool = WorkerPool(slots)
            try:
                runner.run_on(pool, todo, slots=slots)
            except BaseException:
                pool.terminate()  # Ctrl-C: the patterns in flight are lost anyway; do not wait for them
                raise
            pool.shutdown()
    finally:
        # Rebuilt from every result on every way out: an interrupted or killed series leaves a summary and
        # plot of what it finished.
        for path in files:
            if series.documents.get(path) is None:
                series.documents.pop(path, None)
                done = load_finished(out / f"{path.stem}.json", fingerprint)
                if done is not None:
                    series.documents[path] = done
        series.held_elsewhere = [p for p in series.held_elsewhere if p not in series.documents]
        rows = write_summary(series)
        plot_series(rows, out / "series.png")
    return series


class _Runner:
    def __init__(self, series: SeriesResult, reading: dict, config: IndexingConfig, fingerprint: str,
                 progress: SeriesProgress | None, interrupts: Interrupts):
        self.series = series
        self.reading = reading
        self.config = config
        self.fingerprint = fingerprint
        self.progress = progress
        self.interrupts = interrupts
        self.plotted = time.monotonic()

    def _claim(self, path: Path) -> PatternLock | None:
        """The pattern's lock, or None where another run holds it or has finished it meanwhile."""
        lock = PatternLock(self.series.out / f".{path.stem}.lock")
        if not lock.acquire():
            self.series.held_elsewhere.append(path)
            logger.info("%s: another run (%s) is indexing it; left to it", path, lock.owner())
            return None
        done = load_finished(self.series.out / f"{path.stem}.json", self.fingerprint)
        if done is not None:  # finished by another run since this one looked
            lock.release()
            self.series.documents[path] = done
            return None
        return lock

    def _arrived(self, path: Path, document: dict, lock: PatternLock) -> None:
        try:
            write_atomically(self.series.out / f"{path.stem}.json", json.dumps(document, indent=1))
        finally:
            lock.release()
        self.series.documents[path] = document
        rows = write_summary(self.series)
        # A plot of 200 patterns takes 0.4 s: redrawn every few seconds, and once at the end.
        if time.monotonic() - self.plotted >= PLOT_INTERVAL_S:
            plot_series(rows, self.series.out / "series.png")
            self.plotted = time.monotonic()
        if self.progress is not None:
            self.progress(path, document, len(self.series.documents), len(self.series.files))

    def run_here(self, todo: list[Path]) -> None:
        for path in todo:
            self.interrupts.check()
            lock = self._claim(path)
            if lock is None:
                continue
            try:
                with self.interrupts.raising():  # the pattern in hand is lost anyway: stop it at once
                    document = index_file(path, self.reading, self.config, self.fingerprint)
            except BaseException:
                lock.release()
                raise
            self._arrived(path, document, lock)
        self.interrupts.check()

    def run_on(self, executor, todo: list[Path], slots: int) -> None:
        """``slots`` patterns in flight at once, each submitted when its lock is taken."""
        waiting = list(todo)
        in_flight: dict[Future, tuple[Path, PatternLock]] = {}
        try:
            while waiting or in_flight:
                while waiting and len(in_flight) < slots:
                    path = waiting.pop(0)
                    lock = self._claim(path)
                    if lock is not None:
                        future = executor.submit(index_file, path, self.reading, self.config, self.fingerprint)
                        in_flight[future] = (path, lock)
                if not in_flight:
                    continue
                # A short wait: the interrupt flag is looked at even while no pattern ends.
                done, _ = wait(list(in_flight), timeout=POLL_S, return_when=FIRST_COMPLETED)
                # First: a SIGTERM to the whole job kills the workers too, and their futures come back broken.
                self.interrupts.check()
                for future in sorted(done, key=lambda f: todo.index(in_flight[f][0])):  # a tie in input order
                    path, lock = in_flight.pop(future)
                    self._arrived(path, future.result(), lock)
                    self.interrupts.check()
                self.interrupts.check()
        finally:
            for _path, lock in in_flight.values():
                lock.release()


def index_file(path: Path, reading: dict, config: IndexingConfig, fingerprint: str) -> dict:
    """Worker side: the JSON document of one pattern, or {"error": message, ...} for bad input."""
    from powdex.indexing.search import index
    from powdex.patterns import read_peak_input
    from powdex.peaks import CU_KA1

    settings = {"indexing": config.model_dump(mode="json"), "reading": reading}
    try:
        peaks = read_peak_input(path, units=reading["units"], wavelength=reading["wavelength"],
                                anode=reading.get("anode"), n_peaks=reading["n_peaks"], default_wavelength=CU_KA1)
        result = index(peaks, config=config)
    except PowdexError as error:
        from powdex import __version__

        message = " ".join(str(error).split())
        return {"powdex_version": __version__, "settings": settings, "settings_fingerprint": fingerprint,
                "error": message}
    return IndexingResult(result.candidates, result.elapsed, result.trials, result.source, result.skipped,
                          result.notes, result.peaks, settings, fingerprint).to_dict()


def load_finished(path: Path, fingerprint: str) -> dict | None:
    """A finished result with these settings (a rerun skips it), or None.

    Documents written before fingerprints were kept carry their settings: the fingerprint is taken from them."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
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
            with os.fdopen(handle, "w") as stream:
                stream.write(f"{socket.gethostname()} {os.getpid()}\n")
            self.held = True
            return True
        return False

    def _stale(self) -> bool:
        try:
            host, pid = self.path.read_text().split()
            pid = int(pid)
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
            row |= {"M": fom["M"], "F": fom["F"], "indexed": f"{best['n_indexed']}/{best['n_peaks']}"}
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

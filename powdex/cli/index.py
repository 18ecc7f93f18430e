"""``powdex index``: rank unit cells for one peak list, or for a series of them.

One peak list prints the ranked table (and writes ``--json``). Several, or a
directory, or ``--out DIR``, is a series: each pattern's ranking goes to
``DIR/<name>.json`` as soon as it is done, ``DIR/summary.csv`` and
``DIR/series.png`` (cell parameters of the best candidate along the series)
are rewritten as results arrive, and a rerun with the same settings skips the
patterns already written. Every pattern is indexed with the same seed, so its
ranking does not depend on the order or the number of worker processes.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from powdex import __version__
from powdex.cli.errors import (
    EXIT_INTERRUPTED, check_output_directory, check_output_file, fail, one_line, write_atomically,
)
from powdex.cli.interrupts import InterruptLatch
from powdex.cli.optimize import ExecutorName, executor_named
from powdex.indexing import IndexingConfig, IndexingResult, index_peaks
from powdex.peaks import CU_KA1, PeakInputError, PeakList, read_peaks

console = Console(stderr=True)

# What a directory given as input is searched for.
PEAK_FILE_SUFFIXES = (".txt", ".csv", ".dat", ".xy", ".npy", ".pkslst")


def index(
    peaks: Annotated[
        list[Path],
        typer.Argument(help="Peak lists (text/CSV: position [intensity]; .npy; GSAS-II .pkslst) or directories of them"),
    ],
    units: Annotated[str | None, typer.Option(help="q2 | d | 2theta (default: from the file's header, else 2theta)")] = None,
    wavelength: Annotated[float | None, typer.Option(help="Å; default: the file's '# wavelength:' comment, else Cu Kα1")] = None,
    systems: Annotated[str, typer.Option(help="Comma-separated lattice systems to search")] = (
        "cubic,hexagonal,rhombohedral,tetragonal,orthorhombic,monoclinic,triclinic"
    ),
    zero_shift: Annotated[bool, typer.Option("--zero-shift", help="Refine a zero-point shift of 2θ")] = False,
    method: Annotated[str, typer.Option(help=(
        "classical: SVD-Index from random starts; learned: the seed's data-driven pipeline alone (model draws, "
        "Miller indices from the assignment network, Metropolis chains); both: SVD-Index from random starts, "
        "and from model draws for monoclinic and triclinic lattices"))] = "both",
    seed: Annotated[int, typer.Option(help="Seed of every random choice")] = 0,
    time_limit: Annotated[float, typer.Option(help="Seconds for the whole search of one pattern")] = 60.0,
    n_peaks: Annotated[int, typer.Option(min=1, help="Use the first N peaks")] = 20,
    top: Annotated[int, typer.Option(help="Candidates to report")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="One pattern: write the ranked candidates as JSON here")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Series: directory for one JSON per pattern, summary.csv and series.png")] = None,
    workers: Annotated[int, typer.Option(min=0, help="Series: patterns indexed at once, one process each (0: one per core)")] = 1,
    chains_store: Annotated[str | None, typer.Option(
        "--chains-store", help="One pattern, --method learned: keep every chain in this results store (SQLite path "
        "or SQLAlchemy URL) as it ends; the same command resumes")] = None,
    chains_executor: Annotated[ExecutorName, typer.Option(
        "--chains-executor", help="One pattern, --method learned: where the chains run")] = ExecutorName.inprocess,
    scheduler: Annotated[str | None, typer.Option(
        help="--chains-executor dask: scheduler address; without it a loopback cluster is started")] = None,
) -> None:
    """Find and rank the unit cells that index powder peak lists."""
    try:
        config = IndexingConfig(systems=systems, zero_shift=zero_shift, seed=seed, time_limit=time_limit, top=top,
                                method=method)
        if units is not None and units not in ("q2", "d", "2theta"):
            raise ValueError(f"--units must be q2, d or 2theta, got {units!r}")
        files = _peak_files(peaks)
        if len(files) > 1 or out is not None:
            if json_out is not None:
                raise ValueError("--json is for one pattern; a series writes one JSON per pattern into --out")
            if out is None:
                raise ValueError(f"{len(files)} peak lists: give --out DIR for their results")
            _check_series_output(out, files)
        elif json_out is not None:
            check_output_file(json_out, "--json")
        chains = {"store": chains_store, "executor": chains_executor, "scheduler": scheduler}
        if chains_store is not None or chains_executor is not ExecutorName.inprocess:
            if method != "learned":
                raise ValueError("--chains-store and --chains-executor are for --method learned, which runs chains")
            if out is not None:
                raise ValueError("--chains-store and --chains-executor are for one pattern; a series runs "
                                 "its patterns in --workers processes")
    except (PeakInputError, ValidationError, ValueError) as exc:
        fail(exc)
    reading = {"units": units, "wavelength": wavelength, "n_peaks": n_peaks}
    if out is None:
        _index_one(files[0], reading, config, json_out, chains)
    else:
        _index_series(files, reading, config, out, workers)


def _check_series_output(out: Path, files: list[Path]) -> None:
    check_output_directory(out, "--out")
    inputs = {f.resolve().parent for f in files}
    if out.resolve() in inputs:
        raise ValueError(
            f"--out {out}: is a directory of the input peak lists; its summary.csv would be read as a peak "
            "list by the next run: choose another directory"
        )


def _peak_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PEAK_FILE_SUFFIXES)
            if not found:
                raise ValueError(f"{path}: no peak lists ({', '.join(PEAK_FILE_SUFFIXES)}) in this directory")
            files += found
        else:
            files.append(path)  # a missing file is reported when it is read
    names: dict[str, Path] = {}
    for f in files:
        if f.stem in names and names[f.stem] != f:
            raise ValueError(f"{names[f.stem]} and {f}: two peak lists named {f.stem!r} would write the same result")
        names[f.stem] = f
    return list(dict.fromkeys(files))


def _read(path: Path, reading: dict) -> PeakList:
    return read_peaks(path, units=reading["units"], wavelength=reading["wavelength"], n_peaks=reading["n_peaks"],
                      default_wavelength=CU_KA1)


def _index_one(path: Path, reading: dict, config: IndexingConfig, json_out: Path | None, chains: dict) -> None:
    try:
        peak_list = _read(path, reading)
    except (PeakInputError, ValueError) as exc:
        fail(exc)
    console.print(
        f"{path}: {peak_list.n} peaks, λ = {peak_list.wavelength:.5f} Å" + (" (Cu Kα1 assumed)" if peak_list.wavelength_assumed else "")
    )
    for note in peak_list.notes:
        typer.echo(f"note: {note}", err=True)
    try:
        with ExitStack() as stack:
            store = None
            if chains["store"]:
                from powdex.optim.store import ResultsStore  # SQLAlchemy: paid only by a run that keeps chains

                store = stack.enter_context(ResultsStore(chains["store"]))
            executor = executor_named(stack, chains["executor"], chains["scheduler"], None)
            result = _run_with_progress(peak_list, config, executor, store)
    except (PeakInputError, ValueError) as exc:
        fail(exc)
    except KeyboardInterrupt:
        kept = f"; the chains that ended are in {chains['store']} and the same command resumes" if chains["store"] else ""
        typer.echo(f"interrupted: nothing written{kept}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if result.skipped:
        console.print(f"not searched, too few peaks: {', '.join(s.value for s in result.skipped)}")
    # Piped output has no terminal width; the full table is still wanted.
    Console(width=None if sys.stdout.isatty() else 160).print(result_table(result))
    if json_out is not None:
        try:
            write_atomically(json_out, json.dumps(result_document(result, peak_list, config, reading), indent=2))
        except OSError as error:
            fail(f"--json {json_out}: {error.strerror or error}")
        console.print(f"wrote {json_out}")


def result_document(result: IndexingResult, peaks: PeakList, config: IndexingConfig, reading: dict) -> dict:
    """The JSON of one pattern: what was read and asked, then the ranked candidates."""
    observed = {
        "wavelength": peaks.wavelength,
        "wavelength_assumed": peaks.wavelength_assumed,
        "q2": peaks.q2.tolist(),
        "intensity": peaks.intensity.tolist(),
        "notes": list(peaks.notes),
    }
    if peaks.two_theta is not None:
        observed["two_theta"] = peaks.two_theta.tolist()
    return {"powdex_version": __version__, "settings": _settings(config, reading), "peaks": observed} | result.to_dict()


def _settings(config: IndexingConfig, reading: dict) -> dict:
    return {"indexing": config.model_dump(mode="json"), "reading": reading}


def _run_with_progress(peak_list, config: IndexingConfig, executor=None, store=None) -> IndexingResult:
    with Progress(
        TextColumn("[bold]{task.fields[lattice]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("s · {task.fields[trials]} trials · {task.fields[rate]} trials/s · best score {task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("index", total=int(config.time_limit), lattice="", trials=0, rate=0, best="-")
        total = {"trials": 0, "last": {}}

        def report(lattice: str, trials: int, best: float) -> None:
            total["trials"] += trials - total["last"].get(lattice, 0)
            total["last"][lattice] = trials
            elapsed = max(progress.tasks[0].elapsed or 1e-9, 1e-9)
            progress.update(
                task,
                completed=min(int(elapsed), int(config.time_limit)),
                lattice=lattice,
                trials=total["trials"],
                rate=f"{total['trials'] / elapsed:,.0f}",
                best=f"{best:.1f}" if best > -1e300 else "-",
            )

        return index_peaks(peak_list, config, progress=report, executor=executor, store=store)


def _space_groups_cell(candidate) -> str:
    """The best extinction class: its first space groups and its probability."""
    if not candidate.space_groups:
        return "-"
    best = candidate.space_groups[0]
    names = best.space_groups
    shown = " ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
    return f"{shown} ({best.probability:.2f})"


def result_table(result: IndexingResult) -> Table:
    n = result.candidates[0].figures.n if result.candidates else 20
    table = Table(title=f"{result.source}: {len(result.candidates)} candidates in {result.elapsed:.1f} s "
                        f"({result.trials:,} trials)")
    for col in ("#", "lattice", "a", "b", "c", "α", "β", "γ", "V", f"M{n}", f"F{n}", "indexed", "zero", "score"):
        table.add_column(col, justify="right")
    table.add_column("space groups (p)", justify="left")
    for i, c in enumerate(result.candidates, 1):
        cell = c.cell
        table.add_row(
            str(i), c.bravais.value,
            f"{cell.a:.4f}", f"{cell.b:.4f}", f"{cell.c:.4f}",
            f"{cell.alpha:.2f}", f"{cell.beta:.2f}", f"{cell.gamma:.2f}",
            f"{cell.volume:.1f}", f"{c.figures.m:.1f}",
            f"{c.figures.f:.1f}({c.figures.mean_abs_dtt:.4f},{c.figures.n_possible})",
            f"{c.n_indexed}/{len(c.indexed)}", f"{c.zero_shift:+.3f}", f"{c.score:.1f}",
            _space_groups_cell(c),
        )
    if not result.candidates:
        table.caption = "no cell indexes the peaks within the limits; try --zero-shift, more time or fewer peaks"
    return table


# -- series -------------------------------------------------------------------


def _index_file(path: Path, reading: dict, config: IndexingConfig) -> dict:
    """Worker side: the JSON document of one pattern, or {"error": message} for bad input."""
    try:
        peak_list = _read(path, reading)
        return result_document(index_peaks(peak_list, config), peak_list, config, reading)
    except (PeakInputError, ValueError) as exc:
        return {"powdex_version": __version__, "settings": _settings(config, reading), "error": one_line(exc)}


def _index_series(files: list[Path], reading: dict, config: IndexingConfig, out: Path, workers: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(config, reading)
    documents: dict[Path, dict] = {}
    for path in files:
        done = _load_result(out / f"{path.stem}.json", settings)
        if done is not None:
            documents[path] = done
    todo = [p for p in files if p not in documents]
    if documents:
        typer.echo(f"{len(documents)} of {len(files)} patterns already in {out} with these settings: skipped", err=True)
    with InterruptLatch() as latch:
        try:
            _index_patterns(todo, files, documents, reading, config, out, workers, latch)
        except KeyboardInterrupt:
            _plot_series(_write_summary(files, documents, out), out / "series.png")
            typer.echo(f"interrupted: {len(documents)} of {len(files)} patterns are in {out}; "
                       "the same command resumes with the rest", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as error:  # the output directory went away or filled up mid-series
            fail(f"--out {out}: cannot write {error.filename or 'a result'} ({error.strerror or error}); "
                 f"{len(documents)} of {len(files)} patterns were written; the same command resumes")
    # Rebuilt from every result on every run: a run killed between a
    # pattern's JSON and the summary leaves nothing stale for long.
    _plot_series(_write_summary(files, documents, out), out / "series.png")
    failed = [p for p in files if "error" in documents[p]]
    for path in failed:
        typer.echo(f"error: {documents[path]['error']}", err=True)  # plain: one unwrapped line each
    typer.echo(f"{len(files) - len(failed)} of {len(files)} patterns indexed; results in {out}", err=True)
    if failed:
        raise typer.Exit(1)


def _index_patterns(todo: list[Path], files: list[Path], documents: dict[Path, dict], reading: dict,
                    config: IndexingConfig, out: Path, workers: int, latch: InterruptLatch) -> None:
    """Index ``todo``, adding each document to ``documents`` and writing it as it arrives.

    A Ctrl-C (``latch``) raises KeyboardInterrupt between patterns, never while a result is written or plotted.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    from powdex.optim.executors import WorkerPool, available_cores

    workers = min(workers or available_cores(), max(len(todo), 1))
    columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} patterns/min"),
               TextColumn("{task.fields[last]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("series", total=len(files), completed=len(documents), rate="-", last="")
        finished = [0]  # patterns indexed in this run, for the rate
        plotted = [time.monotonic()]

        def arrived(path: Path, document: dict) -> None:
            write_atomically(out / f"{path.stem}.json", json.dumps(document, indent=1))
            documents[path] = document
            rows = _write_summary(files, documents, out)
            # A plot of 200 patterns takes 0.4 s: redrawn every few seconds, and once at the end.
            if time.monotonic() - plotted[0] >= PLOT_INTERVAL_S:
                _plot_series(rows, out / "series.png")
                plotted[0] = time.monotonic()
            finished[0] += 1
            elapsed = progress.tasks[0].elapsed or 1e-9
            best = document["candidates"][0] if document.get("candidates") else None
            last = f"{path.name}: " + (document["error"] if "error" in document else
                                       f"{best['bravais']} V={best['volume']:.1f}" if best else "no cell")
            progress.update(task, advance=1, rate=f"{60 * finished[0] / elapsed:.1f}", last=last)

        if workers <= 1:
            for path in todo:
                with latch.raising():  # the pattern in hand is lost anyway: stop it at once
                    document = _index_file(path, reading, config)
                arrived(path, document)
                latch.check()
            return
        # Many small numpy problems at once: BLAS threads would only fight over the cores.
        pool = WorkerPool(workers)
        try:
            futures = {pool.submit(_index_file, path, reading, config): path for path in todo}
            order = {path: i for i, path in enumerate(todo)}
            pending = set(futures)
            while pending:
                # A short wait: the latch is looked at even while no pattern ends.
                done, pending = wait(pending, timeout=LATCH_POLL_S, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: order[futures[f]]):  # a tie goes in input order
                    arrived(futures[future], future.result())
                    latch.check()
                latch.check()
        except BaseException:
            pool.terminate()  # Ctrl-C: the patterns in flight are lost anyway; do not wait for them
            raise
        pool.shutdown()


def _load_result(path: Path, settings: dict) -> dict | None:
    """A finished result with the same settings (a rerun skips it), or None."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if document.get("settings") == settings and "error" not in document else None


PLOT_INTERVAL_S = 5.0
LATCH_POLL_S = 0.2
SUMMARY_COLUMNS = ("pattern", "bravais", "a", "b", "c", "alpha", "beta", "gamma", "volume", "M", "F", "indexed", "score",
                   "space_groups", "error")


def _write_summary(files: list[Path], documents: dict[Path, dict], out: Path) -> list[dict]:
    """summary.csv: the best candidate of every finished pattern, in input order; returns its rows."""
    rows = []
    for path in files:
        document = documents.get(path)
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
    write_atomically(out / "summary.csv", text.getvalue())
    return rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _plot_series(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    indexed = [(i, r) for i, r in enumerate(rows) if r.get("bravais")]
    fig, (lengths, volume) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for key in ("a", "b", "c"):
        lengths.plot([i for i, _ in indexed], [r[key] for _, r in indexed], marker=".", label=key)
    lengths.set(ylabel="Å", title="best cell along the series")
    lengths.legend(fontsize=8)
    volume.plot([i for i, _ in indexed], [r["volume"] for _, r in indexed], marker=".", color="k")
    for i, r in indexed:
        volume.annotate(r["bravais"], (i, r["volume"]), fontsize=6, xytext=(0, 4), textcoords="offset points", ha="center")
    volume.set(xlabel="pattern (input order)", ylabel="V (Å³)")
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=100)
    plt.close(fig)
    write_atomically(path, image.getvalue())

"""``powdex index``: rank unit cells for one peak list, or for a series of them.

One peak list prints the ranked table (and writes ``--json``): ``powdex.index``.
Several, or a directory, or ``--out DIR``, is a series (``powdex.index_series``:
one JSON per pattern, ``summary.csv`` and ``series.png``, resumed by a rerun
with the same settings). This module parses the arguments and displays; the
work is the library's.

A Ctrl-C, or a SIGTERM (what a batch scheduler sends at the end of a slot),
stops a series between patterns: the summary and plot of what finished are
written, a message says how to resume, and the exit status is 130 (Ctrl-C) or
143 (SIGTERM), as a shell reports them.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from powdex.cli.errors import EXIT_INTERRUPTED, OptionError, fail
from powdex.cli.interrupts import InterruptLatch
from powdex.cli.options import ExecutorName
from powdex.files import check_output_directory, check_output_file

EXIT_TERMINATED = 143  # 128 + SIGTERM


def index(
    peaks: Annotated[
        list[Path],
        typer.Argument(help="Peak lists (text/CSV: position [intensity]; .npy; GSAS-II .pkslst), measured patterns "
                       "(.xy/.xye/.csv columns, XRDML, BRML, Bruker RAW, RAS/RASX, GSAS, pdCIF: their peaks are "
                       "picked with Kα2 stripped), or directories of them"),
    ],
    units: Annotated[str | None, typer.Option(help="q2 | d | 2theta (default: from the file's header, else 2theta)")] = None,
    wavelength: Annotated[float | None, typer.Option(help="Å; default: the file's '# wavelength:' comment, else Cu Kα1 for 2θ input (d and q² input need none)")] = None,
    anode: Annotated[str | None, typer.Option(help=(
        "X-ray tube (Cu, Co, Mo, Fe, Cr, Ag): its Kα1/Kα2 lines for a measured pattern; a peak list of unresolved "
        "doublets is read at the weighted mean wavelength"))] = None,
    systems: Annotated[str, typer.Option(help="Comma-separated lattice systems to search")] = (
        "cubic,hexagonal,rhombohedral,tetragonal,orthorhombic,monoclinic,triclinic"
    ),
    zero_shift: Annotated[bool | None, typer.Option("--zero-shift/--no-zero-shift", help=(
        "Search a zero-point shift of 2θ from the start, or never; default: from the first pass over the lattice "
        "systems that found no cell solving the list"))] = None,
    instrument: Annotated[Path | None, typer.Option(help=(
        "One pattern: calibrated instrument file (instrument.toml, .instprm, .prm, .irf): its widths and Kβ ratio guide the peak "
        "search, its zero and displacement correct the positions, its FWHM weights the peaks"))] = None,
    internal_standard: Annotated[str | None, typer.Option(help=(
        "Measured pattern: a certified standard mixed into the sample (LaB6, Si, CeO2, Al2O3): its lines are set "
        "aside and the zero offset they show is taken off the other peaks"))] = None,
    min_length: Annotated[float, typer.Option(help=(
        "Å: the shortest lattice vector a candidate may have (vectors under --short-length lower its score). "
        "Below 1.5 Å only for high-pressure phases"))] = 1.5,
    short_length: Annotated[float, typer.Option(help=(
        "Å: lattice vectors shorter than this lower a candidate's score (a soft prior: they are rare at ambient "
        "pressure, and a sub-cell with one indexes the same lines as the true cell). For high-pressure phases set it "
        "to --min-length, and a super-cell no longer outranks a true cell with short vectors"))] = 2.3,
    max_unindexed: Annotated[int, typer.Option(min=0, help=(
        "Lines of the first N a candidate may leave unexplained (impurity or second-phase lines); more lets a "
        "small cell fit a few lines of any list"))] = 4,
    second_phase_share: Annotated[float, typer.Option(min=0.0, max=0.95, help=(
        "...and this share of the lines, where more, from the first pass over the lattice systems that found no "
        "cell solving the list (a mixture of two phases); 0: never more than --max-unindexed"))] = 0.45,
    formula: Annotated[str | None, typer.Option(help=(
        "Chemical formula (e.g. C6H12O6): the notes give the formula units in each of the best cells at 18 Å³ "
        "per non-hydrogen atom"))] = None,
    method: Annotated[str, typer.Option(help=(
        "classical: SVD-Index (Coelho 2003) from random starts; learned: the learned pipeline alone (cells drawn "
        "from the shipped regression models, Miller indices from the assignment network, Metropolis chains); "
        "both: SVD-Index from random starts, and from model draws for monoclinic and triclinic lattices"))] = "both",
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
    refine: Annotated[bool, typer.Option("--refine", help=(
        "One measured pattern: Le Bail fits of the top candidates (each in its best two extinction classes) "
        "against the whole pattern, re-ranked by an information criterion that charges every line and parameter "
        "(powdex.refinement.rerank)"))] = False,
) -> None:
    """Find and rank the unit cells that index powder peak lists."""
    from pydantic import ValidationError

    from powdex.errors import PowdexError
    from powdex.indexing import IndexingConfig
    from powdex.series.runner import peak_files

    try:
        config = IndexingConfig(systems=systems, zero_shift=zero_shift, seed=seed, time_limit=time_limit, top=top,
                                method=method,
                                min_length=min_length, short_length=short_length, max_unindexed=max_unindexed,
                                second_phase_share=second_phase_share,
                                formula=formula)
        if units is not None and units not in ("q2", "d", "2theta"):
            raise OptionError(f"--units must be q2, d or 2theta, got {units!r}")
        files = peak_files(peaks)
        if len(files) > 1 or out is not None:
            if json_out is not None:
                raise OptionError("--json is for one pattern; a series writes one JSON per pattern into --out")
            if out is None:
                raise OptionError(f"{len(files)} peak lists: give --out DIR for their results")
            _check_series_output(out, files)
        elif json_out is not None:
            check_output_file(json_out, "--json")
        chains = {"store": chains_store, "executor": chains_executor, "scheduler": scheduler}
        if chains_store is not None or chains_executor is not ExecutorName.inprocess:
            if method != "learned":
                raise OptionError("--chains-store and --chains-executor are for --method learned, which runs chains")
            if out is not None:
                raise OptionError("--chains-store and --chains-executor are for one pattern; a series runs "
                                 "its patterns in --workers processes")
        if refine and (len(files) > 1 or out is not None):
            raise OptionError("--refine is for one measured pattern, not a series")
        if instrument is not None and (len(files) > 1 or out is not None):
            raise OptionError("--instrument is for one pattern, not a series")
        calibrated = _instrument(instrument)
        if internal_standard is not None:
            from powdex.patterns.internal_standard import standard_by_name

            standard_by_name(internal_standard, "--internal-standard")
    except (PowdexError, ValidationError) as exc:
        fail(exc)
    # The anode, instrument and internal standard join the settings only when given, so that series indexed before
    # the options keep their results.
    reading = {"units": units, "wavelength": wavelength, "n_peaks": n_peaks} | ({"anode": anode} if anode else {}) | (
        {"instrument": str(instrument)} if instrument else {}) | (
        {"internal_standard": internal_standard} if internal_standard else {})
    if out is None:
        _index_one(files[0], reading, config, json_out, chains, refine, calibrated)
    else:
        _index_series(files, reading, config, out, workers)


def _check_series_output(out: Path, files: list[Path]) -> None:
    check_output_directory(out, "--out")
    inputs = {f.resolve().parent for f in files}
    if out.resolve() in inputs:
        raise OptionError(
            f"--out {out}: is a directory of the input peak lists; its summary.csv would be read as a peak "
            "list by the next run: choose another directory"
        )


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _instrument(path: Path | None):
    """The instrument in ``path`` (None without one)."""
    if path is None:
        return None
    from powdex.instrument import Instrument

    return Instrument.load(path)


def _index_one(path: Path, reading: dict, config, json_out: Path | None, chains: dict, refine: bool = False,
               instrument=None) -> None:
    from contextlib import ExitStack

    from powdex.errors import PowdexError
    from powdex.optim.registry import executor_from_name
    from powdex.patterns import read_peak_input
    from powdex.peaks import CU_KA1

    console = _console()
    try:
        peak_list = read_peak_input(path, units=reading["units"], wavelength=reading["wavelength"],
                                    anode=reading.get("anode"), n_peaks=reading["n_peaks"], default_wavelength=CU_KA1,
                                    instrument=instrument, internal_standard=reading.get("internal_standard"))
    except PowdexError as exc:
        fail(exc)
    if peak_list.two_theta is None and peak_list.wavelength_assumed:
        console.print(f"{path}: {peak_list.n} peaks (no wavelength given; none is needed for d or q²)")
    else:
        console.print(f"{path}: {peak_list.n} peaks, λ = {peak_list.wavelength:.5f} Å"
                      + (" (Cu Kα1 assumed)" if peak_list.wavelength_assumed else ""))
    for note in peak_list.notes:
        typer.echo(f"note: {note}", err=True)
    try:
        with ExitStack() as stack:
            store = None
            if chains["store"]:
                from powdex.optim.store import (
                    ResultsStore,  # SQLAlchemy: paid only by a run that keeps chains
                )

                store = stack.enter_context(ResultsStore(chains["store"]))
            # In process is the search's own default: naming it would load dask for nothing.
            executor = (None if chains["executor"] is ExecutorName.inprocess
                        else executor_from_name(chains["executor"].value, scheduler=chains["scheduler"]))
            result = _run_with_progress(console, peak_list, config, executor, store, instrument)
    except PowdexError as exc:
        fail(exc)
    except KeyboardInterrupt:
        kept = f"; the chains that ended are in {chains['store']} and the same command resumes" if chains["store"] else ""
        typer.echo(f"interrupted: nothing written{kept}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if result.skipped:
        console.print(f"not searched, too few peaks: {', '.join(s.value for s in result.skipped)}")
    from rich.console import Console

    # Piped output has no terminal width; the full table is still wanted.
    Console(width=None if sys.stdout.isatty() else 160).print(result_table(result))
    for line in referee_lines(result):
        typer.echo(line)
    if json_out is not None:
        try:
            result.with_settings(reading=reading).save(json_out)
        except OSError as error:
            fail(f"--json {json_out}: {error.strerror or error}")
        console.print(f"wrote {json_out}")
    if refine and result.candidates:
        _refine_candidates(path, reading, result.candidates)


def _refine_candidates(path: Path, reading: dict, candidates) -> None:
    """Le Bail fits of the candidates against the measured pattern, re-ranked (``powdex.refinement.rerank``)."""
    from rich.console import Console
    from rich.table import Table

    from powdex.errors import PowdexError
    from powdex.patterns import read_pattern
    from powdex.refinement.rerank import rerank

    try:
        pattern = read_pattern(path, wavelength=reading["wavelength"], anode=reading.get("anode"))
        reranking = rerank(pattern, candidates)
    except PowdexError as exc:
        fail(exc)
    table = Table(title=f"{path}: candidates re-ranked by Le Bail fits (lowest BIC first)")
    for col in ("rank", "#", "space group", "a", "b", "c", "α", "β", "γ", "lines", "parameters", "Rwp", "Rexp", "BIC",
                "fit"):
        table.add_column(col, justify="right")
    for rank, fit in enumerate(reranking.fits, 1):
        cell = fit.cell
        table.add_row(str(rank), str(fit.candidate + 1), fit.space_group, f"{cell.a:.5f}", f"{cell.b:.5f}",
                      f"{cell.c:.5f}", f"{cell.alpha:.3f}", f"{cell.beta:.3f}", f"{cell.gamma:.3f}", str(fit.lines),
                      str(fit.parameters), f"{100 * fit.rwp:.2f}%", f"{100 * fit.rexp:.2f}%", f"{fit.criterion:.1f}",
                      "diverged" if fit.diverged else ("converged" if fit.fit.converged else "not converged"))
    Console(width=None if sys.stdout.isatty() else 180).print(table)
    for fit in reranking.fits:
        if fit.diverged:
            typer.echo(f"note: candidate {fit.candidate + 1} in {fit.space_group}: the fit diverged, ranked below the "
                       f"fits that did not ({fit.fit.message})", err=True)
    for candidate, group, message in reranking.failed:
        typer.echo(f"note: candidate {candidate + 1} in {group} not fitted: {message}", err=True)
    for candidate, group, why in reranking.skipped:
        typer.echo(f"note: candidate {candidate + 1} in {group} not fitted, it cannot rank first: {why}", err=True)


def _run_with_progress(console, peak_list, config, executor=None, store=None, instrument=None):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from powdex.indexing import index

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

        return index(peak_list, config=config, progress=report, executor=executor, store=store, instrument=instrument)


def _space_groups_cell(candidate) -> str:
    """The best extinction class: its first space groups and its probability."""
    if not candidate.space_groups:
        return "-"
    best = candidate.space_groups[0]
    names = best.space_groups
    shown = " ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
    return f"{shown} ({best.probability:.2f})"


def result_table(result):
    from rich.table import Table

    n = result.candidates[0].figures.n if result.candidates else 20
    table = Table(title=f"{result.source}: {len(result.candidates)} candidates in {result.elapsed:.1f} s "
                        f"({result.trials:,} trials)")
    for col in ("#", "lattice", "a", "b", "c", "α", "β", "γ", "V", f"M{n}", f"F{n}(|Δ2θ|,Nposs)", "indexed", "zero",
                "score", "P"):
        table.add_column(col, justify="right")
    table.add_column("space groups (p)", justify="left")
    probabilities = result.probabilities or (None,) * len(result.candidates)
    for i, (c, probability) in enumerate(zip(result.candidates, probabilities), 1):
        cell = c.cell
        table.add_row(
            str(i), c.bravais.value,
            f"{cell.a:.4f}", f"{cell.b:.4f}", f"{cell.c:.4f}",
            f"{cell.alpha:.2f}", f"{cell.beta:.2f}", f"{cell.gamma:.2f}",
            f"{cell.volume:.1f}", f"{c.figures.m:.1f}",
            f"{c.figures.f:.1f}({c.figures.mean_abs_dtt:.4f},{c.figures.n_possible})",
            f"{c.n_indexed}/{len(c.indexed)}", f"{c.zero_shift:+.3f}", f"{c.score:.1f}",
            "-" if probability is None else f"{probability:.2f}",
            _space_groups_cell(c),
        )
    if not result.candidates:
        table.caption = "no cell indexes the peaks within the limits; try more time or fewer peaks"
    else:
        table.caption = ("P: calibrated probability that the cell (with the candidates that index the same lines) "
                         "is right")
    return table


def referee_lines(result, shown: int = 3) -> list[str]:
    """What a referee checks beside the table, for the best ``shown`` candidates: the Niggli-reduced cell and
    the unindexed lines (as read: 2θ, else d)."""
    lines = []
    peaks = result.peaks
    for rank, cand in enumerate(result.candidates[:shown], 1):
        document = cand.to_dict()
        reduced = " ".join(f"{v:.4f}" for v in document["reduced_cell"][:3]) + " " + " ".join(
            f"{v:.2f}" for v in document["reduced_cell"][3:])
        unindexed = document["unindexed_peaks"]
        if peaks is None or not unindexed:
            where = ", ".join(f"#{i + 1}" for i in unindexed) or "none"
        elif peaks.two_theta is not None:
            where = ", ".join(f"#{i + 1} (2θ {peaks.two_theta[i]:.3f}°)" for i in unindexed)
        else:
            where = ", ".join(f"#{i + 1} (d {peaks.q2[i] ** -0.5:.4f} Å)" for i in unindexed)
        lines.append(f"candidate {rank}: reduced cell {reduced}; unindexed lines: {where}")
    return lines


# -- series -------------------------------------------------------------------


class _SeriesLatch(InterruptLatch):
    """The Ctrl-C latch, taking SIGTERM too (a batch scheduler's end of slot): both stop the series between
    patterns; ``signal`` says which came."""

    signal: int | None = None

    def __enter__(self) -> _SeriesLatch:
        super().__enter__()
        self._previous_term = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous_term)
        super().__exit__(*exc)

    def _handle(self, signum, frame) -> None:
        self.signal = signum
        super()._handle(signum, frame)


def _index_series(files: list[Path], reading: dict, config, out: Path, workers: int) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from powdex.series import index_series
    from powdex.series.runner import load_finished, series_fingerprint

    console = _console()
    fingerprint = series_fingerprint(config, reading)
    done_before = sum(load_finished(out / f"{p.stem}.json", fingerprint) is not None for p in files) if out.is_dir() else 0
    if done_before:
        typer.echo(f"{done_before} of {len(files)} patterns already in {out} with these settings: skipped", err=True)
    columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} patterns/min"),
               TextColumn("{task.fields[last]}"), TimeElapsedColumn(), TimeRemainingColumn())
    finished = [0]
    with _SeriesLatch() as latch, Progress(*columns, console=console) as progress:
        task = progress.add_task("series", total=len(files), completed=done_before, rate="-", last="")

        def arrived(path: Path, document: dict, done: int, total: int) -> None:
            finished[0] += 1
            elapsed = progress.tasks[0].elapsed or 1e-9
            best = document["candidates"][0] if document.get("candidates") else None
            last = f"{path.name}: " + (document["error"] if "error" in document else
                                       f"{best['bravais']} V={best['volume']:.1f}" if best else "no cell")
            progress.update(task, completed=done, rate=f"{60 * finished[0] / elapsed:.1f}", last=last)

        try:
            series = index_series(files, out, config=config, workers=workers, reading=reading, progress=arrived,
                                  interrupts=latch)
        except KeyboardInterrupt:
            written = sum(load_finished(out / f"{p.stem}.json", fingerprint) is not None for p in files)
            what = "terminated (SIGTERM)" if latch.signal == signal.SIGTERM else "interrupted"
            progress.stop()
            typer.echo(f"{what}: {written} of {len(files)} patterns are in {out}; "
                       "the same command resumes with the rest", err=True)
            raise typer.Exit(EXIT_TERMINATED if latch.signal == signal.SIGTERM else EXIT_INTERRUPTED) from None
        except OSError as error:  # the output directory went away or filled up mid-series
            written = sum(load_finished(out / f"{p.stem}.json", fingerprint) is not None for p in files)
            fail(f"--out {out}: cannot write {error.filename or 'a result'} ({error.strerror or error}); "
                 f"{written} of {len(files)} patterns were written; the same command resumes")
    for path in series.held_elsewhere:
        typer.echo(f"note: {path.name}: being indexed by another run on {out}; left to it", err=True)
    for path in series.failed:
        typer.echo(f"error: {series.documents[path]['error']}", err=True)  # plain: one unwrapped line each
    typer.echo(f"{len(series.indexed)} of {len(files)} patterns indexed; results in {out}", err=True)
    if series.failed:
        raise typer.Exit(1)

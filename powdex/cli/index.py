"""``powdex index``: rank unit cells for a peak list."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from powdex.indexing import IndexingConfig, IndexingResult, index_peaks
from powdex.peaks import CU_KA1, PeakInputError, read_peaks

console = Console(stderr=True)


def index(
    peaks: Annotated[Path, typer.Argument(help="Peak list: text/CSV (position [intensity]), .npy or GSAS-II .pkslst")],
    units: Annotated[str | None, typer.Option(help="q2 | d | 2theta (default: from the file's header, else 2theta)")] = None,
    wavelength: Annotated[float | None, typer.Option(help="Å; default: the file's '# wavelength:' comment, else Cu Kα1")] = None,
    systems: Annotated[str, typer.Option(help="Comma-separated lattice systems to search")] = (
        "cubic,hexagonal,rhombohedral,tetragonal,orthorhombic,monoclinic,triclinic"
    ),
    zero_shift: Annotated[bool, typer.Option("--zero-shift", help="Refine a zero-point shift of 2θ")] = False,
    seed: Annotated[int, typer.Option(help="Seed of every random choice")] = 0,
    time_limit: Annotated[float, typer.Option(help="Seconds for the whole search")] = 60.0,
    n_peaks: Annotated[int, typer.Option(help="Use the first N peaks")] = 20,
    top: Annotated[int, typer.Option(help="Candidates to report")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the ranked candidates as JSON here")] = None,
) -> None:
    """Find and rank the unit cells that index a powder peak list."""
    try:
        peak_list = read_peaks(peaks, units=units, wavelength=wavelength, n_peaks=n_peaks, default_wavelength=CU_KA1)
        config = IndexingConfig(systems=systems, zero_shift=zero_shift, seed=seed, time_limit=time_limit, top=top)
    except (PeakInputError, ValidationError, ValueError) as exc:
        _fail(exc)
    console.print(
        f"{peaks}: {peak_list.n} peaks, λ = {peak_list.wavelength or CU_KA1:.5f} Å"
        + ("" if wavelength or peak_list.wavelength else " (Cu Kα1 assumed)")
    )
    try:
        result = _run_with_progress(peak_list, config)
    except (PeakInputError, ValueError) as exc:
        _fail(exc)
    # Piped output has no terminal width; the full table is still wanted.
    Console(width=None if sys.stdout.isatty() else 160).print(result_table(result))
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2))
        console.print(f"wrote {json_out}")


def _fail(exc: Exception):
    # Plain text, not rich: a terminal-width wrap would split the one-line message.
    typer.echo(f"error: {_one_line(exc)}", err=True)
    raise typer.Exit(2) from None


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc).splitlines()[0]


def _run_with_progress(peak_list, config: IndexingConfig) -> IndexingResult:
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

        return index_peaks(peak_list, config, progress=report)


def result_table(result: IndexingResult) -> Table:
    n = result.candidates[0].figures.n if result.candidates else 20
    table = Table(title=f"{result.source}: {len(result.candidates)} candidates in {result.elapsed:.1f} s "
                        f"({result.trials:,} trials)")
    for col in ("#", "lattice", "a", "b", "c", "α", "β", "γ", "V", f"M{n}", f"F{n}", "indexed", "zero", "score"):
        table.add_column(col, justify="right")
    for i, c in enumerate(result.candidates, 1):
        cell = c.cell
        table.add_row(
            str(i), c.bravais.value,
            f"{cell.a:.4f}", f"{cell.b:.4f}", f"{cell.c:.4f}",
            f"{cell.alpha:.2f}", f"{cell.beta:.2f}", f"{cell.gamma:.2f}",
            f"{cell.volume:.1f}", f"{c.figures.m:.1f}",
            f"{c.figures.f:.1f}({c.figures.mean_abs_dtt:.4f},{c.figures.n_possible})",
            f"{c.n_indexed}/{len(c.indexed)}", f"{c.zero_shift:+.3f}", f"{c.score:.1f}",
        )
    if not result.candidates:
        table.caption = "no cell indexes the peaks within the limits; try --zero-shift, more time or fewer peaks"
    return table

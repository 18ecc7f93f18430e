"""``powdex dataset``: build, import and inspect training datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

dataset_app = typer.Typer(help="Training data for the data-driven indexer.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.0f} entries/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@dataset_app.command()
def build(
    out: Path = typer.Option(..., "--out", help="Dataset directory (created; an existing build with the same seed resumes)."),
    entries: int = typer.Option(..., "--entries", min=1, help="Number of synthetic entries."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes (0: one per core)."),
) -> None:
    """Generate synthetic crystals with patterns and both peak lists, one Parquet dataset per lattice system."""
    import time

    from powdex.training.build import build_synthetic

    with _progress() as progress:
        task = progress.add_task("building", total=entries, rate=0.0)
        start = time.perf_counter()
        done = 0

        def advance(_result, size: int) -> None:
            nonlocal done
            done += size
            progress.update(task, advance=size, rate=done / max(time.perf_counter() - start, 1e-9))

        try:
            written = build_synthetic(out, entries, seed, workers=workers or None, on_chunk=advance)
        except ValueError as error:
            _fail(str(error))
        progress.update(task, completed=entries)
    typer.echo(f"wrote {sum(written.values())} entries to {out} ({dict(sorted(written.items()))})")

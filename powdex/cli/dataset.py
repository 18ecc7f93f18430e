"""``powdex dataset``: build, import and inspect training datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from powdex.cli.errors import fail
from powdex.errors import PowdexError
from powdex.files import check_output_directory

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


@dataset_app.command()
def build(
    out: Path = typer.Option(..., "--out", help="Dataset directory (created; an existing build with the same settings resumes)."),
    entries: int = typer.Option(..., "--entries", min=1, help="Number of synthetic entries."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    system_shares: str = typer.Option(
        "natural",
        "--system-shares",
        help="Entries per lattice system: natural (frequencies of the prior), equal, or e.g. cubic=0.2,hexagonal=0.1 "
        "(unnamed systems share the rest in natural proportion).",
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes (0: one per available core)."),
) -> None:
    """Generate synthetic crystals with patterns and both peak lists, one Parquet dataset per lattice system."""
    import time

    from powdex.training.build import build_synthetic
    from powdex.training.spacegroups import system_shares as parse_shares

    try:
        check_output_directory(out, "--out")
        shares = parse_shares(system_shares)
    except PowdexError as error:
        fail(str(error))
    with _progress() as progress:
        task = progress.add_task("building", total=entries, rate=0.0)
        start = time.perf_counter()
        made = 0

        def advance(size: int, resumed: bool) -> None:
            nonlocal made
            made += 0 if resumed else size
            progress.update(task, advance=size, rate=made / max(time.perf_counter() - start, 1e-9))

        try:
            written = build_synthetic(out, entries, seed, shares, workers=workers or None, on_progress=advance)
        except PowdexError as error:
            fail(str(error))
    typer.echo(f"wrote {sum(written.values())} entries to {out} ({dict(sorted(written.items()))})")


@dataset_app.command("import-cif")
def import_cif(
    folder: Path = typer.Argument(..., exists=True, file_okay=False, help="Directory searched recursively for *.cif (any case)."),
    out: Path = typer.Option(
        ..., "--out", help="Dataset directory to add the accepted entries to (a synthetic build's directory works too)."
    ),
) -> None:
    """Import CIF files as training entries, with quality criteria and duplicate removal; print rejections by reason.

    OUT/cif-import-summary.json holds the counts, OUT/cif-import-rejections.txt one line per rejected block.
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from powdex.training.build import write_by_lattice_system
    from powdex.training.cif_import import import_cif_directory
    from powdex.training.entry import entries_to_table

    try:
        check_output_directory(out, "--out")
    except PowdexError as error:
        fail(error)
    entries, summary = import_cif_directory(folder)
    out.mkdir(parents=True, exist_ok=True)
    if entries:
        write_by_lattice_system(entries_to_table(entries), out, "cif-import")
    (out / "cif-import-summary.json").write_text(
        json.dumps({"read": summary.read, "accepted": summary.accepted, "rejected": dict(summary.rejected)}, indent=2)
    )
    (out / "cif-import-rejections.txt").write_text("".join(f"{line}\n" for line in summary.problems))
    table = Table(title=f"{summary.read} CIF data blocks read, {summary.accepted} accepted")
    table.add_column("rejected because")
    table.add_column("count", justify="right")
    for reason, count in summary.rejected.most_common():
        table.add_row(reason, str(count))
    Console().print(table)
    if summary.problems:
        typer.echo(f"one line per rejected block in {out / 'cif-import-rejections.txt'}")


@dataset_app.command()
def prepare(
    dataset: Path = typer.Argument(..., exists=True, file_okay=False),
    seed: int = typer.Option(0, "--seed"),
    target_per_symbol: int = typer.Option(200, "--target-per-symbol", min=1, help="Augment symbols with fewer entries."),
) -> None:
    """Group, split 80/20 within groups, fit scaling on training data and augment; writes DATASET/prepared/."""
    from powdex.training.prepare import prepare_dataset

    for s in prepare_dataset(dataset, seed, target_per_symbol):
        typer.echo(
            f"{s.system:13s} training {s.training:7d} (+{s.augmented_training} augmented)  "
            f"validation {s.validation:7d} (+{s.augmented_validation} augmented)"
        )


@dataset_app.command()
def stats(
    dataset: Path = typer.Argument(..., exists=True, file_okay=False),
    plots: Path = typer.Option(None, "--plots", help="Folder for the PNG histograms (default DATASET/stats)."),
) -> None:
    """Print entry counts per lattice system and group; draw histograms of cell parameters and peak counts."""
    from rich.console import Console
    from rich.table import Table

    from powdex.training.stats import dataset_counts, draw_histograms

    counts = dataset_counts(dataset)
    if not counts:
        fail(f"{dataset} holds no entries")
    table = Table(title=f"{sum(sum(c.values()) for c in counts.values())} entries in {dataset}")
    for column in ("lattice system", "group", "entries"):
        table.add_column(column, justify="right" if column == "entries" else "left")
    for system, groups in counts.items():
        table.add_row(system, "[b]all[/b]", f"[b]{sum(groups.values())}[/b]")
        for group, n in sorted(groups.items(), key=lambda kv: -kv[1]):
            table.add_row("", group, str(n))
    Console(width=100).print(table)
    for path in draw_histograms(dataset, plots or dataset / "stats"):
        typer.echo(f"wrote {path}")

"""``powdex train`` and ``powdex evaluate-models``: the learned models of the data-driven indexer."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from powdex.cli.errors import fail
from powdex.errors import PowdexError
from powdex.files import check_output_directory, write_atomically

console = Console(stderr=True)


def _prepared(dataset: Path) -> Path:
    """The prepared/ folder of a dataset directory (or the folder itself)."""
    prepared = dataset / "prepared" if (dataset / "prepared").is_dir() else dataset
    if not any(prepared.glob("*.scaling.json")):
        fail(f"no prepared dataset in {dataset}; run 'powdex dataset prepare {dataset}' first")
    return prepared


def _systems(prepared: Path, names: list[str] | None):
    from powdex.crystal import LatticeSystem
    from powdex.models.data import prepared_systems

    available = prepared_systems(prepared)
    if not names:
        return available
    known = [s.value for s in LatticeSystem]
    for name in names:
        if name not in known:
            fail(f"--system: unknown lattice system {name!r}; choose from {', '.join(known)}")
    return [s for s in map(LatticeSystem, names) if s in available]


def train(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset directory after 'powdex dataset prepare'")],
    out: Annotated[Path, typer.Option("--out", help="Directory for <system>.npz/.json, training-log.json and loss plots; a rerun keeps the systems already trained there with the same dataset and settings")],
    system: Annotated[list[str] | None, typer.Option("--system", help="Lattice system to train (repeatable; default: all)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice")] = 0,
    pretraining_cycles: Annotated[int, typer.Option(min=0, help="Variance networks: μ / (α, β) cycles of the network on all of a system's groups (0: each group's starts at random)")] = 20,
    cycles: Annotated[int, typer.Option(min=1, help="Variance networks: μ / (α, β) cycles of each group's network, from the pretrained one")] = 5,
    epochs_per_phase: Annotated[int, typer.Option(min=1, help="Variance networks: epochs of each phase of a cycle")] = 10,
    assignment_epochs: Annotated[int, typer.Option(min=1, help="Assignment networks: epochs")] = 20,
    min_group_entries: Annotated[int, typer.Option(min=1, help="Training entries a group needs for its own regression models")] = 100,
    threads: Annotated[int, typer.Option(min=1, help="PyTorch threads per process (one is fastest for these small networks)")] = 1,
    workers: Annotated[int, typer.Option(min=0, help="Lattice systems trained at once, one process each (0: one per available core)")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto (cuda when present)")] = "auto",
) -> None:
    """Train the regression (variance network + random forest per group) and assignment models of each lattice system.

    Each system's models are written when it finishes; a rerun into the same folder with the same dataset and
    settings trains only the systems an interrupted run had not finished."""
    try:
        import torch
    except ImportError:
        fail("training needs PyTorch: pip install torch==2.13.0 (the CPU build)")
    from powdex.models.train import AssignmentConfig, TrainingConfig, VarianceConfig
    from powdex.optim.executors import available_cores

    prepared = _prepared(dataset)
    try:
        check_output_directory(out, "--out")
    except PowdexError as error:
        fail(error)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    config = TrainingConfig(
        variance=VarianceConfig(pretraining_cycles=pretraining_cycles, cycles=cycles, epochs_per_phase=epochs_per_phase),
        assignment=AssignmentConfig(epochs=assignment_epochs),
        min_group_entries=min_group_entries,
        seed=seed,
        device=device,
    )
    out.mkdir(parents=True, exist_ok=True)
    systems = _systems(prepared, system)
    log_path = out / "training-log.json"
    journal = training_journal(out, config, str(dataset.resolve()))
    logs = {name: record["log"] for name, record in journal.finished().items()}
    for lattice_system in systems:
        if lattice_system.value in logs:
            console.print(f"{lattice_system.value}: kept from the earlier run in {out} (same dataset and settings)")
    systems = [s for s in systems if s.value not in logs]
    # Largest systems first, so that the longest jobs do not start last.
    systems.sort(key=lambda s: -(prepared / f"{s.value}.parquet").stat().st_size)
    workers = max(1, min(workers or available_cores(), len(systems))) if device == "cpu" else 1
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        tasks: dict[str, int] = {}

        def report(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = progress.add_task(task, total=total)
            progress.update(tasks[task], completed=done)

        try:
            for lattice_system, record in _train_systems(prepared, systems, config, out, str(dataset), threads, workers,
                                                         report, journal):
                logs[lattice_system.value] = record["log"]
                # The summary of every finished system, rewritten as each finishes (the journal is what a rerun reads).
                write_training_log(log_path, config, str(dataset.resolve()), logs)
                times = ", ".join(f"{k} {v:.0f} s" for k, v in record["log"]["times_s"].items())
                console.print(f"{lattice_system.value}: {record['groups']} group models; {times}")
        except PowdexError as error:  # the systems finished before it are kept for a rerun
            fail(error)


def _training_log_header(config, dataset: str) -> dict:
    return json.loads(json.dumps({"config": asdict(config), "dataset": dataset}))  # as read back: lists, not tuples


def write_training_log(path: Path, config, dataset: str, logs: dict[str, dict]) -> None:
    """``training-log.json``: the settings, the dataset and each finished system's log, replaced whole."""
    write_atomically(path, json.dumps({**_training_log_header(config, dataset), "systems": logs}, indent=1))


def training_journal(out: Path, config, dataset: str):
    """The journal of ``powdex train`` into ``out`` (``out/training-journal.json``, a record per finished system
    in ``out/trained/``): a rerun with the same dataset and settings keeps its systems; with others it starts
    over.  Settings at their defaults are left out of the fingerprint, so a new option keeps old runs valid."""
    from powdex.models.train import TrainingConfig
    from powdex.optim.journal import Journal

    return Journal(out, {"config": asdict(config), "dataset": dataset},
                   defaults={"config": asdict(TrainingConfig())}, manifest="training-journal.json", records="trained",
                   restart=True)


class _TrainSystem:
    """Train, save and plot one lattice system's models (in a worker process when training in parallel);
    the record for the journal: group models and the training log."""

    def __init__(self, prepared: Path, config, out: Path, dataset: str, threads: int, report):
        self.prepared, self.config, self.out, self.dataset, self.threads, self.report = (
            prepared, config, out, dataset, threads, report)

    def __call__(self, lattice_system) -> dict:
        import torch

        from powdex.models.data import load_system_data
        from powdex.models.store import save_system
        from powdex.models.train import train_system

        torch.set_num_threads(self.threads)
        models, log = train_system(load_system_data(self.prepared, lattice_system), self.config, self.report)
        models.metadata["dataset"] = self.dataset
        save_system(self.out, models)
        plot_training_log(log, self.out / f"{lattice_system.value}-training.png")
        return {"groups": len(models.regression), "log": log}


class _PipeReport:
    """A picklable progress callback for worker processes: (task, done, total) down a pipe to the driver
    (messages this small are written whole even when several workers share the pipe)."""

    def __init__(self, connection):
        self.connection = connection

    def __call__(self, task: str, done: int, total: int) -> None:
        self.connection.send((task, done, total))


def _train_systems(prepared, systems, config, out, dataset, threads, workers, report, journal):
    """(system, record) per lattice system as each finishes, recorded in ``journal``; in ``workers`` processes
    when > 1, which die with this process however it ends.

    Each system's training is seeded from (seed, system) alone, so the weights do not depend on
    how many systems train at once.
    """
    import multiprocessing
    import threading

    from powdex.optim.executors import InProcess, LocalProcesses
    from powdex.optim.parallel import parallel_map

    if workers <= 1:
        yield from parallel_map(_TrainSystem(prepared, config, out, dataset, threads, report), systems,
                                executor=InProcess(), journal=journal, key=lambda s: s.value)
        return
    reader, writer = multiprocessing.Pipe(duplex=False)

    def relay() -> None:
        for message in iter(reader.recv, None):
            report(*message)

    relaying = threading.Thread(target=relay, name="powdex-training-progress", daemon=True)
    relaying.start()
    try:
        yield from parallel_map(_TrainSystem(prepared, config, out, dataset, threads, _PipeReport(writer)), systems,
                                executor=LocalProcesses(workers, chunk_size=1), journal=journal, key=lambda s: s.value)
    finally:
        writer.send(None)
        relaying.join()


def plot_training_log(log: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (regression, assignment) = plt.subplots(1, 2, figsize=(10, 3.6))
    for columns, entry in log["pretraining"].items():
        pretraining = [h["epoch"] for h in entry["history"]]
        regression.plot(pretraining, [h["validation"] for h in entry["history"]], "k", lw=1.5, label=f"all groups {columns}")
    for group, entry in log["regression"].items():
        epochs = [pretraining[-1] + h["epoch"] for h in entry["history"]]
        regression.plot(epochs, [h["validation"] for h in entry["history"]], lw=0.8, label=group)
    regression.set(
        title=f"{log['system']}: variance networks", xlabel="epoch (pretraining on all groups, then each group's own)",
        ylabel="validation NLL (uncalibrated)",
    )
    if 0 < len(log["regression"]) <= 8:
        regression.legend(fontsize=6)
    history = log["assignment"]["history"]
    epochs = [h["epoch"] for h in history]
    assignment.plot(epochs, [h["training"] for h in history], label="training")
    assignment.plot(epochs, [h["validation"] for h in history], label="validation")
    assignment.set(title=f"{log['system']}: assignment", xlabel="epoch", ylabel="cross-entropy")
    assignment.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_models(
    dataset: Annotated[Path, typer.Option("--dataset", help="Prepared dataset whose validation entries are used")],
    out: Annotated[Path, typer.Option("--out", help="Directory for evaluation.json, evaluation.md and reliability.png")],
    models: Annotated[Path | None, typer.Option("--models", help="Model directory (default: the shipped models)")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", help="Lattice system (repeatable; default: all)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise added to the true cells")] = 0,
) -> None:
    """Regression errors and calibration, forest/network disagreement, assignment accuracy against the baseline."""
    from powdex.models.data import load_system_data
    from powdex.models.evaluate import (
        evaluate_assignment,
        evaluate_regression,
        plot_reliability,
    )
    from powdex.models.store import SHIPPED, load_system, shipped_systems

    prepared = _prepared(dataset)
    try:
        check_output_directory(out, "--out")
    except PowdexError as error:
        fail(error)
    directory = models or SHIPPED
    trained = set(shipped_systems(directory))
    regression_rows, assignment_rows = [], []
    for lattice_system in _systems(prepared, system):
        if lattice_system not in trained:
            console.print(f"{lattice_system.value}: no models in {directory}")
            continue
        try:
            system_models = load_system(lattice_system, directory)
        except PowdexError as error:
            fail(error)
        data = load_system_data(prepared, lattice_system)
        regression_rows += evaluate_regression(system_models, data)
        assignment_rows += evaluate_assignment(system_models, data, seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(
        json.dumps({"regression": [asdict(r) for r in regression_rows], "assignment": [asdict(r) for r in assignment_rows]}, indent=1)
    )
    if regression_rows:
        plot_reliability(regression_rows, out / "reliability.png")
    tables = [
        _table(
            "Regression (validation, unaugmented)",
            ["system", "parameter", "entries", "median rel. error (net)", "median rel. error (forest)", "within 1σ", "within 2σ", "forest ≠ net",
             "short lists: entries", "short: median rel. error (net)", "short: within 2σ"],
            [
                [r.system, r.parameter, r.entries, f"{r.network_median_relative_error:.1%}", f"{r.forest_median_relative_error:.1%}",
                 f"{r.within_1_sigma:.1%}", f"{r.within_2_sigma:.1%}", f"{r.forest_network_disagreement:.1%}", r.short_list_entries,
                 f"{r.short_list_network_median_relative_error:.1%}", f"{r.short_list_within_2_sigma:.1%}"]
                for r in regression_rows
            ],
        ),
        _table(
            "Assignment top-1 accuracy (validation, unaugmented)",
            ["system", "candidate cells", "entries", "network", "nearest reference", "peaks only network / only baseline right",
             "network errors (at an overlapping line)"],
            [
                [r.system, r.cells, r.entries, f"{r.network_accuracy:.2%}", f"{r.baseline_accuracy:.2%}",
                 f"{r.errors.network_wins} / {r.errors.network_losses}", f"{r.errors.network_errors} ({r.errors.errors_at_overlapping_lines})"]
                for r in assignment_rows
            ],
        ),
    ]
    (out / "evaluation.md").write_text("\n\n".join(markdown for markdown, _ in tables) + "\n")
    for _, table in tables:
        Console().print(table)


def _table(title: str, header: list[str], rows: list[list]) -> tuple[str, Table]:
    """The same table as Markdown (for the model card) and as a rich table (for the terminal)."""
    table = Table(title=title)
    for name in header:
        table.add_column(name)
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        table.add_row(*map(str, row))
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines), table

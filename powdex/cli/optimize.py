"""``powdex optimize`` and ``powdex map``: the ensemble engine from the shell,
on a named test function or on the user's own objective (``module:name``)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import NoReturn

import typer

from powdex.cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, OptionError, fail
from powdex.cli.options import ExecutorName
from powdex.errors import PowdexError
from powdex.files import check_output_file
from powdex.optim.registry import executor_from_name
from powdex.optim.testfunctions import TEST_FUNCTIONS

# The command ran, but no run reached an answer: not bad input (2), yet no success either.
EXIT_NO_RESULT = 1
# Above this estimate, ``map`` says how long the true surface will take before computing it.
ANNOUNCED_SECONDS = 30.0


FUNCTION = typer.Argument(..., help=(
    f"Objective: a test function ({', '.join(TEST_FUNCTIONS)}) or module:name, an Objective or a function "
    "of no arguments returning one, importable from the current directory. module:name imports and runs "
    "that module's code, in this process and in every worker: name only code you trust."
))
CONFIG = typer.Option(None, "--config", help=(
    "TOML file with a \\[fitting] section (example below). Default: spa wrapping lbfgs, 25 runs, "
    "for an objective with finite bounds; one lbfgs run from its start point otherwise."
))
STORE = typer.Option(None, "--store", help="Results store: SQLite path or SQLAlchemy URL; a rerun resumes.")
SEED = typer.Option(None, "--seed", help="Ensemble seed (overrides the config's).")
EXECUTOR = typer.Option(ExecutorName.inprocess, "--executor", help="Where local runs execute.")
SCHEDULER = typer.Option(None, "--scheduler", help="dask scheduler address; without it a loopback cluster is started.")
WORKERS = typer.Option(None, "--workers", min=1, help="Worker processes (default: one per core).")


# Square brackets escaped: typer renders help as rich markup.
CONFIG_EXAMPLE = """\b
Configuration (--config fit.toml), atomicrex's <fitting> block in TOML:
    \\[fitting]
    output_interval = 100      # status line every 100 iterations of a run
    \\[fitting.minimizer]        # spa: random starts within the bounds
    kind = "spa"               # or sobol / lhs (designs), lbfgs, dogleg,
    max_iter = 25              # trust-exact, nlopt (one run)
    seed = 120815
    \\[fitting.minimizer.minimizer]
    kind = "lbfgs"
    conv_threshold = 1e-10
    max_iter = 50
"""


def default_config(objective):
    """Spa wrapping L-BFGS where starts can be drawn within finite bounds; one
    L-BFGS run from the objective's start point where they cannot."""
    from powdex.optim import LBFGS, FittingConfig, Spa

    if objective.bounds.finite:
        return FittingConfig(minimizer=Spa(minimizer=LBFGS()))
    typer.echo(f"objective '{objective.name}' has no finite bounds: one lbfgs run from its start point "
               "(an ensemble needs bounds and a --config; see --help)", err=True)
    return FittingConfig(minimizer=LBFGS())


def _setup(objective, config: Path | None, seed: int | None, runs: int | None, sense: str | None = None):
    from powdex.optim import load_config

    fitting = load_config(config) if config else default_config(objective)
    strategy = fitting.strategy()
    if seed is not None:
        strategy = strategy.model_copy(update={"seed": seed})
    if runs is not None:
        strategy = strategy.with_count(runs)
    if sense is not None:
        strategy = strategy.model_copy(update={"sense": sense})
    return fitting, strategy


def fail_in_user_code(error: PowdexError) -> NoReturn:
    """One ``error:`` line, then the user's own traceback frames where their code failed."""
    from powdex.optim.errors import UserCodeError

    if isinstance(error, UserCodeError):
        typer.echo(f"error: {error}", err=True)
        typer.echo(error.user_traceback, err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    fail(error)


def fail_without_result(ensemble) -> NoReturn:
    """Exit non-zero when no run reached a finite value within the bounds, naming why the first failed."""
    first = next((result for result in ensemble.results if not result.success), None)
    why = f"; run {first.run_index}: {first.message}" if first is not None else ""
    typer.echo(f"error: none of the {len(ensemble.results)} runs reached a finite value within the bounds{why}",
               err=True)
    raise typer.Exit(EXIT_NO_RESULT)


class _CheckedProgress:
    """The progress display, also looking at the Ctrl-C latch as each run arrives (a safe point, after the run
    is stored): a KeyboardInterrupt that a finalizer swallowed (SQLAlchemy and the pool free objects in
    weakref callbacks) still ends the ensemble there instead of letting it run to the end."""

    def __init__(self, display, latch):
        self.display, self.latch = display, latch

    def start(self, total: int, done: int) -> None:
        self.display.start(total, done)

    def update(self, result, best, new_best: bool) -> None:
        self.display.update(result, best, new_best)
        self.latch.check()

    def finish(self) -> None:
        self.display.finish()


def _run(objective, fitting, strategy, executor, scheduler, workers, store, time_limit=None):
    """The ensemble; a Ctrl-C ends the command with what was kept and how to resume."""
    from powdex.cli.interrupts import InterruptLatch
    from powdex.optim import ResultsStore, RichProgress, run_ensemble
    from powdex.optim.ensemble import default_study_name

    with ExitStack() as stack:
        results_store = stack.enter_context(ResultsStore(store)) if store else None
        try:
            with InterruptLatch() as latch, latch.raising():
                return run_ensemble(
                    objective, strategy,
                    executor=executor_from_name(executor.value, workers=workers, scheduler=scheduler),
                    store=results_store, progress=_CheckedProgress(RichProgress(), latch),
                    output_interval=fitting.output_interval, time_limit=time_limit,
                )
        except KeyboardInterrupt:
            if results_store is None:
                typer.echo("interrupted: no --store, so no run was kept", err=True)
            else:
                study = default_study_name(objective, strategy)
                typer.echo(f"interrupted: {results_store.count(study)} runs of study '{study}' are in {store}; "
                           "the same command resumes", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None


def optimize(
    function: str = FUNCTION, config: Path = CONFIG, store: str = STORE, seed: int = SEED,
    executor: ExecutorName = EXECUTOR, scheduler: str = SCHEDULER, workers: int = WORKERS,
    runs: int = typer.Option(None, "--runs", min=1, help="Number of local runs (overrides spa max_iter / design runs)."),
    export: Path = typer.Option(None, "--export", help="Also write the study's runs to this .csv or .parquet file."),
    time_limit: float = typer.Option(None, "--time-limit", min=0, help=(
        "Seconds after which no run is started (those running finish); with --store the same command "
        "runs the rest, e.g. in a batch job's next slot.")),
) -> None:
    """Minimize an objective with an ensemble of local optimizations.

    Each run is written to --store as it ends; the same command run again
    resumes where an interrupted or time-limited one stopped.
    """
    from powdex.optim import ResultsStore, load_objective
    from powdex.optim.store import EXPORT_FORMATS

    try:
        # Refused before the run, not after it.
        if export and not store:
            raise OptionError("--export needs --store: runs are exported from the store")
        if export:
            check_output_file(export, "--export")
            if export.suffix not in EXPORT_FORMATS:
                raise OptionError(f"--export: unknown format '{export.suffix}'; use {' or '.join(EXPORT_FORMATS)}")
        objective = load_objective(function)
        fitting, strategy = _setup(objective, config, seed, runs)
        if not fitting.enabled:
            typer.echo("fitting is disabled in the configuration; nothing to do")
            return
        ensemble = _run(objective, fitting, strategy, executor, scheduler, workers, store, time_limit)
        if export:
            with ResultsStore(store) as results_store:
                results_store.export(ensemble.study, export)
    except PowdexError as error:
        fail_in_user_code(error)
    except OSError as error:
        fail(error)
    best = ensemble.best
    failed = sum(not result.success for result in ensemble.results)
    typer.echo(f"{len(ensemble.results)} runs ({ensemble.executed} executed now) in {ensemble.wall_time:.2f} s")
    if ensemble.unfinished:
        rest = "the same command runs them" if store else "without --store a rerun starts over"
        typer.echo(f"time limit reached: {ensemble.unfinished} runs not started; {rest}")
    if failed:
        typer.echo(f"{failed} runs ended without success (status and message are in the results)")
    if store:
        typer.echo(f"study '{ensemble.study}' in {store}")
    if best is None:
        if ensemble.results:
            fail_without_result(ensemble)
        typer.echo("best: none (no run finished)")
    else:
        typer.echo(f"best {best.value:.10g} at run {best.run_index}: x = {best.x.tolist()}")


def map_surface(
    function: str = FUNCTION, config: Path = CONFIG, store: str = STORE, seed: int = SEED,
    executor: ExecutorName = EXECUTOR, scheduler: str = SCHEDULER, workers: int = WORKERS,
    runs: list[int] = typer.Option([16, 32, 128], "--runs", min=2, help="Map from the first N runs; repeat for panels."),
    out: Path = typer.Option(Path("surface.png"), "--out", help="PNG with one map per --runs."),
    resolution: int = typer.Option(121, "--resolution", min=11, help="Grid points per axis."),
) -> None:
    """Map a two-parameter response surface from minimum and maximum searches."""
    from powdex.optim import load_objective
    from powdex.optim.surface import (
        check_image_path,
        evaluate_on_grid,
        grid_cost,
        plot_maps,
    )
    from powdex.optim.surface import map_surface as interpolate

    try:
        check_output_file(out, "--out")
        check_image_path(out, "--out")
        objective = load_objective(function)
        # Refuses objectives that are no two-parameter box, and grids too large for memory, before any run.
        _, seconds = grid_cost(objective, objective.bounds, resolution, maps=len(runs))
        if seconds > ANNOUNCED_SECONDS:
            typer.echo(f"the true surface on a {resolution} x {resolution} grid takes about {seconds / 60:.3g} min "
                       "of objective evaluations (a smaller --resolution is quicker)", err=True)
        fitting, strategy = _setup(objective, config, seed, max(runs), sense="both")
        if not fitting.enabled:
            typer.echo("fitting is disabled in the configuration; nothing to do")
            return
        truth = evaluate_on_grid(objective, objective.bounds, resolution)
        ensemble = _run(objective, fitting, strategy, executor, scheduler, workers, store)
        if ensemble.best is None and ensemble.results:
            fail_without_result(ensemble)
        maps = [interpolate(ensemble.results[:count], objective.bounds, resolution) for count in sorted(runs)]
    except PowdexError as error:
        fail_in_user_code(error)
    except OSError as error:
        fail(error)
    errors = [surface.rms_error(truth) for surface in maps]
    plot_maps(maps, out, truth=truth, errors=errors)
    typer.echo("local runs  (min + max)  points  RMS error")
    for surface, error in zip(maps, errors):
        typer.echo(f"{surface.runs:10d}  ({surface.runs // 2} + {surface.runs - surface.runs // 2}) {len(surface.points):8d}  {error:.4g}")
    typer.echo(f"wrote {out}")

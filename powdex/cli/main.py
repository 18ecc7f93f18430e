"""Entry point of the ``powdex`` command: one typer app, one module per command group."""

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from importlib import import_module

import typer
from typer.core import TyperGroup


@dataclass(frozen=True)
class Command:
    """A command, imported only when it runs or its own help is asked for: ``attribute`` of ``module`` is the
    command function (or a ``typer.Typer`` group); ``epilog`` names the module's attribute shown after its help.
    ``summary`` is what ``powdex --help`` lists; a test holds it equal to the first line of the command's help."""

    module: str
    attribute: str
    summary: str
    epilog: str | None = None


# In the order ``powdex --help`` lists them.
COMMANDS = {
    "index": Command("powdex.cli.index", "index", "Find and rank the unit cells that index powder peak lists."),
    "optimize": Command("powdex.cli.optimize", "optimize",
                        "Minimize an objective with an ensemble of local optimizations.", epilog="CONFIG_EXAMPLE"),
    "map": Command("powdex.cli.optimize", "map_surface",
                   "Map a two-parameter response surface from minimum and maximum searches.", epilog="CONFIG_EXAMPLE"),
    "train": Command("powdex.cli.models", "train", "Train the regression (variance network + random forest per "
                     "group) and assignment models of each lattice system."),
    "evaluate-models": Command("powdex.cli.models", "evaluate_models", "Regression errors and calibration, "
                               "forest/network disagreement, assignment accuracy against the baseline."),
    "peaks": Command("powdex.cli.peaks", "peaks",
                     "Pick the Kα1 peaks of a measured pattern (Kα2 stripped) and write them as a peak list."),
    "refine": Command("powdex.cli.refine", "refine",
                      "Refine a cell against a measured pattern by a Pawley or Le Bail whole-pattern fit."),
    "calibrate": Command("powdex.cli.calibrate", "calibrate",
                         "Calibrate the instrument on a scan of a standard: zero, displacement, profile and asymmetry."),
    "series": Command("powdex.cli.series", "series", "Refine every pattern seeded from its refined neighbour; "
                      "a degraded fit falls back to an ensemble."),
    "dataset": Command("powdex.cli.dataset", "dataset_app", "Training data for the data-driven indexer."),
}


def load_command(name: str):
    """The click command ``name``, built by typer from its module (imported now)."""
    command = COMMANDS[name]
    module = import_module(command.module)
    target = getattr(module, command.attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    single.command(name, epilog=getattr(module, command.epilog) if command.epilog else None)(target)
    return typer.main.get_command(single)


class _LoadedOnDemand(MutableMapping):
    """The group's command table: every name of ``COMMANDS``, each command loaded when first looked up."""

    def __init__(self) -> None:
        self.loaded: dict = {}

    def __getitem__(self, name: str):
        if name not in self.loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self.loaded[name] = load_command(name)
        return self.loaded[name]

    def __setitem__(self, name: str, command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class LazyCommands(TyperGroup):
    """The top-level group: a command's module (numpy, rich's progress bars, the models...) is imported only
    when that command is used, and ``powdex --help`` lists the commands from their summaries, in plain text,
    without importing any of them (or rich's help renderer)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.commands = _LoadedOnDemand()

    def format_commands(self, ctx, formatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.summary) for name, command in COMMANDS.items()])


app = typer.Typer(
    name="powdex",
    cls=LazyCommands,
    help="Index powder diffraction patterns and run ensemble optimizations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help for the top level: rich's renderer costs a fifth of a second; each command keeps its own.
    rich_markup_mode=None,
)

EXIT_BUG = 70  # EX_SOFTWARE (sysexits.h): an internal error, not the user's input


def _show_version(value: bool) -> None:
    if value:
        from powdex import __version__

        typer.echo(f"powdex {__version__}")
        raise typer.Exit()


@app.callback()
def _top_level(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version of powdex and exit."
    ),
) -> None:
    """Index powder diffraction patterns and run ensemble optimizations."""


def main() -> None:
    """The ``powdex`` command.  Typer's own refusals (an option value out of
    range, a missing argument) come as one ``error:`` line like powdex's,
    instead of a boxed panel.  A ``PowdexError`` that a command did not catch
    is bad input or a setting that cannot work: one ``error:`` line, exit 2.
    Anything else is a bug in powdex: its traceback is shown, with a request
    to report it, and the exit status is 70."""
    import sys

    from powdex.errors import PowdexError

    try:
        code = app(standalone_mode=False)
    except PowdexError as error:
        from powdex.cli.errors import EXIT_BAD_INPUT, one_line

        typer.echo(f"error: {one_line(error)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except typer.TyperException as error:
        text = error.format_message()
        # A bare ``powdex`` (or group) shows its help through the same exception: many lines, kept whole.
        typer.echo(text if "\n" in text else f"error: {text}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    except Exception:
        import traceback

        from powdex import __version__

        traceback.print_exc()
        typer.echo(
            f"error: an internal error in powdex {__version__} (the traceback above); this is a bug, "
            "please report it with that traceback and the command you ran",
            err=True,
        )
        sys.exit(EXIT_BUG)
    sys.exit(code if isinstance(code, int) else 0)

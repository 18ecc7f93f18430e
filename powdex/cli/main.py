"""Entry point of the ``powdex`` command: one typer app, one module per command group."""

import typer

app = typer.Typer(
    name="powdex",
    help="Index powder diffraction patterns and run ensemble optimizations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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

from powdex.cli.index import index  # noqa: E402

app.command("index")(index)

from powdex.cli.dataset import dataset_app  # noqa: E402

app.add_typer(dataset_app, name="dataset")

from powdex.cli.optimize import CONFIG_EXAMPLE, map_surface, optimize  # noqa: E402

app.command("optimize", epilog=CONFIG_EXAMPLE)(optimize)
app.command("map", epilog=CONFIG_EXAMPLE)(map_surface)

from powdex.cli.models import evaluate_models, train  # noqa: E402

app.command("train")(train)
app.command("evaluate-models")(evaluate_models)

from powdex.cli.peaks import peaks  # noqa: E402

app.command("peaks")(peaks)

from powdex.cli.refine import refine  # noqa: E402

app.command("refine")(refine)

from powdex.cli.calibrate import calibrate  # noqa: E402

app.command("calibrate")(calibrate)

from powdex.cli.series import series  # noqa: E402

app.command("series")(series)


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

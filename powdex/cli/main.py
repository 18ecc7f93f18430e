"""Entry point of the ``powdex`` command: one typer app, one module per command group."""

import typer

app = typer.Typer(
    name="powdex",
    help="Index powder diffraction patterns and run ensemble optimizations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

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


def main() -> None:
    """The ``powdex`` command.  Typer's own refusals (an option value out of
    range, a missing argument) come as one ``error:`` line like powdex's,
    instead of a boxed panel."""
    import sys

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:
        text = error.format_message()
        # A bare ``powdex`` (or group) shows its help through the same exception: many lines, kept whole.
        typer.echo(text if "\n" in text else f"error: {text}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

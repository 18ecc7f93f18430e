"""How a powdex command refuses bad input: one plain line on stderr,
``error: <what>: <problem>``, and exit status 2 — never a traceback.

Outputs are checked before the work starts (``powdex.files.check_output_file``),
so that an hour of indexing or optimization is never lost to a typo in the name
of the file it ends with.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from powdex.errors import PowdexError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class OptionError(PowdexError):
    """Command-line options that cannot work together."""


def one_line(error: Exception | str) -> str:
    # pydantic is not imported for this: where it was never imported, no error can be its ValidationError.
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def fail(error: Exception | str) -> NoReturn:
    # Plain text, not rich: a terminal-width wrap would split the one-line message.
    typer.echo(f"error: {one_line(error)}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT) from None

"""How a powdex command refuses bad input: one plain line on stderr,
``error: <what>: <problem>``, and exit status 2 — never a traceback.

Outputs are checked before the work starts, so that an hour of indexing or
optimization is never lost to a typo in the name of the file it ends with.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError

from powdex.errors import PowdexError
from powdex.files import write_atomically  # noqa: F401  (the commands' one atomic write)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class OutputError(PowdexError, ValueError):
    """An output path where nothing can be written (a ValueError too, for callers that still catch that)."""


def one_line(error: Exception | str) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def fail(error: Exception | str) -> NoReturn:
    # Plain text, not rich: a terminal-width wrap would split the one-line message.
    typer.echo(f"error: {one_line(error)}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT) from None


def check_output_file(path: Path, option: str) -> None:
    """Raise OutputError unless a file can be written at ``path``: not a
    directory, in an existing directory where this process may create files
    (tried for real: permission bits say nothing to root or on a read-only
    file system)."""
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a directory; give a file name")
    check_output_directory(path.parent, f"{option} {path}", existing=True)


def check_output_directory(directory: Path, option: str, existing: bool = False) -> None:
    """Raise OutputError unless files can be created in ``directory`` (or, when
    it does not exist yet and ``existing`` is false, in its nearest existing parent)."""
    probe_in = directory
    if not existing:
        while not probe_in.exists() and probe_in != probe_in.parent:
            probe_in = probe_in.parent
    if not probe_in.exists():
        raise OutputError(f"{option}: directory {directory} does not exist")
    if not probe_in.is_dir():
        raise OutputError(f"{option}: {probe_in} is a file, not a directory")
    try:
        handle, name = tempfile.mkstemp(dir=probe_in, prefix=".powdex-write-test-")
    except OSError as error:
        raise OutputError(f"{option}: cannot write in {probe_in} ({error.strerror or error})") from None
    os.close(handle)
    os.unlink(name)



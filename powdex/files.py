"""Files powdex writes: checked before the work, written whole or not at all.

Outputs are checked before a long run starts, so that an hour of indexing or
optimization is never lost to a typo in the name of the file it ends with; and
every result is written through a new file renamed over the old one, so that a
run killed while writing leaves no truncated result for the rerun to trust.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from powdex.errors import PowdexError


class OutputError(PowdexError):
    """An output path where nothing can be written."""


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a new file, flushed to disk and
    renamed over it.  The temporary file is created exclusively under a random
    name, so a file or link planted in the directory is never written through."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide results from the rest of the team
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.encode() if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        # A Ctrl-C or SIGTERM raised at once can land just after the rename: the partial file is gone then, and
        # the interrupt, not a missing file, is what goes on.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


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

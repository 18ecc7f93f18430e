"""Files powdex writes: whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a new file renamed over it: a run
    killed while writing must not leave a truncated result that the rerun
    would trust.  The temporary file is created exclusively under a random
    name, so a file or link planted in the directory is never written through."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide results from the rest of the team
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.encode() if isinstance(content, str) else content)
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise

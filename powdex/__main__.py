"""``python -m powdex``: the ``powdex`` command, for environments without its script on PATH."""

from powdex.cli.main import app

app(prog_name="powdex")

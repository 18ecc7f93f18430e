"""``python -m powdex``: the ``powdex`` command, for environments without its script on PATH."""

from powdex.cli.main import main

main()

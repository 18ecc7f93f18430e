"""The error a training dataset or its settings give when they cannot be used."""

from powdex.errors import PowdexError


class DatasetError(PowdexError):
    """A dataset directory or build setting that cannot be used (a folder holding another build, a share
    specification that does not parse); the message is one line naming it."""

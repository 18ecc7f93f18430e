"""The error types users of the engine catch: bad settings, and a results store that cannot be used."""

from powdex.errors import PowdexError


class ConfigError(PowdexError, ValueError):
    """A setting that cannot work: unknown algorithm, bad value, missing bounds.

    The message is one line, starting with the dotted location of the setting
    (``fitting.minimizer.algorithm: ...``) when there is one.
    """


class StoreError(PowdexError, ValueError):
    """A results store that cannot be opened or written: a missing folder, an
    unknown URL scheme, an unreachable server.  The message is one line naming
    the store."""

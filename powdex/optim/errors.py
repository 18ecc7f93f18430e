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


class UserCodeError(ConfigError):
    """The user's own code (an objective module or its factory) raised or does
    not compile.  The message is one line; ``user_traceback`` holds the lines
    of their traceback that are in their files, for them to see which of
    their lines failed."""

    def __init__(self, message: str, user_traceback: str):
        super().__init__(message)
        self.user_traceback = user_traceback

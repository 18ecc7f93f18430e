"""The one error type users of the engine need to catch for bad settings."""


class ConfigError(ValueError):
    """A setting that cannot work: unknown algorithm, bad value, missing bounds.

    The message is one line, starting with the dotted location of the setting
    (``fitting.minimizer.algorithm: ...``) when there is one.
    """

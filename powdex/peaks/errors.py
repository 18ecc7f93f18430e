"""The error of unusable peak or pattern input."""

from powdex.errors import PowdexError


class PeakInputError(PowdexError, ValueError):
    """Peak or pattern input that cannot be used; the message is one line
    naming the source (and line, where there is one) and the problem."""

"""The one base exception of powdex.

Every error that powdex raises on purpose (bad input, a setting that cannot
work, a store or file that cannot be used) derives from ``PowdexError`` and
carries a one-line message meant for the user.  Anything else that escapes
powdex is a bug: the command line shows its traceback and asks for a report,
instead of dressing it as bad input.

This module imports nothing, so every layer may use it.
"""


class PowdexError(Exception):
    """Base of the errors powdex raises on purpose; the message is one line for the user."""

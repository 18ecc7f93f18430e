"""The error whole-pattern refinement raises on input it cannot fit."""

from powdex.errors import PowdexError


class RefinementError(PowdexError):
    """A cell, space group or pattern that cannot be refined; one line for the user."""

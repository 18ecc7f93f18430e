"""The error the learned models give when they cannot be loaded, saved or trained."""

from powdex.errors import PowdexError


class ModelError(PowdexError):
    """Model files that are missing or unreadable, training data too small to train a model on, or a training
    that diverged; the message is one line naming the file or lattice system and the problem."""

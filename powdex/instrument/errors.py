from powdex.errors import PowdexError


class InstrumentFileError(PowdexError):
    """An instrument file (or instrument description) that cannot be used."""

"""What the format modules share: the refusal to drop a term a format cannot hold."""

from __future__ import annotations

from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.model import Instrument


def refuse_constant_lorentzian(instrument: Instrument, profile: str) -> None:
    """Raise where ``instrument`` has a constant Lorentzian term Z that ``profile`` (a format's profile
    function, named for the message) has no place for: written without it, the file would describe
    another instrument, with every Lorentzian width Z narrower."""
    if instrument.Z != 0.0:
        raise InstrumentFileError(f"{profile} has no constant Lorentzian term for the instrument's Z = "
                                  f"{instrument.Z:.6g}°; write .instprm or instrument.toml, which hold it")

"""What the format modules share: the geometry of a file that does not state it, and the refusal to drop a
term a format cannot hold."""

from __future__ import annotations

from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.model import Instrument


def geometry_of_wavelengths(wavelengths: tuple[float, ...]) -> str:
    """The geometry of an instrument file that does not state one, as GSAS-II's importer assumes it: a Kα
    doublet is a laboratory Bragg–Brentano diffractometer, one wavelength a capillary or can in a synchrotron
    or neutron beam (Debye–Scherrer)."""
    return "bragg-brentano" if len(wavelengths) == 2 else "debye-scherrer"


def refuse_constant_lorentzian(instrument: Instrument, profile: str) -> None:
    """Raise where ``instrument`` has a constant Lorentzian term Z that ``profile`` (a format's profile
    function, named for the message) has no place for: written without it, the file would describe
    another instrument, with every Lorentzian width Z narrower."""
    if instrument.Z != 0.0:
        raise InstrumentFileError(f"{profile} has no constant Lorentzian term for the instrument's Z = "
                                  f"{instrument.Z:.6g}°; write .instprm or instrument.toml, which hold it")

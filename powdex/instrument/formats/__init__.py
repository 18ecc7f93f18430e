"""Instrument files in and out, one module per format, chosen by the file's suffix.

Every reader returns an ``Instrument`` in powdex's units; every writer takes
one.  What a format cannot hold (transparency in an ``.instprm``, a second
wavelength in a neutron ``.irf``, the Kβ/Kα1 ratio in any but
``instrument.toml``...) is left out on writing and named in the
instrument's ``notes`` on reading where the file says something powdex does
not model.  What would change the profile is refused instead: a constant
Lorentzian term Z, which GSAS's and FullProf's profiles lack.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from powdex.files import write_atomically
from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.formats import fullprof_irf, gsas_prm, gsasii_instprm
from powdex.instrument.model import Instrument

Reader = Callable[[str, str], Instrument]
Writer = Callable[[Instrument], str]

FORMATS: dict[str, tuple[Reader, Writer]] = {
    ".toml": (lambda text, source: Instrument.from_toml(text, source), Instrument.to_toml),
    ".instprm": (gsasii_instprm.read, gsasii_instprm.write),
    ".prm": (gsas_prm.read, gsas_prm.write),
    ".irf": (fullprof_irf.read, fullprof_irf.write),
}


def _format_of(path: Path) -> tuple[Reader, Writer]:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InstrumentFileError(f"{path}: unknown instrument file type {suffix or '(no suffix)'}; "
                                  f"known: {', '.join(FORMATS)}")
    return FORMATS[suffix]


def read_instrument(path: str | Path) -> Instrument:
    path = Path(path)
    reader, _ = _format_of(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InstrumentFileError(f"{path}: cannot read ({error.strerror or error})") from None
    return reader(text, str(path))


def write_instrument(instrument: Instrument, path: str | Path) -> None:
    """Write ``instrument`` to ``path`` in the format of its suffix, or raise, naming ``path``, where the
    format cannot hold it (nothing is written then)."""
    path = Path(path)
    _, writer = _format_of(path)
    try:
        text = writer(instrument)
    except InstrumentFileError as error:
        raise InstrumentFileError(f"{path}: {error}") from None
    write_atomically(path, text)


__all__ = ["FORMATS", "read_instrument", "write_instrument"]

"""Reading a measured pattern from any known file format, and settling its radiation."""

from __future__ import annotations

import logging
from dataclasses import replace
from os import PathLike
from pathlib import Path

from powdex.patterns.formats import format_of
from powdex.patterns.formats.common import MONOCHROMATIC
from powdex.patterns.pattern import Pattern
from powdex.patterns.radiation import tube_lines, tube_of_k_alpha1

logger = logging.getLogger(__name__)


def read_pattern(path: str | PathLike, *, wavelength: float | None = None, anode: str | None = None) -> Pattern:
    """Read the one measured pattern in ``path``, whatever its format.

    The format is recognised by content and suffix (see
    :mod:`powdex.patterns.formats`).  The wavelengths and Kα2/Kα1 ratio come
    from the file where it has them; ``anode`` ('Cu', 'Co', 'Mo', 'Fe',
    'Cr', 'Ag') names the tube, giving its Kα1/Kα2 lines at ratio 1/2;
    ``wavelength`` (Å) sets the main line.  Either overrides the file with a
    note.  A single X-ray wavelength that is a tube's Kα1 (a lab file that
    names only λ, or ``wavelength=1.5406``) is taken to come with that tube's
    Kα2, with a note, unless the file says its beam is Kα1 only: unmonochromated lab data far outnumber Kα1-only data,
    and stripping an absent Kα2 costs little.  Problems raise
    :class:`powdex.peaks.PeakInputError` with one line naming the file.
    """
    path = Path(path)
    source = str(path)
    pattern = format_of(path, source).read(path, source)
    logger.debug("%s: %d points read", source, len(pattern))
    return with_radiation(pattern, wavelength=wavelength, anode=anode)


def with_radiation(pattern: Pattern, *, wavelength: float | None = None, anode: str | None = None) -> Pattern:
    """``pattern`` with the lines that ``anode`` and ``wavelength`` say (see :func:`read_pattern`)."""
    notes = list(pattern.notes)
    wavelengths, ratio = pattern.wavelengths, pattern.ratio
    if anode is not None:
        tube = tube_lines(anode)
        if wavelengths and tube_of_k_alpha1(wavelengths[0]) is not tube:
            notes.append(f"{tube.anode} tube lines as given, not λ = {wavelengths[0]} Å as the file says")
        wavelengths, ratio = (tube.k_alpha1, tube.k_alpha2), tube.ratio
    if wavelength is not None:
        if not wavelength > 0:
            raise ValueError(f"wavelength must be a positive number of Å, got {wavelength}")
        if wavelengths and abs(wavelength - wavelengths[0]) > 1e-6 * wavelength:
            notes.append(f"wavelength {wavelength} Å as given, not {wavelengths[0]} Å as the file says")
        # A tube's Kα2 stays where it is relative to Kα1 whatever λ the user names.
        wavelengths = (wavelength, wavelength * wavelengths[1] / wavelengths[0]) if len(wavelengths) == 2 else (wavelength,)
    if len(wavelengths) == 1 and pattern.radiation == "xray" and not pattern.metadata.get(MONOCHROMATIC):
        tube = tube_of_k_alpha1(wavelengths[0])
        if tube is not None:
            wavelengths = (wavelengths[0], wavelengths[0] * tube.k_alpha2 / tube.k_alpha1)
            ratio = tube.ratio
            notes.append(
                f"λ {wavelengths[0]:g} Å is {tube.anode} Kα1: {tube.anode} Kα2 assumed at ratio {tube.ratio:g} "
                "(nothing says the beam is monochromated)"
            )
    if len(wavelengths) == 1:
        ratio = 0.0
    return replace(pattern, wavelengths=wavelengths, ratio=ratio, notes=tuple(notes))

"""Rigaku SmartLab Studio ``.rasx``: a zip holding ``Data0/Profile0.txt`` and ``Data0/MesurementConditions0.xml``.

``Profile0.txt`` (UTF-8 with a byte-order mark) has rows ``2θ counts
attenuation`` as in ``.ras``; the conditions XML (Rigaku's spelling) names
the tube lines in elements whose names end in ``Kalpha1``, ``Kalpha2`` and
``Kbeta``.  GSAS-II's ``G2pwd_rigaku`` reads the same two members.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import pattern_from_columns
from powdex.patterns.formats.rigaku_ras import header_lines, intensity_rows
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

SUFFIXES = (".rasx",)
PROFILE = "Data0/Profile0.txt"
CONDITIONS = "Data0/MesurementConditions0.xml"
# Conditions elements (by the end of their name) and the .ras header key each stands for.
_LINE_ELEMENTS = {
    "kalpha1": "HW_XG_WAVE_LENGTH_ALPHA1",
    "kalpha2": "HW_XG_WAVE_LENGTH_ALPHA2",
    "kbeta": "HW_XG_WAVE_LENGTH_BETA",
    "targetname": "HW_XG_TARGET_NAME",
}


def sniff(head: bytes, path: Path) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return PROFILE in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def read(path: Path, source: str) -> Pattern:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if PROFILE not in names:
                raise PeakInputError(f"{source}: a zip without {PROFILE}, not a Rigaku .rasx scan")
            profile = archive.read(PROFILE).decode("utf-8-sig", errors="replace")
            conditions = archive.read(CONDITIONS) if CONDITIONS in names else None
    except zipfile.BadZipFile:
        raise PeakInputError(f"{source}: not a zip archive, so not a Rigaku .rasx file") from None
    header: dict[str, str] = {}
    if conditions is not None:
        try:
            root = ElementTree.fromstring(conditions)
        except ElementTree.ParseError as error:
            raise PeakInputError(f"{source}: {CONDITIONS} is not well-formed XML ({error})") from None
        for element in root.iter():
            name = element.tag.split("}")[-1].lower()
            for ending, key in _LINE_ELEMENTS.items():
                if name.endswith(ending) and element.text and key not in header:
                    header[key] = element.text.strip()
    data = intensity_rows(profile.splitlines(), f"{source}!{PROFILE}", 1)
    wavelengths, ratio, metadata = header_lines(header)
    return pattern_from_columns(data[:, 0], data[:, 1], None, source, wavelengths=wavelengths, ratio=ratio, metadata=metadata)


FORMAT = PatternFormat("Rigaku RASX", SUFFIXES, sniff, read)

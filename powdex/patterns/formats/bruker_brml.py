"""Bruker DIFFRAC.SUITE ``.brml``: a zip of XML, the first ``Experiment*/RawData*.xml`` scan.

In ``RawData*.xml`` each ``DataRoute`` holds one ``Datum`` per step,
comma-separated, and ``DataViews`` saying which column is what: a
``RawDataView`` per column group with its ``Start`` column, a fixed
``LogicName`` (``MeasuredTime``, ``AbsorptionFactor``), the
``FieldDefinitions FieldName`` of varying axes (``TwoTheta``, ``Theta``...)
or, for the ``RecordedRawDataView``, the counts.  Files without views have
time, flag, 2θ, θ, counts.  Intensity is counts × absorption (attenuator)
factor.  The tube's ``WaveLengthAlpha1``,
``WaveLengthAlpha2`` and ``WaveLengthRatio`` elements carry their value in
a ``Value`` attribute.  GSAS-II's ``G2pwd_BrukerBRML`` reads the same file.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

SUFFIXES = (".brml",)
_RAW_DATA = re.compile(r"(^|/)RawData\d*\.xml$", re.IGNORECASE)


def _raw_data_members(archive: zipfile.ZipFile) -> list[str]:
    return sorted(name for name in archive.namelist() if _RAW_DATA.search(name))


def sniff(head: bytes, path: Path) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(_raw_data_members(archive))
    except (zipfile.BadZipFile, OSError):
        return False


def _value(root, tag: str) -> float | None:
    element = root.find(f".//{tag}")
    try:
        return float(element.get("Value")) if element is not None else None
    except (TypeError, ValueError):
        return None


# The columns of a Datum when the route has no DataViews.
_DEFAULT_COLUMNS = {"MeasuredTime": 0, "TwoTheta": 2, "Theta": 3, "counts": 4}
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _columns(route) -> dict[str, int]:
    """Which Datum column holds what, from the route's RawDataViews."""
    columns: dict[str, int] = {}
    for view in route.iter("RawDataView"):
        start = int(view.get("Start", "0"))
        if view.get(_XSI_TYPE, "").startswith("Recorded"):
            columns.setdefault("counts", start)
        elif view.get("LogicName"):
            columns[view.get("LogicName")] = start
        for offset, field in enumerate(view.iter("FieldDefinitions")):
            columns.setdefault(field.get("FieldName", ""), start + offset)
    if "TwoTheta" not in columns or "counts" not in columns:
        return _DEFAULT_COLUMNS
    return columns


def read(path: Path, source: str) -> Pattern:
    try:
        with zipfile.ZipFile(path) as archive:
            members = _raw_data_members(archive)
            if not members:
                raise PeakInputError(f"{source}: a zip without Experiment*/RawData*.xml, not a Bruker .brml scan")
            root = ElementTree.fromstring(archive.read(members[0]))
    except zipfile.BadZipFile:
        raise PeakInputError(f"{source}: not a zip archive, so not a Bruker .brml file") from None
    except ElementTree.ParseError as error:
        raise PeakInputError(f"{source}: {members[0]} is not well-formed XML ({error})") from None
    routes = [route for route in root.iter("DataRoute") if route.find("Datum") is not None]
    if not routes:
        raise PeakInputError(f"{source}: {members[0]} holds no <DataRoute> with <Datum> rows")
    columns = _columns(routes[0])
    width = max(columns.values()) + 1
    rows = []
    for number, datum in enumerate(routes[0].iter("Datum"), start=1):
        try:
            rows.append([float(value) for value in (datum.text or "").split(",")[:width]])
        except ValueError:
            raise PeakInputError(f"{source}: {members[0]} <Datum> {number} is not comma-separated numbers") from None
        if len(rows[-1]) < width:
            raise PeakInputError(f"{source}: {members[0]} <Datum> {number} has {len(rows[-1])} values, expected {width}")
    data = np.array(rows)
    intensity = data[:, columns["counts"]]
    if "AbsorptionFactor" in columns:
        intensity = intensity * data[:, columns["AbsorptionFactor"]]
    alpha1, alpha2 = _value(root, "WaveLengthAlpha1"), _value(root, "WaveLengthAlpha2")
    ratio = _value(root, "WaveLengthRatio") or 0.0
    wavelengths = tuple(w for w in (alpha1, alpha2) if w)
    metadata: dict[str, object] = {"member": members[0]}
    anode = root.find(".//TubeMaterial")
    if anode is not None and anode.text:
        metadata["anode"] = anode.text.strip()
    return pattern_from_columns(
        data[:, columns["TwoTheta"]], intensity, None, source,
        wavelengths=wavelengths, ratio=ratio if len(wavelengths) == 2 else 0.0, metadata=metadata,
    )


FORMAT = PatternFormat("Bruker BRML", SUFFIXES, sniff, read)

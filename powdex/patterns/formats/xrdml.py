"""PANalytical XRDML (``.xrdml``): the first 2θ scan of the first measurement.

The XML schema (www.xrdml.com, XRDMeasurement 1.0–2.x): each
``xrdMeasurement`` has ``usedWavelength`` (``kAlpha1``, ``kAlpha2``,
``ratioKAlpha2KAlpha1``, ``kBeta``) and ``scan`` elements whose
``dataPoints`` hold ``positions`` per axis (``startPosition`` and
``endPosition`` of an even grid, or ``listPositions``), optionally
``commonCountingTime``, and ``counts`` or ``intensities`` (counts per
second).  GSAS-II's ``G2pwd_Panalytical`` reads the same elements.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import counting_sigma, pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

SUFFIXES = (".xrdml",)


def sniff(head: bytes, path: Path) -> bool:
    return b"xrdMeasurement" in head


def _number(element, name: str, source: str) -> float | None:
    found = element.find(f"{{*}}{name}") if element is not None else None
    if found is None or found.text is None:
        return None
    try:
        return float(found.text)
    except ValueError:
        raise PeakInputError(f"{source}: <{name}> is {found.text.strip()!r}, not a number") from None


def _numbers(element, source: str) -> np.ndarray:
    try:
        return np.array(element.text.split(), dtype=float)
    except (ValueError, AttributeError):
        raise PeakInputError(f"{source}: <{element.tag.split('}')[-1]}> does not hold numbers") from None


def read(path: Path, source: str) -> Pattern:
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise PeakInputError(f"{source}: not well-formed XML ({error})") from None
    measurement = root.find("{*}xrdMeasurement")
    scan = measurement.find("{*}scan") if measurement is not None else None
    points = scan.find("{*}dataPoints") if scan is not None else None
    if points is None:
        raise PeakInputError(f"{source}: no <xrdMeasurement><scan><dataPoints> in this XRDML file")
    counts = points.find("{*}counts")
    per_second = points.find("{*}intensities")
    if counts is None and per_second is None:
        raise PeakInputError(f"{source}: the scan has neither <counts> nor <intensities>")
    intensity = _numbers(counts if counts is not None else per_second, source)
    axis = next(
        (p for p in points.findall("{*}positions") if p.get("axis", "").lower() in ("2theta", "2theta-omega")), None
    )
    if axis is None:
        raise PeakInputError(f"{source}: the scan has no 2Theta <positions>")
    listed = axis.find("{*}listPositions")
    if listed is not None:
        two_theta = _numbers(listed, source)
    else:
        start, end = _number(axis, "startPosition", source), _number(axis, "endPosition", source)
        if start is None or end is None:
            raise PeakInputError(f"{source}: 2Theta <positions> has neither start/endPosition nor listPositions")
        two_theta = np.linspace(start, end, intensity.size)
    if two_theta.size != intensity.size:
        raise PeakInputError(f"{source}: {two_theta.size} 2θ positions but {intensity.size} intensities")
    time = _number(points, "commonCountingTime", source)
    if counts is not None:
        sigma = counting_sigma(intensity)
    elif time:
        sigma = counting_sigma(intensity * time) / time
    else:
        sigma = None
    wave = measurement.find("{*}usedWavelength")
    alpha1, alpha2 = _number(wave, "kAlpha1", source), _number(wave, "kAlpha2", source)
    ratio = _number(wave, "ratioKAlpha2KAlpha1", source)
    if alpha1 is None:
        wavelengths: tuple[float, ...] = ()
        ratio = 0.0
    elif alpha2 is None or not ratio:
        wavelengths, ratio = (alpha1,) if alpha2 is None else (alpha1, alpha2), 0.0
    else:
        wavelengths = (alpha1, alpha2)
    metadata: dict[str, object] = {}
    beta = _number(wave, "kBeta", source)
    if beta is not None:
        metadata["k_beta"] = beta
    tube = measurement.find(".//{*}xRayTube")
    if tube is not None and tube.get("name"):
        metadata["tube"] = tube.get("name")
    header = scan.find("{*}header")
    stamp = header.find("{*}startTimeStamp") if header is not None else None
    if stamp is not None and stamp.text:
        metadata["start_time"] = stamp.text.strip()
    if time:
        metadata["counting_time_s"] = time
    return pattern_from_columns(two_theta, intensity, sigma, source, wavelengths=wavelengths, ratio=ratio, metadata=metadata)


FORMAT = PatternFormat("PANalytical XRDML", SUFFIXES, sniff, read)

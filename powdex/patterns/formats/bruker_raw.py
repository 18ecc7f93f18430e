"""Bruker/Siemens binary RAW (``.raw``): the first range of versions 1 ("RAW "), 2, 3 ("RAW1.01") and 4 ("RAW4.00").

Little-endian layouts as documented in Bruker's DIFFRAC file-exchange notes
and read by GSAS-II's ``G2pwd_BrukerRAW``:

- v1 (``RAW ``): each range starts with its header: uint32 steps at 4,
  float32 step at 12, float32 start 2θ at 24, the sample name (32 bytes)
  at 40, Kα1 and Kα2 as float32 at 72 and 76 (no ratio: 1/2 is taken), a
  uint32 "another range follows" at 152, then float32 counts from 156.
- v2 (``RAW2``): 256-byte file header (date and time at 168, anode at 188,
  Kα1, Kα2 and the Kα2/Kα1 ratio as float32 at 190, 194, 198, Kβ at 206:
  as real files and GSAS-II have them); ranges of ``uint16 header
  length, uint16 steps, ..., float32 step at +12, float32 start 2θ at +16``,
  float32 counts after the range header.
- v3 (``RAW1.01``): int32 number of ranges at 12; anode at 608; Kα mean,
  Kα1, Kα2, Kβ and the Kα2/Kα1 ratio as float64 from 616; ranges from 712,
  each ``int32 header length (304), int32 steps``, start 2θ float64 at +16,
  step float64 at +176, temperature float32 at +212, the length of the
  supplementary headers int32 at +256, then float32 counts.
- v4 (``RAW4.00``): typed segments from byte 61 (``uint32 type, uint32
  length``; type 30 holds the tube lines as in v3 at +72, the anode at
  +116); type 0 or 160 starts a range: scan type at +32, start 2θ and step
  float64 at +72 and +80, uint32 steps at +88, datum and extra-header sizes
  uint32 at +136 and +140, then the extra headers and one datum per step
  whose first 4 bytes are the float32 counts (DIFFRAC.SUITE writes 8-byte
  data, the counts then a status word).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import MONOCHROMATIC, pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

SUFFIXES = (".raw",)
_SIGNATURES = (b"RAW1.01", b"RAW4.00", b"RAW2", b"RAW ")
# Scan types whose range is a 2θ (coupled or detector) scan.
_TWO_THETA_SCANS = ("Locked Coupled", "Unlocked Coupled", "Detector Scan")


def sniff(head: bytes, path: Path) -> bool:
    return head.startswith(_SIGNATURES)


class _Bytes:
    """Bounds-checked little-endian reads, failing with one line naming the file."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source = data, source

    def unpack(self, layout: str, offset: int):
        size = struct.calcsize("<" + layout)
        if offset < 0 or offset + size > len(self.data):
            raise PeakInputError(f"{self.source}: truncated Bruker RAW file ({len(self.data)} bytes, needs {offset + size})")
        values = struct.unpack_from("<" + layout, self.data, offset)
        return values[0] if len(values) == 1 else values

    def text(self, offset: int, length: int) -> str:
        return self.data[offset : offset + length].split(b"\0")[0].decode("latin-1").strip()

    def counts(self, offset: int, n_steps: int, datum_size: int = 4) -> np.ndarray:
        """``n_steps`` float32 counts from ``offset``, each the first 4 bytes of a ``datum_size``-byte step."""
        if n_steps <= 0 or offset + datum_size * n_steps > len(self.data):
            raise PeakInputError(
                f"{self.source}: a range of {n_steps} steps from byte {offset} does not fit the file ({len(self.data)} bytes)"
            )
        steps = np.frombuffer(self.data, dtype=np.uint8, count=datum_size * n_steps, offset=offset)
        return steps.reshape(n_steps, datum_size)[:, :4].copy().view("<f4").ravel().astype(float)


def _lines(alpha1: float, alpha2: float, ratio: float) -> tuple[tuple[float, ...], float, dict]:
    """Tube lines as the file states them: a zero Kα1 means "not recorded", a
    zero Kα2 or ratio a Kα1-only (monochromated) beam."""
    if not alpha1 > 0:
        return (), 0.0, {}
    if not (alpha2 > 0 and 0 < ratio <= 1):
        return (alpha1,), 0.0, {MONOCHROMATIC: True}
    return (alpha1, alpha2), ratio, {}


# Version 1 files name no Kα2/Kα1 ratio; Bruker's software takes 1/2.
_V1_RATIO = 0.5


def _single(value: float) -> float:
    """A float32 header value as written (1.5406, not 1.5405999422)."""
    return float(f"{value:.7g}")


def _version1(raw: _Bytes) -> tuple:
    n_steps = raw.unpack("I", 4)
    step, start = _single(raw.unpack("f", 12)), _single(raw.unpack("f", 24))
    alpha1, alpha2 = (_single(value) for value in raw.unpack("2f", 72))
    *lines, metadata = _lines(alpha1, alpha2, _V1_RATIO if alpha2 > 0 else 0.0)
    metadata["sample"] = raw.text(40, 32)
    return start, step, raw.counts(156, n_steps), lines, metadata


def _version2(raw: _Bytes) -> tuple:
    anode = raw.text(188, 2)
    alpha1, alpha2, ratio = (_single(value) for value in raw.unpack("3f", 190))
    header_length, n_steps = raw.unpack("2H", 256)
    step, start = (_single(value) for value in raw.unpack("2f", 256 + 12))
    *lines, metadata = _lines(alpha1, alpha2, ratio)
    metadata.update(anode=anode, k_beta=_single(raw.unpack("f", 206)), sample=raw.text(8, 32))
    return start, step, raw.counts(256 + header_length, n_steps), lines, metadata


def _version3(raw: _Bytes) -> tuple:
    if raw.unpack("i", 12) < 1:
        raise PeakInputError(f"{raw.source}: the Bruker RAW file holds no range")
    anode = raw.text(608, 4)
    _, alpha1, alpha2, beta, ratio = raw.unpack("5d", 616)
    range_start = 712
    header_length, n_steps = raw.unpack("2i", range_start)
    start = raw.unpack("d", range_start + 16)
    step = raw.unpack("d", range_start + 176)
    temperature = raw.unpack("f", range_start + 212)
    supplementary = raw.unpack("i", range_start + 256)
    *lines, metadata = _lines(alpha1, alpha2, ratio)
    metadata.update(anode=anode, k_beta=beta)
    if temperature > 0:
        metadata["temperature_K"] = float(temperature)
    counts = raw.counts(range_start + header_length + supplementary, n_steps)
    return start, step, counts, lines, metadata


def _version4(raw: _Bytes) -> tuple:
    offset, lines, metadata = 61, ((), 0.0), {}
    while True:
        kind = raw.unpack("I", offset)
        if kind in (0, 160):
            break
        length = max(raw.unpack("I", offset + 4), 8)
        if kind == 30:
            _, alpha1, alpha2, beta, ratio = raw.unpack("5d", offset + 72)
            *lines, metadata = _lines(alpha1, alpha2, ratio)
            metadata.update(anode=raw.text(offset + 116, 4), k_beta=beta)
        offset += length
    scan_type = raw.text(offset + 32, 24)
    if scan_type not in _TWO_THETA_SCANS:
        raise PeakInputError(f"{raw.source}: first range is a {scan_type!r} scan, not a 2θ scan")
    start, step = raw.unpack("2d", offset + 72)
    n_steps = raw.unpack("I", offset + 88)
    datum_size, extra_headers = raw.unpack("2I", offset + 136)
    if datum_size < 4 or datum_size % 4:
        raise PeakInputError(f"{raw.source}: {datum_size}-byte data points; expected float32 counts (4 bytes, or 8 with a status word)")
    return start, step, raw.counts(offset + 160 + extra_headers, n_steps, datum_size), lines, metadata


def read(path: Path, source: str) -> Pattern:
    raw = _Bytes(path.read_bytes(), source)
    signature = raw.data[:7]
    if signature == b"RAW1.01":
        start, step, counts, (wavelengths, ratio), metadata = _version3(raw)
    elif signature == b"RAW4.00":
        start, step, counts, (wavelengths, ratio), metadata = _version4(raw)
    elif signature.startswith(b"RAW2"):
        start, step, counts, (wavelengths, ratio), metadata = _version2(raw)
    elif signature.startswith(b"RAW "):
        start, step, counts, (wavelengths, ratio), metadata = _version1(raw)
    else:
        raise PeakInputError(f"{source}: not a Bruker RAW file (starts {signature!r}, expected RAW1.01, RAW4.00, RAW2 or RAW)")
    if not (np.isfinite(start) and np.isfinite(step) and step > 0):
        raise PeakInputError(f"{source}: implausible scan start {start:g}° and step {step:g}°")
    two_theta = start + step * np.arange(counts.size)
    return pattern_from_columns(two_theta, counts, None, source, wavelengths=wavelengths, ratio=ratio, metadata=metadata)


FORMAT = PatternFormat("Bruker RAW", SUFFIXES, sniff, read)

"""GSAS-II instrument parameter files (``.instprm``), constant wavelength.

``key:value`` lines.  GSAS-II's Gaussian is a variance, σ² = U tan²θ + V tanθ + W
in centidegrees², so powdex's FWHM² is 8 ln2 σ² / 10⁴; its Lorentzian is
γ = X / cosθ + Y tanθ + Z in centidegrees: GSAS-II's X is powdex's Y (the
size-like term), its Y powdex's X (the strain-like term) and its constant Z
powdex's Z.  ``SH/L`` is S/L + H/L, which
powdex splits equally (the profile depends on the sum and the difference,
and the difference is not in the file).  ``Polariz.`` is the perpendicular
fraction; ``Lam`` one wavelength, or ``Lam1``, ``Lam2`` and ``I(L2)/I(L1)``.  The geometry is a GSAS-II
sample parameter, not in the file: it reads as GSAS-II's importer sets it (a Kα doublet Bragg–Brentano, one
wavelength Debye–Scherrer), and the shifts of either are not written.
"""

from __future__ import annotations

import math

from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.formats.common import geometry_of_wavelengths
from powdex.instrument.model import Instrument

GAUSS = 8.0 * math.log(2.0) / 1e4  # GSAS-II σ² (centideg²) → FWHM² (deg²)
CENTI = 100.0


def read(text: str, source: str) -> Instrument:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise InstrumentFileError(f"{source}, line {number}: expected key:value, got {line[:40]!r}")
        values[key.strip()] = value.strip()
    kind = values.get("Type", "")
    if not kind.startswith("P") or kind[2:3] != "C":
        raise InstrumentFileError(f"{source}: instrument type {kind or '(none)'} is not constant-wavelength powder "
                                  "(PXC, PNC)")

    def number(key: str, default: float | None = None) -> float:
        if key not in values:
            if default is None:
                raise InstrumentFileError(f"{source}: no {key}")
            return default
        try:
            return float(values[key].split(",")[0])
        except ValueError:
            raise InstrumentFileError(f"{source}: {key} is {values[key]!r}, not a number") from None

    if "Lam" in values:
        wavelengths, ratio = (number("Lam"),), 0.0
    else:
        wavelengths, ratio = (number("Lam1"), number("Lam2")), number("I(L2)/I(L1)")
    half = number("SH/L", 0.0) / 2
    return Instrument(
        wavelengths=wavelengths, ratio=ratio, radiation="neutron" if kind[1] == "N" else "xray",
        geometry=geometry_of_wavelengths(wavelengths),
        zero=number("Zero", 0.0),
        # Polarisation means nothing for neutrons (GSAS-II files give 0 there): powdex keeps ½.
        polarisation=number("Polariz.", 0.5) if kind[1] == "X" else 0.5,
        U=number("U") * GAUSS, V=number("V") * GAUSS, W=number("W") * GAUSS,
        X=number("Y", 0.0) / CENTI, Y=number("X", 0.0) / CENTI, Z=number("Z", 0.0) / CENTI, S_L=half, H_L=half,
        source=source,
    )


def write(instrument: Instrument) -> str:
    kind = "PNC" if instrument.radiation == "neutron" else "PXC"
    lines = ["#GSAS-II instrument parameter file; do not add/delete items!", f"Type:{kind}", "Bank:1.0"]
    if instrument.ratio > 0:
        lines += [f"Lam1:{instrument.wavelengths[0]!r}", f"Lam2:{instrument.wavelengths[1]!r}",
                  f"I(L2)/I(L1):{instrument.ratio!r}"]
    else:
        lines.append(f"Lam:{instrument.wavelengths[0]!r}")
    lines += [
        f"Zero:{instrument.zero!r}", f"Polariz.:{instrument.polarisation!r}", "Azimuth:0.0",
        f"U:{instrument.U / GAUSS!r}", f"V:{instrument.V / GAUSS!r}", f"W:{instrument.W / GAUSS!r}",
        f"X:{instrument.Y * CENTI!r}", f"Y:{instrument.X * CENTI!r}", f"Z:{instrument.Z * CENTI!r}",
        f"SH/L:{instrument.S_L + instrument.H_L!r}",
    ]
    return "\n".join(lines) + "\n"

"""GSAS instrument parameter files (``.prm``, ``.inst``), constant wavelength, bank 1.

Lines ``INS  n KEY…``.  ``ICONS`` is fixed-width after its 12-character key:
λ1, λ2, ZERO (centidegrees), a spare field, POLA, IPOLA (F10, F10, F10, 10,
F10, I5) and KRATIO = I(λ2)/I(λ1) (F10).  ``PRCFk`` gives profile function k
(type, number of terms, cutoff) and ``PRCFkj`` its terms, four a line.  Type 3,
the Thompson–Cox–Hastings pseudo-Voigt with Finger–Cox–Jephcoat asymmetry,
is read whole: GU GV GW GP LX LY S/L H/L trns shft …, with the Gaussian a
variance in centidegrees² (σ² = GU tan²θ + GV tanθ + GW), LX (1/cosθ, the
size-like term; powdex's Y) and LY (tanθ, the strain-like term; powdex's X)
in centidegrees, shft (× cosθ) and trns (× sin2θ) in centidegrees.  Of
types 1 and 2 (Gaussian; pseudo-Voigt with the Howard asymmetry) only the
Gaussian GU GV GW are read, and a note says so.  A file with several
functions gives type 3 when it has it.  No GSAS constant-wavelength profile
function (types 1–5) has a constant Lorentzian term: an instrument with
powdex's Z is not written.  The file names no geometry: one that refines shft or trns
is Bragg–Brentano, any other reads as GSAS-II reads it (a Kα doublet Bragg–Brentano, one wavelength
Debye–Scherrer), and a Debye–Scherrer instrument's capillary displacements are not written.
"""

from __future__ import annotations

import math

from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.formats.common import geometry_of_wavelengths, refuse_constant_lorentzian
from powdex.instrument.model import Instrument

GAUSS = 8.0 * math.log(2.0) / 1e4  # σ² (centideg²) → FWHM² (deg²)
CENTI = 100.0
RULER = "            " + "1234567890" * 6
TYPE3_TERMS = 19


def _fields(rest: str, widths: tuple[int, ...]) -> list[str]:
    out, position = [], 0
    for width in widths:
        out.append(rest[position:position + width].strip())
        position += width
    return out


def read(text: str, source: str) -> Instrument:
    records: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("INS") and line[3:6].strip() in ("", "1"):
            key = line[6:12].strip()
            records.setdefault(key, (number, line[12:]))
    if "ICONS" not in records:
        raise InstrumentFileError(f"{source}: no 'INS  1 ICONS' line (not a constant-wavelength GSAS file?)")
    htype = records.get("HTYPE", (0, ""))[1].strip()
    if htype and (len(htype) < 3 or htype[2] != "C"):
        raise InstrumentFileError(f"{source}, line {records['HTYPE'][0]}: histogram type {htype} is not "
                                  "constant-wavelength (PXC, PNC)")
    number, rest = records["ICONS"]
    lam1, lam2, zero, _, pola, _, kratio = _fields(rest.ljust(65), (10, 10, 10, 10, 10, 5, 10))

    def value(text_value: str, default: float, line: int) -> float:
        if not text_value:
            return default
        try:
            return float(text_value.replace("D", "E"))
        except ValueError:
            raise InstrumentFileError(f"{source}, line {line}: {text_value!r} is not a number") from None

    wavelength1, wavelength2 = value(lam1, 0.0, number), value(lam2, 0.0, number)
    ratio = value(kratio, 0.0, number) if wavelength2 > 0 else 0.0
    wavelengths = (wavelength1, wavelength2) if wavelength2 > 0 and ratio > 0 else (wavelength1,)
    radiation = "neutron" if htype[1:2] == "N" else "xray"
    polarisation = value(pola, 0.0, number)
    if radiation == "neutron" or polarisation <= 0:
        polarisation = 0.5  # unpolarised (or meaningless, for neutrons)

    chosen = None
    for k in range(1, 10):
        if f"PRCF{k}" not in records:
            continue
        line, header = records[f"PRCF{k}"]
        parts = header.split()
        if len(parts) < 2:
            raise InstrumentFileError(f"{source}, line {line}: profile header needs type and number of terms")
        kind, count = int(parts[0]), int(parts[1])
        if chosen is None or kind == 3:
            chosen = (k, kind, count)
    if chosen is None:
        raise InstrumentFileError(f"{source}: no profile function (INS  1PRCF1 …)")
    k, kind, count = chosen
    terms: list[float] = []
    for j in range(1, 10):
        key = f"PRCF{k}{j}"
        if key not in records:
            break
        line, rest = records[key]
        terms += [value(t, 0.0, line) for t in rest.split()]
    if len(terms) < min(count, 3):
        raise InstrumentFileError(f"{source}: profile function {k} lists {len(terms)} of its {count} terms")
    terms += [0.0] * (TYPE3_TERMS - len(terms))
    notes = []
    if kind == 3:
        gu, gv, gw, gp, lx, ly, s_l, h_l, trns, shft = terms[:10]
        if gp:
            notes.append(f"GSAS GP = {gp} (Gaussian Scherrer term) not modelled")
        if any(terms[10:count]):
            notes.append("GSAS anisotropic broadening terms (stec, ptec, sfec, L11…) not modelled")
    else:
        gu, gv, gw = terms[:3]
        lx = ly = s_l = h_l = trns = shft = 0.0
        notes.append(f"GSAS profile type {kind}: only its Gaussian GU, GV, GW read")
    # GSAS names no geometry: shft and trns are Bragg–Brentano's displacement and transparency, so a file that
    # uses them is one; otherwise its wavelengths decide (``geometry_of_wavelengths``).
    geometry = "bragg-brentano" if shft or trns else geometry_of_wavelengths(wavelengths)
    return Instrument(
        wavelengths=wavelengths, ratio=ratio if len(wavelengths) == 2 else 0.0, radiation=radiation,
        geometry=geometry, zero=value(zero, 0.0, number) / CENTI, displacement=shft / CENTI, transparency=trns / CENTI,
        polarisation=polarisation, U=gu * GAUSS, V=gv * GAUSS, W=gw * GAUSS, X=ly / CENTI, Y=lx / CENTI,
        S_L=s_l, H_L=h_l, source=source, notes=tuple(notes),
    )


def write(instrument: Instrument) -> str:
    refuse_constant_lorentzian(instrument, "GSAS profile function 3")
    lam2 = instrument.wavelengths[1] if instrument.ratio > 0 else 0.0
    htype = "PNCR" if instrument.radiation == "neutron" else "PXCR"
    terms = [instrument.U / GAUSS, instrument.V / GAUSS, instrument.W / GAUSS, 0.0,
             instrument.Y * CENTI, instrument.X * CENTI, instrument.S_L, instrument.H_L,
             instrument.transparency * CENTI, instrument.displacement * CENTI] + [0.0] * (TYPE3_TERMS - 10)
    lines = [
        RULER,
        "INS   BANK      1",
        f"INS   HTYPE   {htype}",
        f"INS  1 ICONS{instrument.wavelengths[0]:10.6f}{lam2:10.6f}{instrument.zero * CENTI:10.5f}{'':10}"
        f"{instrument.polarisation:10.5f}{0:5d}{instrument.ratio:10.5f}",
        "INS  1I HEAD  written by powdex",
        "INS  1I ITYP    0    0.0000  180.0000         1",
        f"INS  1PRCF1     3   {TYPE3_TERMS}   0.00100",
    ]
    for j in range(0, TYPE3_TERMS, 4):
        lines.append(f"INS  1PRCF1{j // 4 + 1}" + "".join(f"{t:15.7E}" for t in terms[j:j + 4]))
    return "\n".join(lines) + "\n"

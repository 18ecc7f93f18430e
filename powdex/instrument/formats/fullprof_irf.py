"""FullProf instrumental resolution files (``.irf``), constant wavelength.

Keyword lines, ``!`` comments, the first line a title: ``JOBT`` (Xrays or
Neutrons, possibly after ``CW``; ``TOF`` is refused), ``WAVE λ1 λ2 ratio``,
``ASYM S_L D_L``, ``GEOM`` (a word starting ``DEB`` is Debye–Scherrer, ``BRAG``
Bragg–Brentano; without it a Kα doublet is Bragg–Brentano and one wavelength
Debye–Scherrer, as GSAS-II's importer assumes), ``CTHM`` (cos²2θ of the monochromator) and the profile
``U V W X Y [Z]``: on a ``UVWXY`` or ``UVWXYZ`` line, or, as CrysFML's laboratory
and synchrotron examples have it, on a line of bare numbers after the
``! U V W X Y Z`` comment.  ``PROF`` and ``THRG`` are read past.  ``CTHM`` means
nothing for neutrons (FullProf's files give 0): a neutron file reads with the
unpolarised ½ the GSAS readers give, and is written with ``CTHM 0.0``.
FullProf's Thompson–Cox–Hastings units are powdex's (deg², deg; H_L = X tanθ
+ Y / cosθ) and its S_L, D_L are the Finger–Cox–Jephcoat S/L and H/L, so the
values pass unchanged.  The row's Z is FullProf's Gaussian 1/cos²θ term, not a
constant Lorentzian one: FullProf has none, so an instrument with powdex's Z
is not written.
"""

from __future__ import annotations

from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.formats.common import geometry_of_wavelengths, refuse_constant_lorentzian
from powdex.instrument.model import Instrument

KEYWORDS = ("WAVE", "UVWXY", "UVWXYZ", "ASYM", "CTHM")
PROFILE_KEYWORDS = {"UVWXYZ": "UVWXY"}  # one profile row, with or without its Z in the keyword
GEOMETRY_WORDS = {"DEB": "debye-scherrer", "BRAG": "bragg-brentano"}


def _numbers(words: list[str], source: str, number: int, key: str) -> list[float]:
    try:
        return [float(t.replace("D", "E").replace("d", "e")) for t in words]
    except ValueError:
        raise InstrumentFileError(f"{source}, line {number}: {key} values are not numbers") from None


def _is_number(word: str) -> bool:
    try:
        float(word.replace("D", "E").replace("d", "e"))
    except ValueError:
        return False
    return True


def read(text: str, source: str) -> Instrument:
    lines = text.splitlines()
    found: dict[str, tuple[int, list[float]]] = {}
    job, geometry = "xray", None
    notes = []
    for number, line in enumerate(lines[1:], 2):
        body = line.split("!", 1)[0].strip()
        if not body:
            continue
        key, *rest = body.split()
        if _is_number(key):  # the profile row without its keyword
            if "UVWXY" in found:
                raise InstrumentFileError(f"{source}, line {number}: a second profile row (U V W X Y)")
            found["UVWXY"] = (number, _numbers([key, *rest], source, number, "U V W X Y"))
            continue
        key = key.upper()
        if key == "JOBT":
            # "Xrays", "Neutrons", or with the kind of source first ("CW Neutrons" in CrysFML's examples).
            words = [word.lower() for word in rest]
            if "tof" in words:
                raise InstrumentFileError(f"{source}, line {number}: JOBT {' '.join(rest)} is time-of-flight, "
                                          "not constant-wavelength")
            if any(word.startswith("neut") for word in words):
                job = "neutron"
            elif not any(word.startswith("x") for word in words):
                raise InstrumentFileError(f"{source}, line {number}: JOBT {' '.join(rest) or '(empty)'} is neither "
                                          "Xrays nor Neutrons")
        elif key == "GEOM":
            word = (rest[0] if rest else "").upper()
            known = [name for prefix, name in GEOMETRY_WORDS.items() if word.startswith(prefix)]
            if not known:
                raise InstrumentFileError(f"{source}, line {number}: GEOM {word or '(empty)'} is neither Debye–"
                                          "Scherrer (DEBY) nor Bragg–Brentano (BRAG)")
            geometry = known[0]
        elif key in KEYWORDS:
            key = PROFILE_KEYWORDS.get(key, key)
            if key in found:
                raise InstrumentFileError(f"{source}, line {number}: a second {key} line")
            found[key] = (number, _numbers(rest, source, number, key))
    for key, needed in (("WAVE", 1), ("UVWXY", 5)):
        if key not in found:
            raise InstrumentFileError(f"{source}: no {key} line (not a constant-wavelength FullProf .irf?)")
        if len(found[key][1]) < needed:
            raise InstrumentFileError(f"{source}, line {found[key][0]}: {key} needs {needed} values")
    wave = found["WAVE"][1] + [0.0, 0.0]
    two_lines = wave[1] > 0 and wave[2] > 0 and wave[1] != wave[0]
    u, v, w, x, y = found["UVWXY"][1][:5]
    s_l, d_l = (found.get("ASYM", (0, [0.0, 0.0]))[1] + [0.0, 0.0])[:2]
    if len(found["UVWXY"][1]) > 5 and found["UVWXY"][1][5]:
        notes.append(f"FullProf Z = {found['UVWXY'][1][5]} (Gaussian 1/cos²θ term) not modelled")
    polarisation = 0.5
    if job == "xray" and "CTHM" in found and found["CTHM"][1]:
        # FullProf's polarisation factor (1 + CTHM cos²2θ) / (1 + CTHM) is powdex's with the perpendicular
        # fraction 1 / (1 + CTHM) (see powdex.instrument.monochromator_polarisation).
        polarisation = 1.0 / (1.0 + found["CTHM"][1][0])
    wavelengths = (wave[0], wave[1]) if two_lines else (wave[0],)
    return Instrument(
        wavelengths=wavelengths, ratio=wave[2] if two_lines else 0.0,
        radiation=job, geometry=geometry or geometry_of_wavelengths(wavelengths), polarisation=polarisation,
        U=u, V=v, W=w, X=x, Y=y, S_L=s_l, H_L=d_l,
        source=source, notes=tuple(notes),
    )


def write(instrument: Instrument) -> str:
    refuse_constant_lorentzian(instrument, "FullProf's Thompson–Cox–Hastings profile (its Z is a Gaussian term)")
    if instrument.radiation == "neutron":
        cthm = 0.0
    elif instrument.polarisation < 0.5:
        raise InstrumentFileError(f"perpendicular-polarised fraction {instrument.polarisation} below ½ has no FullProf "
                                  "CTHM (cos²2θ of a monochromator)")
    else:
        cthm = 1.0 / instrument.polarisation - 1.0
    lam2 = instrument.wavelengths[1] if instrument.ratio > 0 else instrument.wavelengths[0]
    job = "Neutrons" if instrument.radiation == "neutron" else "Xrays"
    geometry = "DEBY" if instrument.geometry == "debye-scherrer" else "BRAG"
    return "\n".join([
        "Instrumental resolution function written by powdex",
        "! To be used with PCR files having RES not 0",
        f"JOBT {job}",
        "!       Lambda1           Lambda2           Ratio",
        f"WAVE   {instrument.wavelengths[0]!r}   {lam2!r}   {instrument.ratio!r}",
        f"GEOM {geometry}",
        "!       Cos(2theta monochromator)^2",
        f"CTHM   {cthm!r}",
        "!       U  V  W (deg²)  X  Y (deg)  Z",
        f"UVWXY  {instrument.U!r}  {instrument.V!r}  {instrument.W!r}  {instrument.X!r}  {instrument.Y!r}  0.0",
        "!       S_L  D_L",
        f"ASYM   {instrument.S_L!r}  {instrument.H_L!r}",
    ]) + "\n"

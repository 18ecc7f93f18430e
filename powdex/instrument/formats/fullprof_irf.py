"""FullProf instrumental resolution files (``.irf``), constant wavelength.

Keyword lines, ``!`` comments, the first line a title: ``JOBT`` (Xrays or
Neutrons), ``WAVE λ1 λ2 ratio``, ``UVWXY U V W X Y [Z]`` and ``ASYM S_L D_L``.
FullProf's Thompson–Cox–Hastings units are powdex's (deg², deg; H_L = X tanθ
+ Y / cosθ) and its S_L, D_L are the Finger–Cox–Jephcoat S/L and H/L, so the
values pass unchanged.  The reader follows the resolution-file description of
the FullProf manual; no FullProf-distributed file under a licence that lets
it ship with powdex was at hand to check it against.
"""

from __future__ import annotations

from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.model import Instrument


def read(text: str, source: str) -> Instrument:
    lines = text.splitlines()
    found: dict[str, tuple[int, list[float]]] = {}
    job = "xray"
    for number, line in enumerate(lines[1:], 2):
        body = line.split("!", 1)[0].strip()
        if not body:
            continue
        key, *rest = body.split()
        key = key.upper()
        if key == "JOBT":
            word = (rest[0] if rest else "").lower()
            if word.startswith("neut"):
                job = "neutron"
            elif not word.startswith("x"):
                raise InstrumentFileError(f"{source}, line {number}: JOBT {word or '(empty)'} is neither Xrays "
                                          "nor Neutrons")
            continue
        if key in ("WAVE", "UVWXY", "ASYM"):
            try:
                found[key] = (number, [float(t.replace("D", "E")) for t in rest])
            except ValueError:
                raise InstrumentFileError(f"{source}, line {number}: {key} values are not numbers") from None
    for key, needed in (("WAVE", 1), ("UVWXY", 5)):
        if key not in found:
            raise InstrumentFileError(f"{source}: no {key} line (not a constant-wavelength FullProf .irf?)")
        if len(found[key][1]) < needed:
            raise InstrumentFileError(f"{source}, line {found[key][0]}: {key} needs {needed} values")
    wave = found["WAVE"][1] + [0.0, 0.0]
    two_lines = wave[1] > 0 and wave[2] > 0 and wave[1] != wave[0]
    u, v, w, x, y = found["UVWXY"][1][:5]
    s_l, d_l = (found.get("ASYM", (0, [0.0, 0.0]))[1] + [0.0, 0.0])[:2]
    notes = []
    if len(found["UVWXY"][1]) > 5 and found["UVWXY"][1][5]:
        notes.append(f"FullProf Z = {found['UVWXY'][1][5]} (Gaussian 1/cos²θ term) not modelled")
    return Instrument(
        wavelengths=(wave[0], wave[1]) if two_lines else (wave[0],), ratio=wave[2] if two_lines else 0.0,
        radiation=job, U=u, V=v, W=w, X=x, Y=y, S_L=s_l, H_L=d_l, source=source, notes=tuple(notes),
    )


def write(instrument: Instrument) -> str:
    lam2 = instrument.wavelengths[1] if instrument.ratio > 0 else instrument.wavelengths[0]
    job = "Neutrons" if instrument.radiation == "neutron" else "Xrays"
    return "\n".join([
        "Instrumental resolution function written by powdex",
        "! To be used with PCR files having RES not 0",
        f"JOBT {job}",
        "!       Lambda1           Lambda2           Ratio",
        f"WAVE   {instrument.wavelengths[0]!r}   {lam2!r}   {instrument.ratio!r}",
        "!       U  V  W (deg²)  X  Y (deg)  Z",
        f"UVWXY  {instrument.U!r}  {instrument.V!r}  {instrument.W!r}  {instrument.X!r}  {instrument.Y!r}  0.0",
        "!       S_L  D_L",
        f"ASYM   {instrument.S_L!r}  {instrument.H_L!r}",
    ]) + "\n"

"""Peak lists in the input files of the classical indexing programs DICVOL and TREOR.

**DICVOL06** (Boultif & Louër 2004, J. Appl. Cryst. 37, 724–731; the DICVOL06 user guide), free format:

1. a title;
2. ``N ITYPE JC JT JH JO JM JTR``: lines used in the search, the data type (1 θ, 2 2θ, 3 d in Å, 4 Q = 10⁴/d²)
   and which of cubic, tetragonal, hexagonal, orthorhombic, monoclinic, triclinic to search (1 yes, 0 no);
3. ``AMAX BMAX CMAX VOLMIN VOLMAX BEMIN BEMAX``: the search limits (Å, Å³, °);
4. ``WAVE POIMOL DENS DELDEN``: the wavelength (0: Cu Kα1), molecular weight, density and its error;
5. ``EPS FOM N_IMP ZERO_S ZERO_REF OPTION``: the absolute error of the lines in ° 2θ (0: 0.03°; 1: each line
   gives its own after its position), the lowest figure of merit shown, the impurity lines tolerated, the
   zero-point search and refinement, and the extended search;
6. one line per observed line: its position, then its error when EPS = 1.

The error of each line is read as, and written from, the peak's σ(2θ). Every line of the file's data is read:
DICVOL searches with the first N and reviews its solutions with the rest.

**TREOR90** (Werner, Eriksson & Westdahl 1985, J. Appl. Cryst. 18, 367–370): a title, one 2θ position per
line (further columns ignored), a blank line, then keyword settings ``KEY=value,`` ending with ``END*``;
powdex reads and writes ``WAVE=`` (Å) among them. The format has no error per line: σ(2θ) is not carried.

Readers raise ``PeakInputError`` naming the file, the line and the problem; ``program_format`` tells the two
formats from any other text by content.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from .errors import PeakInputError
from .peaklist import PeakList
from .units import CU_KA1

DICVOL = "dicvol"
TREOR = "treor"
PROGRAM_FORMATS = (DICVOL, TREOR)

# DICVOL's data types (ITYPE) as (powdex units, factor from the file's value to those units).
_DICVOL_TYPES = {1: ("2theta", 2.0), 2: ("2theta", 1.0), 3: ("d", 1.0), 4: ("q2", 1e-4)}
# ° 2θ: DICVOL's error of every line when the file says EPS = 0.
DICVOL_DEFAULT_ERROR = 0.03
_TREOR_END = re.compile(r"^\s*END\*\s*$", re.IGNORECASE)
_TREOR_WAVE = re.compile(r"\bWAVE\s*=\s*([-+0-9.eE]+)", re.IGNORECASE)


def program_format(text: str) -> str | None:
    """``DICVOL`` or ``TREOR`` when the text is one of their input files, else None: a TREOR file ends its
    settings with a line ``END*``; a DICVOL file's second line is eight integers."""
    lines = text.splitlines()
    if any(_TREOR_END.match(line) for line in lines):
        return TREOR
    if len(lines) >= 6 and re.fullmatch(r"\s*(?:[-+]?\d+[\s,]+){7}[-+]?\d+\s*", lines[1]):
        return DICVOL
    return None


def _numbers(line: str, source: str, number: int, what: str, minimum: int) -> list[float]:
    try:
        values = [float(token) for token in line.replace(",", " ").split()]
    except ValueError:
        raise PeakInputError(f"{source}:{number}: {what}: {line.strip()!r} is not numbers") from None
    if len(values) < minimum:
        raise PeakInputError(f"{source}:{number}: {what}: {minimum} numbers needed, found {len(values)}")
    return values


def _chosen_wavelength(given: float | None, in_file: float, source: str, notes: list[str]) -> float:
    if given is not None and given != in_file:
        notes.append(f"wavelength {given:g} Å as given, not {in_file:g} Å as {source} says")
        return given
    return in_file


def read_dicvol(text: str, source: str, wavelength: float | None = None) -> PeakList:
    """The peak list of a DICVOL06 input file (module docstring), with each line's error as σ(2θ);
    ``wavelength`` overrides the file's."""
    lines = text.splitlines()
    if len(lines) < 6:
        raise PeakInputError(f"{source}: a DICVOL file has a title, four lines of settings and the lines; "
                             f"found {len(lines)} lines")
    n_search, data_type = (int(v) for v in _numbers(lines[1], source, 2, "N ITYPE JC JT JH JO JM JTR", 8)[:2])
    if data_type not in _DICVOL_TYPES:
        raise PeakInputError(f"{source}:2: ITYPE {data_type}: DICVOL data types are 1 (θ), 2 (2θ), 3 (d), 4 (Q)")
    _numbers(lines[2], source, 3, "AMAX BMAX CMAX VOLMIN VOLMAX BEMIN BEMAX", 7)
    wave = _numbers(lines[3], source, 4, "WAVE POIMOL DENS DELDEN", 1)[0]
    eps = _numbers(lines[4], source, 5, "EPS FOM N_IMP ZERO_S ZERO_REF OPTION", 1)[0]
    positions, errors, numbers = [], [], []
    for number, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        values = _numbers(line, source, number, "a line's position" + (" and error" if eps == 1 else ""),
                          2 if eps == 1 else 1)
        positions.append(values[0])
        errors.append(values[1] if eps == 1 else (eps or DICVOL_DEFAULT_ERROR))
        numbers.append(number)
    if len(positions) < n_search:
        raise PeakInputError(f"{source}:2: N = {n_search} lines for the search, but the file lists {len(positions)}")
    units, factor = _DICVOL_TYPES[data_type]
    notes: list[str] = []
    assumed = wave == 0 and wavelength is None
    if assumed:
        notes.append(f"WAVE 0: Cu Kα1 ({CU_KA1} Å), as DICVOL reads it")
    wavelength = _chosen_wavelength(wavelength, wave or CU_KA1, source, notes)
    scaled = np.array(positions) * factor
    peaks = PeakList.from_values(scaled, units=units, wavelength=wavelength, source=source, line_numbers=numbers)
    order = np.argsort(-scaled if units == "d" else scaled, kind="stable")
    return replace(peaks, two_theta_sigma=np.array(errors)[order], notes=tuple(notes), wavelength_assumed=assumed)


def read_treor(text: str, source: str, wavelength: float | None = None) -> PeakList:
    """The peak list of a TREOR90 input file (module docstring): 2θ positions, wavelength from ``WAVE=``
    (``wavelength`` overrides it)."""
    lines = text.splitlines()
    positions, numbers = [], []
    number = 1
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            break
        positions.append(_numbers(line, source, number, "a 2θ position", 1)[0])
        numbers.append(number)
    if not positions:
        raise PeakInputError(f"{source}: no 2θ positions between the title and the first blank line")
    settings = " ".join(lines[number:])
    wave = _TREOR_WAVE.search(settings)
    notes: list[str] = []
    assumed = wave is None and wavelength is None
    if assumed:
        notes.append(f"no WAVE= setting: Cu Kα1 ({CU_KA1} Å), as TREOR90 assumes")
    wavelength = _chosen_wavelength(wavelength, float(wave.group(1)) if wave else CU_KA1, source, notes)
    peaks = PeakList.from_values(positions, units="2theta", wavelength=wavelength, source=source,
                                 line_numbers=numbers)
    return replace(peaks, notes=tuple(notes), wavelength_assumed=assumed)


def read_program_file(text: str, source: str, program: str, wavelength: float | None = None) -> PeakList:
    """``read_dicvol`` or ``read_treor``."""
    return (read_dicvol if program == DICVOL else read_treor)(text, source, wavelength)


def _two_theta(peaks: PeakList, path: str | Path) -> np.ndarray:
    if peaks.two_theta is not None:
        return peaks.two_theta
    if peaks.wavelength is None:
        raise PeakInputError(f"{path}: the peaks have no wavelength, and the file lists 2θ")
    return peaks.two_theta_at(peaks.wavelength)


def dicvol_text(peaks: PeakList, title: str, path: str | Path = "<dicvol>") -> str:
    """A DICVOL06 input file of ``peaks`` in 2θ: all six lattice systems searched, limits of 25 Å and 2500 Å³,
    and each line's σ(2θ) as its error (EPS = 1), or DICVOL's default error (EPS = 0) when the peaks have none."""
    two_theta = _two_theta(peaks, path)
    sigma = peaks.two_theta_sigma
    lines = [title.replace("\n", " ")[:80] or "powdex peak list",
             f"{peaks.n} 2 1 1 1 1 1 1",
             "25.0 25.0 25.0 0.0 2500.0 90.0 125.0",
             f"{peaks.wavelength:.6f} 0.0 0.0 0.0",
             f"{1.0 if sigma is not None else 0.0:.1f} 10.0 0 0 0 0"]
    if sigma is None:
        lines += [f"{t:.4f}" for t in two_theta]
    else:
        lines += [f"{t:.4f} {s:.4f}" for t, s in zip(two_theta, sigma)]
    return "\n".join(lines) + "\n"


def treor_text(peaks: PeakList, title: str, path: str | Path = "<treor>") -> str:
    """A TREOR90 input file of ``peaks`` in 2θ with their wavelength (``WAVE=``)."""
    two_theta = _two_theta(peaks, path)
    lines = [title.replace("\n", " ")[:80] or "powdex peak list", *(f"{t:.4f}" for t in two_theta), "",
             f"WAVE={peaks.wavelength:.6f},", "END*"]
    return "\n".join(lines) + "\n"


def program_file_text(peaks: PeakList, program: str, title: str, path: str | Path) -> str:
    """``dicvol_text`` or ``treor_text``."""
    return dicvol_text(peaks, title, path) if program == DICVOL else treor_text(peaks, title, path)

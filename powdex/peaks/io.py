"""Reading peak lists from files: text/CSV, NumPy ``.npy`` and GSAS-II ``.pkslst``."""

import re
from dataclasses import replace
from os import PathLike
from pathlib import Path

import numpy as np

from .peaklist import UNITS, PeakInputError, PeakList
from .program_files import program_format, read_program_file
from .text_table import parse_text_table, read_text

# Column names in a text header that say which scale the positions are on.
HEADER_UNITS = {
    "2theta": "2theta",
    "2th": "2theta",
    "tth": "2theta",
    "two_theta": "2theta",
    "2θ": "2theta",
    "d": "d",
    "q2": "q2",
    "q^2": "q2",
    "q²": "q2",
    "1/d2": "q2",
    "1/d^2": "q2",
}

# Lab data are nearly always recorded in 2θ, so that is the scale assumed when
# neither the caller nor the file says otherwise.
DEFAULT_UNITS = "2theta"


def read_peaks(
    path: str | PathLike,
    units: str | None = None,
    wavelength: float | None = None,
    n_peaks: int | None = 20,
    *,
    default_wavelength: float | None = None,
) -> PeakList:
    """Read a peak list and keep its ``n_peaks`` lowest-angle peaks (all if None).

    Formats, chosen by extension, then content:

    - DICVOL06 and TREOR90 input files, told by content
      (:mod:`powdex.peaks.program_files`; DICVOL's error of each line is
      kept as ``two_theta_sigma``).
    - ``.npy``: a 1-D array of positions, or an (N, 1) / (N, 2) array of
      (position, intensity).
    - ``.pkslst``: a GSAS-II peak list, positions in 2θ (see
      :func:`read_gsas2_pkslst`).
    - anything else: text, one peak per line, position then optional
      intensity (see :mod:`powdex.peaks.text_table` for the syntax).

    ``units`` (``'q2'``, ``'d'`` or ``'2theta'``) overrides what the file
    says; otherwise a text header such as ``2theta,intensity`` or ``q2 I``
    decides, and failing that the positions are taken as 2θ.

    The wavelength is, in order: ``wavelength``; a ``# wavelength:`` comment
    in a text file; ``default_wavelength``.  2θ positions with none of the
    three raise :class:`PeakInputError` rather than silently assuming a
    source: a CLI passes ``wavelength=None`` for "not given" and opts into Cu
    Kα1 only deliberately, via ``default_wavelength=CU_KA1``.

    A text or ``.npy`` file that is a measured pattern (:func:`is_scan`) is
    refused with a pointer to :func:`powdex.patterns.read_peak_input`, which
    picks its peaks.

    Positions that look like another unit than the one chosen (d-spacings
    decreasing down a file read as 2θ, say: see :func:`unit_mismatch`) raise
    :class:`PeakInputError` when the unit was only the default, and give a
    note when ``units`` or the header chose it.  The returned list's
    ``notes`` also say which peaks were left out and what the caller's
    ``units`` or ``wavelength`` overrode in the file.

    Every problem raises :class:`PeakInputError` with one line naming the
    file (and line or row) and the problem.
    """
    if units is not None and units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}, got {units!r}")
    if n_peaks is not None and n_peaks < 1:
        raise ValueError(f"n_peaks must be at least 1 or None, got {n_peaks}")
    source = str(path)
    suffix = Path(path).suffix.lower()
    given_wavelength = wavelength
    notes = []
    program = None if suffix in (".pkslst", ".npy") else program_format(read_text(path))
    if suffix == ".pkslst":
        if units not in (None, "2theta"):
            raise PeakInputError(f"{source}: GSAS-II peak lists hold 2θ positions, not {units!r}")
        peaks = read_gsas2_pkslst(path, wavelength if wavelength is not None else default_wavelength)
    elif program is not None:
        peaks = read_program_file(read_text(path), source, program, wavelength)
        wavelength = peaks.wavelength  # the file's or its program's default: the reader says which
        notes.extend(peaks.notes)
        if units is not None:
            notes.append(f"--units {units} left aside: a {program.upper()} input file says its own")
    else:
        if suffix == ".npy":
            columns, header, file_wavelength, line_numbers = _read_npy(path), None, None, None
        else:
            table = _text_table(path, source, suffix)
            columns, header, file_wavelength, line_numbers = (
                _text_columns(table), table.header, table.wavelength, table.line_numbers)
        header_units = _header_units(header)
        if units is not None and header_units is not None and units != header_units:
            notes.append(f"units {units} as given, not {header_units} as the file's header '{header[0]}' says")
        if wavelength is not None and file_wavelength is not None and wavelength != file_wavelength:
            notes.append(f"wavelength {wavelength:g} Å as given, not {file_wavelength:g} Å as the file says")
        if wavelength is None:
            wavelength = file_wavelength
        chosen = units or header_units or DEFAULT_UNITS
        mismatch = unit_mismatch(columns[:, 0], chosen, wavelength if wavelength is not None else default_wavelength)
        if mismatch is not None and units is None and header_units is None:
            raise PeakInputError(
                f"{source}: read as {chosen} (no --units, no header), {mismatch}; "
                "say which with --units 2theta|d|q2 or a header line"
            )
        if mismatch is not None:
            notes.append(f"read as {chosen}, {mismatch}")
        used_wavelength = wavelength if wavelength is not None else default_wavelength
        if chosen == "2theta" and is_scan(columns):
            _refuse_scan(columns, source)
        peaks = _peaks_from_columns(columns, chosen, used_wavelength, source, line_numbers)
    if given_wavelength is None and wavelength is None and peaks.wavelength is not None:
        peaks = replace(peaks, wavelength_assumed=True)
    if n_peaks is not None and peaks.n > n_peaks:
        notes.append(f"the first {n_peaks} of {peaks.n} peaks are used (lowest angles)")
        peaks = peaks.first(n_peaks)
    return replace(peaks, notes=tuple(notes))


# A measured pattern rather than a peak list: at least this many points...
MIN_SCAN_POINTS = 100
# ...whose 2θ steps change little from one to the next (a typical change under
# this fraction of the typical step).  Even, rounded (0.013/0.014°) and
# merged-bank grids all pass; the gaps between listed peaks change by about
# their own size.
SCAN_STEP_CHANGE = 0.25


def is_scan(columns: np.ndarray) -> bool:
    """Whether (position, intensity) columns are a measured pattern rather than a peak list.

    Decided by content, not by an exactly even grid: many points on a grid
    whose steps change slowly, as a continuous scan is sampled.
    """
    if columns.shape[1] < 2 or columns.shape[0] < MIN_SCAN_POINTS:
        return False
    steps = np.diff(columns[:, 0])
    if not np.all(steps > 0):
        return False
    return bool(np.median(np.abs(np.diff(steps))) <= SCAN_STEP_CHANGE * np.median(steps))


def _refuse_scan(columns: np.ndarray, source: str) -> None:
    """A measured pattern is not a peak list: say where its peaks are picked."""
    raise PeakInputError(
        f"{source}: a measured pattern ({len(columns)} points), not a peak list; "
        "pick its peaks with powdex.patterns.read_peak_input (as powdex index and powdex peaks do)"
    )


# Below this, 2θ (degrees) is no diffraction peak list: 2° is d = 44 Å with Cu Kα1.
MIN_PLAUSIBLE_TWO_THETA = 2.0
# Above this, q² (Å⁻²) is d < 0.5 Å, out of reach of laboratory sources.
MAX_PLAUSIBLE_Q2 = 4.0
# Below this, d (Å) is out of reach of any laboratory source (λ/2 for Mo Kα is 0.36 Å).
MIN_PLAUSIBLE_D = 0.35


def unit_mismatch(positions: np.ndarray, units: str, wavelength: float | None) -> str | None:
    """Why ``positions`` (in file order) look like another unit than ``units``,
    naming the likely one; None when they look right (or are invalid anyway,
    which validation reports).  Peak lists are written by increasing angle,
    so 2θ and q² increase down the file and d decreases."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.size < 3 or not np.all(np.isfinite(positions) & (positions > 0)):
        return None
    low, high = positions.min(), positions.max()
    steps = np.diff(positions)
    decreasing, increasing = bool(np.all(steps < 0)), bool(np.all(steps > 0))
    span = f"positions {low:g} to {high:g}"
    if units == "2theta":
        if high < MIN_PLAUSIBLE_TWO_THETA:
            at = f" at λ = {wavelength:g} Å" if wavelength else ""
            return f"{span} would all be below 2° 2θ (d over 40 Å{at}); they look like q² (Å⁻²)"
        if decreasing:
            return f"{span} decrease down the file as d-spacings do (2θ increases); they look like d (Å)"
    elif units == "d":
        if high < MIN_PLAUSIBLE_D:
            return f"{span} would all be d-spacings under {MIN_PLAUSIBLE_D} Å; they look like q² (Å⁻²)"
        if increasing:
            return f"{span} increase down the file as 2θ does (d decreases); they look like 2θ (degrees)"
    elif units == "q2" and high > MAX_PLAUSIBLE_Q2:
        likely = "d (Å)" if decreasing else "2θ (degrees)"
        return f"{span} would reach q² = {high:g} Å⁻² (d = {1 / np.sqrt(high):.2f} Å); they look like {likely}"
    return None


def _peaks_from_columns(columns: np.ndarray, units: str, wavelength, source: str, line_numbers=None) -> PeakList:
    """PeakList from an (N, 1) or (N, 2) array of (position, intensity)."""
    if units == "2theta" and wavelength is None:
        raise PeakInputError(
            f"{source}: positions are 2θ but no wavelength was given (use --wavelength or a '# wavelength:' comment)"
        )
    return PeakList.from_values(
        columns[:, 0],
        units=units,
        wavelength=wavelength,
        intensity=columns[:, 1] if columns.shape[1] == 2 else None,
        source=source,
        line_numbers=line_numbers,
    )


def _header_units(header: tuple[str, ...] | None) -> str | None:
    return None if header is None else HEADER_UNITS.get(header[0].lower())


# Formats users reach for that are not peak lists, and what to do with them instead.
_PATTERN = "pick its peaks with powdex.patterns.read_peak_input (as powdex index and powdex peaks do)"
_SPREADSHEET = "export the peaks, or the (2θ, intensity) pattern, as text columns (.xy, .csv)"
OTHER_FORMATS = {
    ".cif": ("a crystal structure (CIF)", "a pdCIF pattern: " + _PATTERN),
    ".xrdml": ("a PANalytical scan (XML)", _PATTERN),
    ".brml": ("a Bruker scan (zip)", _PATTERN),
    ".raw": ("a binary diffractometer scan", _PATTERN),
    ".ras": ("a Rigaku scan", _PATTERN),
    ".rasx": ("a Rigaku scan (zip)", _PATTERN),
    ".gsa": ("a GSAS raw-data file", _PATTERN),
    ".gsas": ("a GSAS raw-data file", _PATTERN),
    ".fxye": ("a GSAS raw-data file", _PATTERN),
    ".xra": ("a GSAS raw-data file", _PATTERN),
    ".xlsx": ("a spreadsheet", _SPREADSHEET),
    ".xls": ("a spreadsheet", _SPREADSHEET),
}


def _text_table(path, source: str, suffix: str):
    """The file as a text table; a file of another known format that is not one says what to give instead."""
    try:
        return parse_text_table(read_text(path), source)
    except PeakInputError as error:
        if suffix not in OTHER_FORMATS or not Path(path).is_file():  # a missing file is just that
            raise
        what, instead = OTHER_FORMATS[suffix]
        raise PeakInputError(f"{source}: {what}, not a peak list ({error}); {instead}") from None


def _text_columns(table) -> np.ndarray:
    """(position[, intensity]) columns: the first data line decides whether
    the file has intensities; every line must then have as many columns."""
    column_names = ("position", "intensity") if len(table.rows[0]) >= 2 else ("position",)
    return table.leading_columns(len(column_names), column_names)


def _read_npy(path) -> np.ndarray:
    """An (N, 1) or (N, 2) array of (position[, intensity])."""
    source = str(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PeakInputError(f"{source}: file not found") from None
    except (ValueError, OSError) as error:
        raise PeakInputError(f"{source}: not a readable .npy array ({error})") from None
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise PeakInputError(f"{source}: array of {array.dtype}, expected real numbers")
    if not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] in (1, 2))):
        raise PeakInputError(f"{source}: array of shape {array.shape}, expected (N,), (N, 1) or (N, 2)")
    return array.reshape(array.shape[0], 1) if array.ndim == 1 else array


# numpy >= 2 prints float64 scalars as "np.float64(28.44)", and GSAS-II writes
# its peaks with str(), so both plain and wrapped numbers occur in real files.
_GSAS2_NUMBER = re.compile(r"(?:np\.float\d*\()?\s*([^()\s]+)\s*\)?")


def _gsas2_number(item: str, where: str, item_number: int) -> float:
    match = _GSAS2_NUMBER.fullmatch(item.strip())
    try:
        return float(match.group(1) if match else item)
    except ValueError:
        raise PeakInputError(f"{where}: non-numeric value {item.strip()!r} in item {item_number}") from None


def read_gsas2_pkslst(path: str | PathLike, wavelength: float | None) -> PeakList:
    """Read a GSAS-II constant-wavelength peak list (``.pkslst``), all peaks.

    The format is the one written by ``OnSavePeaks`` inside ``UpdatePeakGrid``
    in GSAS-II's ``GSASIIpwdGUI.py`` ("Save peaks" in the Peak List menu) and
    read back by ``OnLoadPeaks`` there: a first line
    ``#GSAS-II PWDR peaks list file; do not add/delete items!``, then one
    peak per line as ``str()`` of the peak's Python list::

        [28.443, True, 1520.3, True, 0.012, False, 0.004, False]

    i.e. ``[pos, refine, int, refine, sig, refine, gam, refine]`` as built by
    ``GSASIImath.setPeakparms`` (position 2θ in degrees, then intensity,
    Gaussian σ², Lorentzian γ, each with its refine flag; flags may also be
    0/1).  With numpy >= 2 the values may read ``np.float64(28.443)``.  Lines
    containing ``#`` are skipped, as GSAS-II does.  The file holds no
    wavelength, so it must come from the caller.

    Unlike GSAS-II, which stops silently at the first line it cannot
    evaluate, a malformed line is an error here.
    """
    source = str(path)
    positions, intensities, line_numbers = [], [], []
    for line_number, line in enumerate(read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or "#" in line:
            continue
        items = line[1:-1].split(",") if line.startswith("[") and line.endswith("]") else []
        if len(items) < 3:
            raise PeakInputError(
                f"{source}:{line_number}: expected a GSAS-II peak '[position, flag, intensity, ...]', got {line[:40]!r}"
            )
        where = f"{source}:{line_number}"
        positions.append(_gsas2_number(items[0], where, 1))
        intensities.append(_gsas2_number(items[2], where, 3))
        line_numbers.append(line_number)
    if not positions:
        raise PeakInputError(f"{source}: no peaks (the file is empty or holds only comments)")
    return _peaks_from_columns(np.column_stack([positions, intensities]), "2theta", wavelength, source, line_numbers)

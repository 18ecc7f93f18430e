"""Peak lists from measured patterns, and one reader for whatever a user hands the indexer."""

from __future__ import annotations

import logging
from dataclasses import replace
from os import PathLike
from pathlib import Path

import numpy as np

from powdex.crystal.standards import Standard
from powdex.instrument import Instrument
from powdex.patterns.formats import format_of
from powdex.patterns.formats.text_columns import FORMAT as TEXT_COLUMNS
from powdex.patterns.internal_standard import StandardLines, seen_standards, standard_by_name, standard_lines
from powdex.patterns.pattern import Pattern
from powdex.patterns.radiation import tube_lines
from powdex.patterns.reading import read_pattern, with_radiation
from powdex.patterns.search import PeakSearch, search_peaks
from powdex.peaks import PeakInputError, PeakList, StandardSetAside, read_peaks
from powdex.peaks.io import is_scan
from powdex.peaks.peaklist import DUPLICATE_RELATIVE_TOLERANCE
from powdex.peaks.text_table import parse_text_table, read_text
from powdex.peaks.units import two_theta_to_q2

logger = logging.getLogger(__name__)

# Suffixes that are peak lists whatever their content.
PEAK_LIST_SUFFIXES = (".npy", ".pkslst")
# Picks weaker than this fraction of the strongest peak's height are left out of
# the list for indexing: on real patterns they are mostly impurity lines, tails
# of beam artefacts and noise bumps, which cost indexing more than the weak
# true lines they take with them (the next lines up take their places).
MIN_RELATIVE_HEIGHT = 0.01


def peaks_from_pattern(
    pattern: Pattern,
    *,
    n_peaks: int | None = 20,
    min_significance: float = 5.0,
    min_relative_height: float = MIN_RELATIVE_HEIGHT,
    strip: bool = True,
    search: PeakSearch | None = None,
    instrument: Instrument | None = None,
    internal_standard: str | Standard | None = None,
) -> PeakList:
    """The peak list of a measured pattern: its ``n_peaks`` lowest-angle Kα1 lines (all if None).

    Picks lower than ``min_relative_height`` times the strongest peak are
    left out (0 keeps every pick).
    Peaks come from :func:`powdex.patterns.search.search_peaks` (or the
    ``search`` already made of this pattern).  Positions are Kα1 lines when
    the Kα2 was stripped; with ``strip=False`` on a doublet they are
    unresolved Kα1/Kα2 centroids and the list takes the intensity-weighted
    mean wavelength.  Picks closer than the duplicate tolerance of
    :class:`PeakList` are one peak (the stronger is kept), so a picked list is
    never rejected for its own duplicates.  ``notes`` say what was decided.
    ``instrument`` (a calibrated ``powdex.instrument.Instrument``) guides the
    search (see :func:`search_peaks`) and gives the wavelengths where the
    pattern has none.  ``internal_standard`` (a name of
    ``powdex.crystal.standards.STANDARDS`` or a ``Standard``) mixed into the
    sample: the picks that are its lines are set aside before the first
    ``n_peaks`` are taken, and the zero offset its lines show is taken off the
    other positions (:func:`powdex.patterns.internal_standard.standard_lines`).
    Without one, a standard whose lines are a minority of the first
    ``n_peaks`` picks (:func:`powdex.patterns.internal_standard.seen_standards`)
    is named in a note, and the list's ``standard_set_aside`` holds the picks
    read again as that option would read them, which :func:`powdex.index`
    searches when these picks index to nothing decisive.
    """
    if pattern.wavelength is None and instrument is not None:
        pattern = with_instrument_lines(pattern, instrument)
    if pattern.wavelength is None:
        raise PeakInputError(f"{pattern.source}: the file gives no wavelength; give one (--wavelength) or the tube (--anode)")
    if search is None:
        search = search_peaks(pattern, min_significance=min_significance, strip=strip, instrument=instrument)
    step = float(np.median(np.diff(pattern.two_theta)))
    notes = [*pattern.notes, f"a measured pattern ({len(pattern)} points, 2θ step {step:.4g}°): {len(search)} peaks picked",
             *search.notes]
    wavelength = pattern.wavelength
    doublet = len(pattern.wavelengths) == 2 and pattern.ratio > 0
    if search.positions_are_centroids:
        alpha1, alpha2 = pattern.wavelengths[:2]
        wavelength = (alpha1 + pattern.ratio * alpha2) / (1 + pattern.ratio)
        notes.append(f"Kα2 not stripped: positions are Kα1/Kα2 centroids, indexed at their weighted mean λ {wavelength:.5f} Å")
    else:
        notes.append(f"wavelength {wavelength:.5f} Å ({'Kα1' if doublet else 'the only line'})")
    strong = search.height >= min_relative_height * search.height.max(initial=0.0)
    if (~strong).any():
        notes.append(f"{int((~strong).sum())} picks weaker than {min_relative_height:.3g} of the strongest peak left out")
    keep = _distinct(search.two_theta, search.height, wavelength)
    if (~keep & strong).any():
        notes.append(f"{int((~keep & strong).sum())} picks closer than the duplicate tolerance merged into their stronger neighbour")
    keep &= strong
    positions, intensities, fwhm = search.two_theta[keep], search.intensity[keep], search.fwhm[keep]
    if internal_standard is not None:
        standard = (standard_by_name(internal_standard, pattern.source) if isinstance(internal_standard, str)
                    else internal_standard)
        kept, note = _without_standard(positions, intensities, fwhm,
                                       standard_lines(positions, fwhm, wavelength, standard))
        return _peak_list(pattern.source, wavelength, *kept, n_peaks, [*notes, note])
    seen = seen_standards(positions[: n_peaks or None], fwhm[: n_peaks or None], wavelength)
    peaks = _peak_list(pattern.source, wavelength, positions, intensities, fwhm, n_peaks,
                       [*notes, *(_standard_seen(found, positions[: found.matched.size]) for found in seen)])
    if not seen:
        return peaks
    # The standard most of whose lines are picks is read again with them set aside, for indexing to search when
    # these picks find nothing decisive (``powdex.indexing.internal_standard``).
    found = max(seen, key=lambda f: f.n_matched)
    again = standard_lines(positions, fwhm, wavelength, found.standard)
    kept, note = _without_standard(positions, intensities, fwhm, again)
    set_aside = StandardSetAside(found.standard.name, _peak_list(pattern.source, wavelength, *kept, n_peaks,
                                                                 [*notes, note]),
                                 found.n_matched, again.zero_offset)
    return replace(peaks, standard_set_aside=set_aside)


def _peak_list(source: str, wavelength: float, positions: np.ndarray, intensities: np.ndarray, fwhm: np.ndarray,
               n_peaks: int | None, notes: list[str]) -> PeakList:
    """The list for indexing of picks at ``positions`` (° 2θ) with their intensities and widths: the first
    ``n_peaks`` (all if None), with ``notes``."""
    # The search's σ(2θ) stay out of the list for indexing: they are counting errors, 1–6 times smaller than
    # the scatter of real picks about their refined cell and hardly correlated with it, and weighting by
    # them (powdex.indexing.observations.sigma_weights) moved the garnet neutron pattern's cell from first
    # to second and no other of 18 real patterns (benchmarks/index_real_patterns.py --time-limit 10).
    peaks = PeakList.from_values(positions, units="2theta", wavelength=wavelength, intensity=intensities, source=source)
    # The widths tell indexing how close two lines can be and still be told apart (``Observations.fwhm``).
    peaks = replace(peaks, fwhm=fwhm)
    if n_peaks is not None and peaks.n > n_peaks:
        notes = [*notes, f"the first {n_peaks} of {peaks.n} peaks are used (lowest angles)"]
        peaks = peaks.first(n_peaks)
    logger.info("%s: %d peaks picked", source, peaks.n)
    return _with_notes(peaks, notes)


def with_instrument_lines(pattern: Pattern, instrument: Instrument) -> Pattern:
    """``pattern`` with the wavelengths and Kα2 ratio of ``instrument``, with a note."""
    lines = "/".join(f"{w:.5f}" for w in instrument.wavelengths)
    note = f"wavelengths {lines} Å" + (f", ratio {instrument.ratio:g}" if instrument.ratio else "") + \
        f" from the instrument {instrument.source or '(given)'}"
    return replace(pattern, wavelengths=instrument.wavelengths, ratio=instrument.ratio,
                   notes=(*pattern.notes, note))


def _without_standard(positions: np.ndarray, intensities: np.ndarray, fwhm: np.ndarray,
                      found: StandardLines) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], str]:
    """The picks (positions, intensities, widths) that are not the standard's lines ``found`` among them, their
    positions corrected by the zero offset those lines show; and a note saying what was set aside (or that the
    standard was not seen)."""
    standard = found.standard
    label = f"internal standard {standard.name} ({standard.certificate})"
    if found.n_matched == 0:
        return (positions, intensities, fwhm), (f"{label}: none of its {found.expected} lines in the picked range found "
                                        "among the picks; nothing set aside")
    keep = ~found.matched
    return ((positions[keep] - found.zero_offset, intensities[keep], fwhm[keep]),
            f"{label}: {found.n_matched} picks set aside as its lines ({found.expected} in the picked range), "
            f"zero offset {found.zero_offset:+.4f}° 2θ taken off the other positions")


def _standard_seen(found: StandardLines, positions: np.ndarray) -> str:
    """A note for a certified standard whose lines are a minority of the picks at ``positions``
    (``seen_standards``): indexing takes them for a second phase unless they are set aside."""
    return (f"{found.n_matched} of these picks ({', '.join(f'{t:.3f}' for t in positions[found.matched])}°) are "
            f"lines of {found.standard.name} ({found.standard.certificate}) at a zero offset of "
            f"{found.zero_offset:+.4f}°: where these picks index to nothing decisive, indexing searches again with "
            f"them set aside; if it was mixed in as an internal standard, name it (--internal-standard "
            f"{found.standard.name}) to set them aside from the start")


def _with_notes(peaks: PeakList, notes) -> PeakList:
    return replace(peaks, notes=tuple(notes))


def _distinct(two_theta: np.ndarray, height: np.ndarray, wavelength: float) -> np.ndarray:
    """Which picks to keep so that no two are duplicates in :class:`PeakList`'s sense."""
    q2 = two_theta_to_q2(two_theta, wavelength)
    keep = np.ones(q2.size, dtype=bool)
    for i in np.argsort(height)[::-1]:
        if keep[i]:
            close = np.abs(q2 - q2[i]) <= DUPLICATE_RELATIVE_TOLERANCE * np.maximum(q2, q2[i])
            close[i] = False
            keep &= ~close
    return keep


def read_peak_input(
    path: str | PathLike,
    *,
    units: str | None = None,
    wavelength: float | None = None,
    anode: str | None = None,
    n_peaks: int | None = 20,
    default_wavelength: float | None = None,
    instrument: Instrument | None = None,
    internal_standard: str | Standard | None = None,
) -> PeakList:
    """The peak list in ``path``, read as a list or picked from a measured pattern.

    Instrument formats (XRDML, BRML, RAW, RAS/RASX, GSAS, pdCIF) are patterns;
    text columns are a pattern when their content says so (many points on a
    slowly varying grid, :func:`powdex.peaks.io.is_scan`), otherwise a peak
    list read by :func:`powdex.peaks.read_peaks`.  ``wavelength`` and
    ``anode`` are as in :func:`powdex.patterns.read_pattern`; a peak list
    given only ``anode`` is taken as unresolved Kα1/Kα2 centroids at the
    weighted mean wavelength, with a note.  ``default_wavelength`` is used,
    as :func:`powdex.peaks.read_peaks` uses it, when neither the caller nor
    the file gives one; the list then says ``wavelength_assumed``.
    ``instrument`` guides the peak search of a measured pattern
    (:func:`peaks_from_pattern`), and its wavelengths replace the file's
    unless ``wavelength`` or ``anode`` is given.  ``internal_standard``: see
    :func:`peaks_from_pattern`; a peak list (no widths, no pattern) refuses it.
    """
    path = Path(path)
    source = str(path)
    if _is_pattern(path, source, units):
        pattern = read_pattern(path, wavelength=wavelength, anode=anode)
        if instrument is not None and wavelength is None and anode is None:
            pattern = with_instrument_lines(pattern, instrument)
        assumed = pattern.wavelength is None and default_wavelength is not None
        if assumed:
            pattern = with_radiation(pattern, wavelength=default_wavelength)
        peaks = peaks_from_pattern(pattern, n_peaks=n_peaks, instrument=instrument,
                                   internal_standard=internal_standard)
        return replace(peaks, wavelength_assumed=True) if assumed else peaks
    if internal_standard is not None:
        raise PeakInputError(f"{source}: an internal standard's lines are recognised in a measured pattern; this is "
                             "a peak list: take the standard's lines out of it")
    notes = []
    if wavelength is None and anode is not None:
        tube = tube_lines(anode)
        wavelength = tube.k_alpha_mean
        notes.append(f"{tube.anode} peak positions taken as unresolved Kα1/Kα2 centroids: λ {wavelength:.5f} Å (weighted mean)")
    if instrument is not None and wavelength is None:
        default_wavelength = instrument.wavelengths[0]  # a peak list's positions are Kα1 lines
    peaks = read_peaks(path, units=units, wavelength=wavelength, n_peaks=n_peaks, default_wavelength=default_wavelength)
    return _with_notes(peaks, (*notes, *peaks.notes)) if notes else peaks


def _is_pattern(path: Path, source: str, units: str | None) -> bool:
    if path.suffix.lower() in PEAK_LIST_SUFFIXES or path.is_dir() or not path.exists():
        return False  # read_peaks says what is wrong
    try:
        pattern_format = format_of(path, source)
    except PeakInputError:
        return False
    if pattern_format is not TEXT_COLUMNS:
        return True
    if units not in (None, "2theta"):
        return False
    try:
        table = parse_text_table(read_text(path), source)
        columns = table.leading_columns(min(len(table.rows[0]), 2), ("2θ", "intensity"))
    except PeakInputError:
        return False  # not clean columns: read_peaks names the line
    return is_scan(columns)

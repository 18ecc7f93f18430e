"""Powder CIF (pdCIF, Toby 2006, International Tables G §4.3): the first data block holding a pattern.

2θ from ``_pd_meas_2theta_scan``, ``_pd_proc_2theta_corrected`` or the
even grid ``_pd_meas_2theta_range_{min,max,inc}``; intensity from
``_pd_meas_counts_total``, ``_pd_meas_intensity_total``,
``_pd_proc_intensity_total`` or ``_pd_proc_intensity_net``, its σ from the
value's standard uncertainty ``123(11)`` or ``_pd_proc_ls_weight`` (1/σ²; √I where
the weight is 0 or missing, points a refinement left out);
wavelengths from ``_diffrn_radiation_wavelength`` (with
``_diffrn_radiation_wavelength_wt`` for a Kα doublet; one weighted line is a
Kα1-only beam) or ``_pd_proc_wavelength``.  DDLm names (``_pd_meas.2theta_scan``) are read
as well.  Parsing is gemmi's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import MONOCHROMATIC, counting_sigma, pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

SUFFIXES = (".cif", ".pdcif", ".rtv")
TWO_THETA_TAGS = ("_pd_meas_2theta_scan", "_pd_proc_2theta_corrected", "_pd_meas_angle_2theta")
INTENSITY_TAGS = ("_pd_meas_counts_total", "_pd_meas_intensity_total", "_pd_proc_intensity_total", "_pd_proc_intensity_net")


def sniff(head: bytes, path: Path) -> bool:
    return b"data_" in head and b"_pd_" in head


def _ddlm(tag: str) -> str:
    """``_pd_meas_2theta_scan`` → ``_pd_meas.2theta_scan``."""
    category, _, item = tag[1:].partition("_")[2].partition("_")
    return f"_{tag[1:].split('_')[0]}_{category}.{item}"


def _column(block, tags) -> tuple[str, list[str]] | None:
    for tag in tags:
        for name in (tag, _ddlm(tag)):
            values = block.find_values(name)
            if len(values):
                return name, list(values)
    return None


def _value_and_su(text: str) -> tuple[float, float]:
    """``12.5(3)`` → (12.5, 0.3); ``?`` and ``.`` → NaN."""
    import gemmi

    if text in ("?", "."):
        return float("nan"), float("nan")
    value = gemmi.cif.as_number(text)
    if "(" not in text:
        return value, float("nan")
    mantissa = text.split("(")[0]
    decimals = len(mantissa.split(".")[1].split("e")[0].split("E")[0]) if "." in mantissa else 0
    return value, float(text.split("(")[1].rstrip(")")) * 10.0**-decimals


def _numbers(values: list[str], tag: str, source: str) -> np.ndarray:
    try:
        return np.array([_value_and_su(value)[0] for value in values])
    except (ValueError, RuntimeError):
        raise PeakInputError(f"{source}: {tag} holds non-numbers") from None


def read(path: Path, source: str) -> Pattern:
    import gemmi

    try:
        document = gemmi.cif.read(str(path))
    except (RuntimeError, ValueError) as error:
        raise PeakInputError(f"{source}: not a readable CIF ({str(error).splitlines()[0]})") from None
    for block in document:
        intensity_column = _column(block, INTENSITY_TAGS)
        if intensity_column is not None:
            break
    else:
        raise PeakInputError(f"{source}: no powder pattern (no _pd_meas_counts_total/_pd_proc_intensity_* loop); a structure CIF?")
    _, texts = intensity_column
    pairs = np.array([_value_and_su(text) for text in texts]) if texts else np.empty((0, 2))
    intensity, sigma = pairs[:, 0], pairs[:, 1]
    weights = _column(block, ("_pd_proc_ls_weight",))
    if np.isnan(sigma).all() and weights is not None:
        weight = _numbers(weights[1], weights[0], source)
        # A refinement writes weight 0 or "." for the points it left out (excluded regions, the last
        # point); they were measured all the same, so they keep the counting σ instead of being dropped.
        fitted = np.isfinite(weight) & (weight > 0)
        sigma = counting_sigma(intensity)
        sigma[fitted] = 1 / np.sqrt(weight[fitted])
    sigma = None if np.isnan(sigma).all() else sigma
    angles = _column(block, TWO_THETA_TAGS)
    if angles is not None:
        two_theta = _numbers(angles[1], angles[0], source)
    else:
        grid = [block.find_value(name) or block.find_value(_ddlm(name)) for name in
                ("_pd_meas_2theta_range_min", "_pd_meas_2theta_range_max", "_pd_meas_2theta_range_inc")]
        if not all(grid):
            raise PeakInputError(f"{source}: block {block.name} has intensities but no 2θ (_pd_meas_2theta_scan or _range_*)")
        low, high, step = (_value_and_su(value)[0] for value in grid)
        two_theta = low + step * np.arange(intensity.size)
        if abs(two_theta[-1] - high) > step / 2:
            raise PeakInputError(
                f"{source}: block {block.name}: {intensity.size} intensities on {low:g}–{high:g}° by {step:g}° "
                f"(that grid has {round((high - low) / step) + 1} points)"
            )
    if two_theta.size != intensity.size:
        raise PeakInputError(f"{source}: block {block.name} has {two_theta.size} 2θ values but {intensity.size} intensities")
    wavelengths, ratio, weighted = _wavelengths(document, block)
    metadata: dict[str, object] = {"block": block.name}
    if weighted and len(wavelengths) == 1:
        # A weighted spectrum of one line (GSAS2CIF writes "CuKα1 1.540593 1.000" where the refinement
        # modelled a Kα1-only beam) says the beam is that line alone.
        metadata[MONOCHROMATIC] = True
    return pattern_from_columns(two_theta, intensity, sigma, source, wavelengths=wavelengths, ratio=ratio, metadata=metadata)


def _wavelengths(document, block) -> tuple[tuple[float, ...], float, bool]:
    """The block's wavelengths (else the first block that states any), strongest first, the Kα2/Kα1
    ratio, and whether the file weighs its lines (``_diffrn_radiation_wavelength_wt``)."""
    for candidate in (block, *document):
        found = _column(candidate, ("_diffrn_radiation_wavelength", "_pd_proc_wavelength"))
        if found is None:
            continue
        lines = [_value_and_su(text)[0] for text in found[1]]
        weights_column = _column(candidate, ("_diffrn_radiation_wavelength_wt",))
        weights = [_value_and_su(text)[0] for text in weights_column[1]] if weights_column else [1.0] * len(lines)
        ordered = sorted(zip(weights, lines), reverse=True)[:2]
        wavelengths = tuple(line for _, line in ordered if line > 0)
        ratio = ordered[1][0] / ordered[0][0] if len(wavelengths) == 2 and ordered[0][0] > 0 else 0.0
        return wavelengths, ratio, weights_column is not None
    return (), 0.0, False


FORMAT = PatternFormat("powder CIF", SUFFIXES, sniff, read)

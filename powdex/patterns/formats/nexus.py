"""NeXus/HDF5 (``.nxs``, ``.h5``, ``.hdf5``, ``.nx5``): the default ``NXdata`` of the first ``NXentry``.

The entry and the data group are those the ``default`` attributes name
(NeXus 2014 conventions), else the first ``NXentry`` and the first ``NXdata``
in it that names a ``signal``.  The signal is the intensity, ``errors`` (or
``<signal>_errors``) its σ; the first of the ``axes`` is 2θ (degrees, or
radians by its ``units``) or Q (Å⁻¹ or nm⁻¹, by its name or ``units``),
converted to 2θ with the wavelength.  The wavelength is the first found of
``NXmonochromator/wavelength``, ``NXbeam/incident_wavelength`` and a lab
source's ``k_alpha_one``/``k_alpha_two``/``ratio_k_alphatwo_k_alphaone``
(as NOMAD's ``NXxrd_pan`` writes them), in the units their ``units`` say.
Reading needs h5py, an optional extra (``pip install powdex[nexus]``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from powdex.patterns.formats import PatternFormat
from powdex.patterns.formats.common import pattern_from_columns
from powdex.patterns.pattern import Pattern
from powdex.peaks.peaklist import PeakInputError

logger = logging.getLogger(__name__)

SUFFIXES = (".nxs", ".nx5", ".h5", ".hdf5", ".hdf")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TWO_THETA_NAMES = {"two_theta", "2theta", "twotheta", "tth", "polar_angle", "2th"}
_Q_NAMES = {"q", "q_value", "qvalue", "momentum_transfer"}
# Length units a wavelength may come in, as factors to Å.
_LENGTH_TO_ANGSTROM = {"": 1.0, "a": 1.0, "å": 1.0, "angstrom": 1.0, "angstroms": 1.0, "ang": 1.0,
                       "nm": 10.0, "m": 1e10, "pm": 0.01}
# Inverse-length units of Q, as factors to Å⁻¹.
_Q_UNITS = {"1/a": 1.0, "1/å": 1.0, "1/angstrom": 1.0, "a^-1": 1.0, "å^-1": 1.0, "angstrom^-1": 1.0,
            "a-1": 1.0, "å-1": 1.0, "1/nm": 0.1, "nm^-1": 0.1, "nm-1": 0.1}


def sniff(head: bytes, path: Path) -> bool:
    return head.startswith(_HDF5_SIGNATURE)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _text(value.ravel()[0]) if value.size else ""
    return str(value)


def _nx_class(obj) -> str:
    return _text(obj.attrs.get("NX_class", ""))


def _units(obj) -> str:
    return _text(obj.attrs.get("units", "")).strip().lower().replace(" ", "")


def _children(group, nx_class: str) -> list:
    import h5py

    return [group[name] for name in group if isinstance(group[name], h5py.Group) and _nx_class(group[name]) == nx_class]


def _default_child(group, nx_class: str):
    """The child ``group``'s ``default`` attribute names, else its first child of ``nx_class``."""
    name = _text(group.attrs.get("default", ""))
    if name and name in group:
        return group[name]
    children = _children(group, nx_class)
    return children[0] if children else None


def _data_group(entry, source: str):
    """The NXdata to read: the entry's default, else the first one below it with a signal."""
    import h5py

    default = _default_child(entry, "NXdata")
    if default is not None and "signal" in default.attrs:
        return default
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and _nx_class(obj) == "NXdata" and "signal" in obj.attrs:
            found.append(obj)

    entry.visititems(visit)
    if not found:
        raise PeakInputError(f"{source}: no NXdata group with a 'signal' attribute (not a NeXus pattern)")
    return found[0]


def _wavelength(entry) -> tuple[tuple[float, ...], float]:
    """(wavelengths in Å, Kα2/Kα1 ratio) from the entry's instrument groups; () when none says."""
    import h5py

    datasets: dict[str, list] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.size == 1:
            datasets.setdefault(f"{_nx_class(obj.parent)}/{name.rsplit('/', 1)[-1]}", []).append(obj)

    entry.visititems(visit)

    def length(key: str) -> float | None:
        """The first positive value of ``key`` in Å, among those in known length units."""
        for dataset in datasets.get(key, []):
            factor = _LENGTH_TO_ANGSTROM.get(_units(dataset))
            if factor is not None and (value := float(np.asarray(dataset[()]).ravel()[0]) * factor) > 0:
                return value
        return None

    for key in ("NXmonochromator/wavelength", "NXbeam/incident_wavelength"):
        value = length(key)
        if value:
            return (value,), 0.0
    alpha1, alpha2 = length("NXsource/k_alpha_one"), length("NXsource/k_alpha_two")
    if alpha1:
        ratios = datasets.get("NXsource/ratio_k_alphatwo_k_alphaone", [])
        ratio = float(np.asarray(ratios[0][()]).ravel()[0]) if ratios else 0.0
        if alpha2 and 0 < ratio <= 1:
            return (alpha1, alpha2), ratio
        return (alpha1,), 0.0
    return (), 0.0


def _two_theta(axis, name: str, wavelengths: tuple[float, ...], source: str) -> np.ndarray:
    values = np.asarray(axis[()], dtype=float).ravel()
    units = _units(axis)
    if units in _Q_UNITS or (name.lower() in _Q_NAMES and units not in ("deg", "degree", "degrees", "rad")):
        if not wavelengths:
            raise PeakInputError(f"{source}: the axis '{name}' is Q and the file gives no wavelength; give one (--wavelength)")
        sine = values * _Q_UNITS.get(units, 1.0) * wavelengths[0] / (4 * np.pi)
        if np.any(np.abs(sine) >= 1):
            raise PeakInputError(f"{source}: Q up to {values.max():g} {units or 'Å⁻¹'} is beyond 4π/λ at λ {wavelengths[0]:g} Å")
        return np.degrees(2 * np.arcsin(sine))
    if units in ("rad", "radian", "radians"):
        return np.degrees(values)
    if units in ("", "deg", "degree", "degrees", "°") and (units or name.lower() in _TWO_THETA_NAMES):
        return values
    raise PeakInputError(f"{source}: the axis '{name}' ({units or 'no units'}) is neither 2θ nor Q")


def read(path: Path, source: str) -> Pattern:
    try:
        import h5py
    except ImportError:
        raise PeakInputError(f"{source}: a NeXus/HDF5 file; reading it needs h5py (pip install 'powdex[nexus]')") from None
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise PeakInputError(f"{source}: not a readable HDF5 file ({error})") from None
    with handle:
        entry = _default_child(handle, "NXentry")
        entry = handle if entry is None else entry
        data = _data_group(entry, source)
        signal_name = _text(data.attrs["signal"])
        if signal_name not in data:
            raise PeakInputError(f"{source}: {data.name} names signal '{signal_name}', which it does not hold")
        axes = data.attrs.get("axes")
        axis_names = [_text(a) for a in np.atleast_1d(axes)] if axes is not None else []
        axis_name = next((a for a in axis_names if a and a != "." and a in data), None)
        if axis_name is None:
            raise PeakInputError(f"{source}: {data.name} names no 'axes' it holds, so no 2θ or Q axis")
        intensity = np.asarray(data[signal_name][()], dtype=float)
        if intensity.ndim > 1 and intensity.size == max(intensity.shape):
            intensity = intensity.ravel()
        if intensity.ndim != 1:
            raise PeakInputError(f"{source}: signal '{signal_name}' has shape {intensity.shape}; a powder pattern is one curve")
        errors_name = next((n for n in ("errors", f"{signal_name}_errors") if n in data), None)
        sigma = np.asarray(data[errors_name][()], dtype=float).ravel() if errors_name else None
        wavelengths, ratio = _wavelength(entry)
        two_theta = _two_theta(data[axis_name], axis_name, wavelengths, source)
        metadata: dict[str, object] = {"entry": entry.name, "data": data.name}
        if "definition" in entry:
            metadata["definition"] = _text(entry["definition"][()])
    if two_theta.size > 1 and two_theta[0] > two_theta[-1]:
        two_theta, intensity = two_theta[::-1], intensity[::-1]
        sigma = sigma[::-1] if sigma is not None else None
    logger.debug("%s: %s/%s against %s", source, metadata["data"], signal_name, axis_name)
    return pattern_from_columns(two_theta, intensity, sigma, source, wavelengths=wavelengths, ratio=ratio,
                                metadata=metadata)


FORMAT = PatternFormat("NeXus/HDF5", SUFFIXES, sniff, read)

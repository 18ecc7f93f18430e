"""A measured powder pattern as every later stage sees it, whatever file it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np

from powdex.peaks.peaklist import PeakInputError

Radiation = Literal["xray", "neutron"]


def _frozen(values, name: str, source: str) -> np.ndarray:
    array = np.array(values, dtype=float).ravel()
    if array.ndim != 1:
        raise PeakInputError(f"{source}: {name} must be one column of numbers")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Pattern:
    """A constant-wavelength powder pattern.

    ``two_theta`` in degrees, strictly increasing (the grid may be uneven or
    rounded); ``intensity`` in counts or the file's units; ``sigma`` the
    standard uncertainty of each intensity (from the file, or √I for counts
    where the file has none: ``sigma_from_file`` says which).
    ``wavelengths`` are the lines in Å, strongest first: one for a
    monochromatic beam, (Kα1, Kα2) for a lab tube, with ``ratio`` = I(Kα2)/I(Kα1)
    (0 for one line).  ``metadata`` holds what the file says of the
    measurement (temperature in K, time, instrument...), ``notes`` what reading
    decided for the user (a wavelength an option overrode, points dropped).
    Arrays are read-only so that a pattern can be shared between stages.
    """

    two_theta: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    source: str
    wavelengths: tuple[float, ...] = ()
    ratio: float = 0.0
    radiation: Radiation = "xray"
    sigma_from_file: bool = False
    metadata: Mapping[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        source = self.source
        two_theta = _frozen(self.two_theta, "2θ", source)
        intensity = _frozen(self.intensity, "intensity", source)
        sigma = _frozen(self.sigma, "σ", source)
        if not (two_theta.size == intensity.size == sigma.size):
            raise PeakInputError(
                f"{source}: {two_theta.size} 2θ values, {intensity.size} intensities and {sigma.size} σ"
            )
        if two_theta.size and (np.any(np.diff(two_theta) <= 0) or not np.all(np.isfinite(two_theta))):
            raise PeakInputError(f"{source}: 2θ must be finite and strictly increasing")
        if any(not (0.0 < w < 100.0) for w in self.wavelengths):
            raise PeakInputError(f"{source}: implausible wavelength in {self.wavelengths} Å")
        if not 0.0 <= self.ratio <= 1.0 or (self.ratio > 0 and len(self.wavelengths) < 2):
            raise PeakInputError(f"{source}: Kα2/Kα1 ratio {self.ratio} needs two wavelengths and must lie in [0, 1]")
        object.__setattr__(self, "two_theta", two_theta)
        object.__setattr__(self, "intensity", intensity)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "wavelengths", tuple(float(w) for w in self.wavelengths))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def wavelength(self) -> float | None:
        """The main (Kα1, or only) wavelength, None when the file gives none."""
        return self.wavelengths[0] if self.wavelengths else None

    def __len__(self) -> int:
        return int(self.two_theta.size)

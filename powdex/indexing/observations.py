"""The observed peaks in the form the indexer works with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from powdex.peaks import CU_KA1, PeakList, dq2_dtwo_theta, q2_to_two_theta


@dataclass(frozen=True)
class Observations:
    """Peak positions (ascending q²) with the derived arrays every trial cell needs.

    2θ is always defined: at the data's wavelength, or at Cu Kα1 when the peaks
    came as d or q² without one (then 2θ is only a scale on which errors and
    weights are measured, the same for every candidate).
    """

    q2: np.ndarray
    two_theta: np.ndarray
    intensity: np.ndarray
    dq2_dtt: np.ndarray
    wavelength: float
    source: str

    @classmethod
    def from_peaks(cls, peaks: PeakList) -> Observations:
        wavelength = peaks.wavelength or CU_KA1
        q2 = np.asarray(peaks.q2, dtype=float)
        tt = q2_to_two_theta(q2, wavelength)
        if not np.all(np.isfinite(tt)):
            raise ValueError(f"{peaks.source}: peaks at d below λ/2 = {wavelength / 2:.4f} Å (q² above "
                             f"{4 / wavelength**2:.3f} Å⁻²) cannot be observed at λ = {wavelength:g} Å")
        intensity = np.asarray(peaks.intensity, dtype=float)
        intensity = intensity / intensity.max() if intensity.max() > 0 else np.ones_like(q2)
        return cls(q2, tt, intensity, dq2_dtwo_theta(tt, wavelength), float(wavelength), peaks.source)

    @property
    def n(self) -> int:
        return len(self.q2)

"""The observed peaks in the form the indexer works with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from powdex.instrument import Instrument, corrected_two_theta
from powdex.peaks import CU_KA1, PeakInputError, PeakList, dq2_dtwo_theta, q2_to_two_theta, two_theta_to_q2

# 2θ of the last peak when the error scale of d or q² input has to be a shorter wavelength than Cu Kα1.
LAST_PEAK_TWO_THETA = 150.0
# A stated σ(2θ) is mostly counting error.  About a least-squares cell (with zero and displacement), the
# peak-search picks of real patterns scatter by 1–6 times their list's median σ (median |Δ2θ| / median σ:
# PbSO4 lab 3.9, fluorapatite lab 5.7, β-Si3N4 lab 0.75, 3-aminoquinoline synchrotron 2.3), hardly more
# where σ is larger: each peak's error is taken as √(σ² + (this × median σ)²).
SYSTEMATIC_PER_MEDIAN_SIGMA = 3.0


@dataclass(frozen=True)
class Observations:
    """Peak positions (ascending q²) with the derived arrays every trial cell needs.

    2θ is always defined: at the data's wavelength, or, when the peaks came as d
    or q² without one, at a stated working wavelength: Cu Kα1 where every peak
    can be seen at it, else the wavelength that puts the last peak at
    ``LAST_PEAK_TWO_THETA`` (q² to 2.8 Å⁻² of a synchrotron calibrant list).
    Then 2θ is only the scale on which errors and weights are measured, the same
    for every candidate, and ``notes`` say which one was taken.

    With a calibrated ``Instrument`` the positions measured in 2θ are its Bragg
    angles (the instrument's zero, displacement and transparency or capillary
    shifts taken off), so candidates are scored on corrected positions, and
    each peak's ``weight`` is the instrument's median FWHM over the peaks
    divided by its FWHM at the peak: a peak's position error grows with its
    width, so a broad high-angle line counts less.  Peaks that carry their own
    σ(2θ) (a DICVOL file's individual errors) are weighted by them instead
    (``sigma_weights``).  Without either every weight is 1.

    ``fwhm`` (° 2θ) is each peak's width where a peak search measured it (a
    measured pattern), else None: it says how close two lines can lie and
    still be seen apart (``ScoringModel.for_peak_widths``).
    """

    q2: np.ndarray
    two_theta: np.ndarray
    intensity: np.ndarray
    dq2_dtt: np.ndarray
    wavelength: float
    source: str
    notes: tuple[str, ...] = ()
    weight: np.ndarray = field(default_factory=lambda: np.ones(0))
    fwhm: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weight.size != self.q2.size:  # not given: every peak counts the same
            object.__setattr__(self, "weight", np.ones_like(self.q2))

    @classmethod
    def from_peaks(cls, peaks: PeakList, instrument: Instrument | None = None) -> Observations:
        q2 = np.asarray(peaks.q2, dtype=float)
        notes: tuple[str, ...] = ()
        weight = np.ones(0)
        if instrument is not None and peaks.two_theta is not None and peaks.wavelength is not None:
            measured = np.asarray(peaks.two_theta, dtype=float)
            bragg = corrected_two_theta(instrument, measured)
            q2 = two_theta_to_q2(bragg, float(peaks.wavelength))
            fwhm = instrument.fwhm(bragg)
            weighted = bool(np.all(fwhm > 0))
            if weighted:
                weight = float(np.median(fwhm)) / fwhm
            shift = measured - bragg
            notes = (f"positions corrected for the instrument {instrument.source or '(given)'}: "
                     f"Δ2θ {shift.min():+.4f} to {shift.max():+.4f}°"
                     + (", peaks weighted by its FWHM" if weighted else ""),)
        elif instrument is not None:
            notes = ("the instrument's shifts apply to measured 2θ: these peaks, given as d or q² (or without a "
                     "wavelength), are used as they are",)
        own = sigma_weights(peaks.two_theta_sigma)
        if own is not None:
            weight = own
            notes += (f"peaks weighted by their own σ(2θ) ({float(np.min(own)):.2f}–{float(np.max(own)):.2f} of the "
                      "median), each with a systematic error of "
                      f"{SYSTEMATIC_PER_MEDIAN_SIGMA:g} × the median σ",)
        measured_in_two_theta = peaks.two_theta is not None
        if peaks.wavelength is not None and (measured_in_two_theta or not peaks.wavelength_assumed):
            wavelength = float(peaks.wavelength)
        else:
            wavelength = error_scale_wavelength(q2)
            if wavelength != CU_KA1:  # Cu Kα1, the usual scale of 2θ errors, goes without saying
                notes += (f"positions given as d or q² without a wavelength, past what Cu Kα1 reaches: "
                         f"peak-position errors are measured as 2θ at λ = {wavelength:.4f} Å",)
        tt = q2_to_two_theta(q2, wavelength)
        if not np.all(np.isfinite(tt)):
            raise PeakInputError(f"{peaks.source}: peaks at d below λ/2 = {wavelength / 2:.4f} Å (q² above "
                             f"{4 / wavelength**2:.3f} Å⁻²) cannot be observed at λ = {wavelength:g} Å")
        intensity = np.asarray(peaks.intensity, dtype=float)
        intensity = intensity / intensity.max() if intensity.max() > 0 else np.ones_like(q2)
        # Widths measured in 2θ at the data's wavelength, which the positions keep.
        fwhm = peaks.fwhm if measured_in_two_theta and peaks.fwhm is not None and wavelength == peaks.wavelength \
            else None
        return cls(q2, tt, intensity, dq2_dtwo_theta(tt, wavelength), wavelength, peaks.source, notes, weight,
                   None if fwhm is None else np.asarray(fwhm, dtype=float))

    @property
    def n(self) -> int:
        return len(self.q2)


def error_scale_wavelength(q2: np.ndarray) -> float:
    """The working wavelength of d or q² input (see ``Observations``)."""
    # λ = 2 d sin θ with d = 1/√q² of the last peak.
    reaching = 2 * np.sin(np.radians(LAST_PEAK_TWO_THETA / 2)) / np.sqrt(float(np.max(q2)))
    return CU_KA1 if reaching >= CU_KA1 else float(reaching)


def sigma_weights(two_theta_sigma: np.ndarray | None) -> np.ndarray | None:
    """Each peak's weight from its own σ(2θ): median(σ_e) / σ_e with σ_e² = σ² + (``SYSTEMATIC_PER_MEDIAN_SIGMA``
    × median σ)², so a weak peak's larger counting error counts and a strong one's tiny σ does not make it
    dominate.  None without σ, or with a σ that is not finite and positive."""
    if two_theta_sigma is None:
        return None
    sigma = np.asarray(two_theta_sigma, dtype=float)
    if sigma.size == 0 or not np.all(np.isfinite(sigma) & (sigma > 0)):
        return None
    effective = np.hypot(sigma, SYSTEMATIC_PER_MEDIAN_SIGMA * float(np.median(sigma)))
    return float(np.median(effective)) / effective

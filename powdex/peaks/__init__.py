"""Peak input: reading peak lists and patterns, unit conversion, peak picking.

A low layer: depends on numpy and scipy only.
"""

from .io import read_peaks
from .peaklist import PeakInputError, PeakList
from .picking import Pattern, pick_peaks, read_pattern
from .units import CU_KA1, d_to_q2, dq2_dtwo_theta, q2_to_d, q2_to_two_theta, two_theta_to_q2

__all__ = [
    "CU_KA1",
    "Pattern",
    "PeakInputError",
    "PeakList",
    "d_to_q2",
    "dq2_dtwo_theta",
    "pick_peaks",
    "q2_to_d",
    "q2_to_two_theta",
    "read_pattern",
    "read_peaks",
    "two_theta_to_q2",
]

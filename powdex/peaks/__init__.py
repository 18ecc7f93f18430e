"""Peak input: reading peak lists and patterns, unit conversion, peak picking.

A low layer: depends on numpy and scipy only.
"""

from .io import read_peaks
from .peaklist import PeakInputError, PeakList
from .units import CU_KA1, d_to_q2, dq2_dtwo_theta, q2_to_d, q2_to_two_theta, two_theta_to_q2

_PICKING = ("Pattern", "pick_peaks", "read_pattern")


def __getattr__(name: str):
    # Peak picking needs scipy.signal (over a second to import); load it on first use.
    if name in _PICKING:
        from . import picking

        return getattr(picking, name)
    raise AttributeError(f"module 'powdex.peaks' has no attribute {name!r}")

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

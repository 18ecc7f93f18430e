"""Peak input: reading peak lists, unit conversion.  Measured patterns and
their peak search are :mod:`powdex.patterns`.

A low layer: depends on numpy and scipy only.
"""

from .errors import PeakInputError
from .io import read_peaks
from .peaklist import PeakList, StandardSetAside
from .units import CU_KA1, d_to_q2, dq2_dtwo_theta, q2_to_d, q2_to_two_theta, two_theta_to_q2

__all__ = [
    "CU_KA1",
    "PeakInputError",
    "PeakList",
    "StandardSetAside",
    "d_to_q2",
    "dq2_dtwo_theta",
    "q2_to_d",
    "q2_to_two_theta",
    "read_peaks",
    "two_theta_to_q2",
]

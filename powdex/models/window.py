"""The peak lists the learned models were trained on, and so the peak lists they can read.

The training patterns (``powdex.training.diffraction``, which takes these values
from here) are computed for Cu Kα at 1.54 Å on 2θ ≤ 60° with Gaussian peaks of
0.1° FWHM; of two peaks closer than FWHM / 1.5 only the stronger is observable.
The models read q² (Å⁻²), which does not depend on the wavelength, so what a
user's peak list must match is the q² range ``Q2_WINDOW``: peaks beyond it were
never seen in training.
"""

from __future__ import annotations

from powdex.peaks import two_theta_to_q2

WAVELENGTH = 1.54  # Å, Cu Kα
TWO_THETA_MAX = 60.0  # degrees
FWHM = 0.1  # degrees 2θ, the width of every peak of the training patterns
OVERLAP_DISTANCE = FWHM / 1.5  # degrees 2θ: the weaker of two peaks closer than this is not observable
Q2_WINDOW = float(two_theta_to_q2(TWO_THETA_MAX, WAVELENGTH))

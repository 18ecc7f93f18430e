"""The smooth background under a powder pattern, by pybaselines (BSD).

SNIP (Ryan, Clayton, Griffin, Sie & Cousens 1988, Nucl. Instrum. Methods B
34, 396) clips every point to the mean of its neighbours a half-window
away, with windows growing to ``window_deg``: peaks narrower than the window
are cut away, a sloping or curved background stays.  iarPLS (Ye, Tian, Wei,
Tian & Zhang 2020, Appl. Opt. 59, 10933) is the smoother penalised least
squares alternative for broad amorphous humps.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_METHODS = ("snip", "iarpls")


def estimate_background(
    two_theta: np.ndarray, intensity: np.ndarray, *, method: str = "snip", window_deg: float = 1.5
) -> np.ndarray:
    """The background at every point of (``two_theta``, ``intensity``).

    ``window_deg`` is the widest feature (in degrees 2θ) that counts as a
    peak rather than background: several times the widest peak, narrower
    than the background's own curvature.
    """
    from pybaselines import Baseline  # pulls in scipy.sparse et al.; only when a background is wanted

    if method not in BACKGROUND_METHODS:
        raise ValueError(f"method must be one of {BACKGROUND_METHODS}, got {method!r}")
    two_theta = np.asarray(two_theta, dtype=float)
    intensity = np.asarray(intensity, dtype=float)
    step = float(np.median(np.diff(two_theta)))
    fitter = Baseline(two_theta, check_finite=False, assume_sorted=True)
    if method == "snip":
        half_window = max(2, int(round(window_deg / step / 2)))
        background, _ = fitter.snip(
            intensity, max_half_window=min(half_window, intensity.size // 2 - 1), decreasing=True, smooth_half_window=1
        )
    else:
        # The smoothness penalty scales with the fourth power of the points per window.
        points = window_deg / step
        background, _ = fitter.iarpls(intensity, lam=max(points, 2.0) ** 4 / 10)
    return np.minimum(background, intensity.max())

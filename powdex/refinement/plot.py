"""Observed, calculated and difference curves of a refinement, with reflection ticks
and a zoom on the region the model fits worst."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def worst_region(two_theta: np.ndarray, weighted_residual: np.ndarray, width: float) -> tuple[float, float]:
    """The 2θ window of ``width`` degrees holding the largest Σ w(y − y_c)²."""
    cumulative = np.concatenate([[0.0], np.cumsum(weighted_residual ** 2)])
    ends = np.searchsorted(two_theta, two_theta + width)
    sums = cumulative[ends] - cumulative[np.arange(two_theta.size)]
    start = int(np.argmax(sums))
    return float(two_theta[start]), float(two_theta[start] + width)


def plot_refinement(result, path: str | Path, zoom_width: float = 3.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, observed, calculated = result.two_theta, result.observed, result.calculated
    difference = observed - calculated
    low, high = worst_region(x, difference / result.sigma, min(zoom_width, float(x[-1] - x[0])))
    figure, axes = plt.subplots(2, 1, figsize=(11, 8), gridspec_kw={"height_ratios": [3, 2]})
    for axis, (left, right) in zip(axes, ((x[0], x[-1]), (low, high))):
        shown = (x >= left) & (x <= right)
        axis.plot(x[shown], observed[shown], ".", ms=2, color="tab:blue", label="observed")
        axis.plot(x[shown], calculated[shown], "-", lw=0.8, color="tab:red", label="calculated")
        span = max(np.ptp(observed[shown]), 1e-12)
        offset = observed[shown].min() - 0.15 * span
        axis.plot(x[shown], difference[shown] + offset, "-", lw=0.6, color="tab:gray", label="difference")
        ticks = result.line_two_theta[(result.line_two_theta >= left) & (result.line_two_theta <= right)]
        tick_level = offset - 0.12 * span
        axis.vlines(ticks, tick_level - 0.04 * span, tick_level + 0.04 * span, color="tab:green", lw=0.7,
                    label="reflections")
        axis.set_xlim(left, right)
        axis.set_xlabel("2θ (°)")
        axis.set_ylabel("intensity")
    stats = result.statistics
    axes[0].set_title(f"{result.method.capitalize()} fit, {result.space_group}: Rwp {100 * stats.rwp:.2f} %, "
                      f"Rexp {100 * stats.rexp:.2f} %, GoF {stats.gof:.2f}")
    axes[0].axvspan(low, high, color="tab:orange", alpha=0.15)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].set_title(f"worst region {low:.2f}–{high:.2f}°", fontsize=9)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

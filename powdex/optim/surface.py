"""Response-surface maps: interpolate the points an ensemble visited (minimum
and maximum searches alike) on a grid with scipy's RBF interpolator.

More local runs put more points on the surface, so the map sharpens as runs
are added, as in Spotlight's volcano illustration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import RBFInterpolator

from powdex.optim.errors import ConfigError
from powdex.optim.objective import Bounds
from powdex.optim.resources import available_memory, format_bytes
from powdex.optim.result import LocalResult

# Bytes per grid point of each map: its value and the two coordinates the
# interpolator is evaluated at.
GRID_BYTES_PER_POINT_AND_MAP = 24


@dataclass
class SurfaceMap:
    """An interpolated surface on a ``resolution`` x ``resolution`` grid."""

    x: np.ndarray          # grid coordinates, shape (resolution,)
    y: np.ndarray
    values: np.ndarray     # interpolated values, shape (resolution, resolution), [iy, ix]
    points: np.ndarray     # the sample points used, shape (n, 2)
    samples: np.ndarray    # their objective values
    runs: int

    def rms_error(self, truth: SurfaceMap) -> float:
        """Root-mean-square difference from another map on the same grid."""
        return float(np.sqrt(np.mean((self.values - truth.values) ** 2)))


def grid_cost(fun: Callable[[np.ndarray], float], bounds: Bounds, resolution: int, maps: int) -> tuple[float, float]:
    """(bytes, seconds) that ``maps`` maps and the true surface on a ``resolution`` x ``resolution``
    grid take, the seconds from timing ``fun`` on a few grid points; refuses a grid that cannot
    fit in memory, before any work."""
    _check_box(bounds)
    points = resolution**2
    need = points * GRID_BYTES_PER_POINT_AND_MAP * (maps + 1)
    available = available_memory()
    if need > available:
        raise ConfigError(
            f"resolution {resolution}: {maps + 1} maps of {resolution} x {resolution} = {points:.3g} points need "
            f"about {format_bytes(need)} of memory, and {format_bytes(available)} are available; use a smaller resolution"
        )
    probes = np.random.default_rng(0).uniform(bounds.lower, bounds.upper, size=(20, 2))
    started = time.perf_counter()
    for probe in probes:
        fun(probe)
    return need, (time.perf_counter() - started) / len(probes) * points


def _check_box(bounds: Bounds) -> None:
    if bounds.dim != 2 or not bounds.finite:
        raise ConfigError("surface maps need finite bounds on exactly two parameters")


def check_image_path(path: str | Path, option: str = "image") -> None:
    """Refuse, before any work, an image name whose format matplotlib cannot write
    (``option`` names the setting in the message)."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix and suffix not in formats:
        raise ConfigError(f"{option} {path}: unknown image format '.{suffix}'; use one of "
                          f"{', '.join('.' + name for name in sorted(formats))}")


def _grid(bounds: Bounds, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    _check_box(bounds)
    return (np.linspace(bounds.lower[0], bounds.upper[0], resolution),
            np.linspace(bounds.lower[1], bounds.upper[1], resolution))


def evaluate_on_grid(fun: Callable[[np.ndarray], float], bounds: Bounds, resolution: int = 121) -> SurfaceMap:
    """The true surface, to compare interpolated maps with."""
    x, y = _grid(bounds, resolution)
    values = np.array([[fun(np.array([a, b])) for a in x] for b in y])
    return SurfaceMap(x, y, values, points=np.empty((0, 2)), samples=np.empty(0), runs=0)


def _visited(results: Sequence[LocalResult], bounds: Bounds, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All path points, thinned to one per ``cell``: converged iterates pile up
    nanometres apart, which makes the RBF system singular and adds nothing a
    grid of this resolution could show."""
    rows = np.vstack([r.path for r in results if r.path.size])
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    keys = np.floor((rows[:, :-1] - bounds.lower) / cell).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    kept = rows[np.sort(first)]
    return kept[:, :-1], kept[:, -1]


def map_surface(results: Sequence[LocalResult], bounds: Bounds, resolution: int = 121,
                kernel: str = "thin_plate_spline") -> SurfaceMap:
    """Interpolate the surface over a two-parameter box from the runs' paths."""
    x, y = _grid(bounds, resolution)
    cell = (bounds.upper - bounds.lower) / (2 * resolution)
    points, samples = _visited(results, bounds, cell)
    grid = np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2)
    values = RBFInterpolator(points, samples, kernel=kernel)(grid).reshape(resolution, resolution)
    return SurfaceMap(x, y, values, points, samples, runs=len(results))


def plot_maps(maps: Sequence[SurfaceMap], path: str | Path, truth: SurfaceMap | None = None,
              errors: Sequence[float] | None = None) -> Path:
    """Side-by-side filled contours on one colour scale, samples overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ([truth] if truth is not None else []) + list(maps)
    low = min(m.values.min() for m in panels)
    high = max(m.values.max() for m in panels)
    levels = np.linspace(low, high, 25)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for i, (axis, surface) in enumerate(zip(axes[0], panels)):
        filled = axis.contourf(surface.x, surface.y, np.clip(surface.values, low, high), levels=levels, cmap="viridis")
        if truth is not None and i == 0:
            axis.set_title("true surface")
        else:
            axis.scatter(surface.points[:, 0], surface.points[:, 1], s=3, c="white", edgecolors="none")
            error = "" if errors is None else f"\nRMS error {errors[i - (truth is not None)]:.3g}"
            axis.set_title(f"{surface.runs} local optimizations{error}")
        axis.set_aspect("equal")
    figure.colorbar(filled, ax=axes[0].tolist(), shrink=0.8)
    path = Path(path)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path

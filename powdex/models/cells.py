"""Cells as the models see them: the free parameters of a lattice system in scaled space.

The regression targets are the free columns of (a, b, c, α, β, γ) of the
reindexed cell (``powdex.crystal.free_parameter_columns``); a group of
monoclinic entries shares one setting, so one oblique-angle column per group.
"""

from __future__ import annotations

import numpy as np

from powdex.crystal import LatticeSystem, cells_from_free, free_parameter_columns
from powdex.models.scaling import Scaler


def group_columns(system: LatticeSystem, cells: np.ndarray) -> tuple[int, ...]:
    """Free columns of a group's cells; for monoclinic the most common oblique-angle column."""
    columns = [free_parameter_columns(system, c) for c in np.asarray(cells).reshape(-1, 6)]
    values, counts = np.unique(np.array(columns), axis=0, return_counts=True)
    return tuple(int(c) for c in values[np.argmax(counts)])


def cells_from_scaled(system: LatticeSystem, scaler: Scaler, columns: tuple[int, ...], scaled: np.ndarray) -> np.ndarray:
    """Full cells (n, 6) from scaled free parameters (n, len(columns))."""
    scaled = np.asarray(scaled, dtype=float).reshape(-1, len(columns))
    full = np.zeros((len(scaled), 6))
    full[:, list(columns)] = scaled
    return cells_from_free(system, columns, scaler.unscale_cells(full)[:, list(columns)])


def perturbed_cells(
    system: LatticeSystem, scaler: Scaler, cells: np.ndarray, sigma: float, rng: np.random.Generator, tries: int = 10
) -> np.ndarray:
    """Cells with N(0, σ²) noise on their scaled free parameters; a row still invalid after ``tries`` draws stays unperturbed."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 6)
    out = cells.copy()
    columns = [free_parameter_columns(system, c) for c in cells]
    for cols in set(columns):
        rows = np.flatnonzero([c == cols for c in columns])
        scaled = scaler.scale_cells(cells[rows])[:, list(cols)]
        for _ in range(tries):
            trial = cells_from_scaled(system, scaler, cols, scaled + sigma * rng.standard_normal(scaled.shape))
            ok = valid_cells(trial)
            out[rows[ok]] = trial[ok]
            rows, scaled = rows[~ok], scaled[~ok]
            if not len(rows):
                break
    return out


def valid_cells(cells: np.ndarray) -> np.ndarray:
    """Rows with positive lengths and angles that make a lattice (positive-definite metric)."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 6)
    cos = np.cos(np.radians(cells[:, 3:]))
    ca, cb, cg = cos.T
    volume_factor = 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg
    angles_ok = np.all((cells[:, 3:] > 0) & (cells[:, 3:] < 180), axis=1)
    return np.all(cells[:, :3] > 0, axis=1) & angles_ok & (volume_factor > 0)


def unique_axis_swap(system: LatticeSystem, cells: np.ndarray) -> np.ndarray:
    """Per cell, the axis to exchange with b so that a monoclinic cell has unique axis b (1: none).

    The reference Miller indices of the monoclinic system assume unique axis b;
    reindexing to a ≤ b ≤ c can leave the oblique angle at α or γ instead.
    Exchanging two axes exchanges their lengths, their opposite angles and the
    matching Miller-index columns, and keeps every q².
    """
    cells = np.asarray(cells, dtype=float).reshape(-1, 6)
    if system is not LatticeSystem.MONOCLINIC:
        return np.ones(len(cells), dtype=int)
    return np.argmax(np.abs(cells[:, 3:] - 90.0), axis=1)


def _axis_permutation(axis: np.ndarray) -> np.ndarray:
    perm = np.tile(np.arange(3), (len(axis), 1))
    rows = np.arange(len(axis))
    perm[rows, axis] = 1
    perm[rows, 1] = axis
    return perm


def swap_cell_axes(cells: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Cells (n, 6) with axis ``axis[i]`` exchanged with b in row i (lengths and their opposite angles)."""
    perm = _axis_permutation(axis)
    return np.take_along_axis(np.asarray(cells, dtype=float), np.concatenate([perm, perm + 3], axis=1), axis=1)


def swap_index_axes(hkl: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Miller indices (n, …, 3) with column ``axis[i]`` exchanged with k in row i (its own inverse)."""
    hkl = np.asarray(hkl)
    perm = _axis_permutation(axis).reshape(len(axis), *([1] * (hkl.ndim - 2)), 3)
    return np.take_along_axis(hkl, np.broadcast_to(perm, hkl.shape), axis=-1)

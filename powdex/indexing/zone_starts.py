"""The search method ``zone-starts``: SVD-Index from cells built of two zones of the first lines (Ito 1949).

Random starts rarely land in the basin of a pseudo-symmetric monoclinic cell or
a triclinic one; Ito's method (Ito 1949; Visser 1969) builds the cell from the
lines themselves, deterministically. A zone of the reciprocal lattice is a 2D
lattice, Q(h u + k v) = h² A + k² B + h k C with Q = 1/d². For two observed
lines taken as Q(u) = A and Q(v) = B, the zone's third coefficient follows
from a pair of observed lines that satisfy Ito's equation

    Q(u + v) + Q(u − v) = 2 (Q(u) + Q(v)),

with C = Q(u + v) − A − B. Zones are ranked by how many of the first lines
they index. Two zones that share a line (taken as the same reciprocal vector)
span the 3D lattice up to the one coefficient between their other vectors,
which each further line gives for each small index it may have; the 3D cells
that index most of the first lines are the starts, handed to SVD-Index
(Coelho 2003) in the conventional axes of the Bravais lattice spglib finds for
each, and polished like every other trial.

Only monoclinic and triclinic lattices take them, in the first pass: higher
symmetries are found by random starts within a second.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

import numpy as np

from powdex.crystal import BravaisLattice, Cell, LatticeSystem, conventional_cell
from powdex.indexing.observations import Observations
from powdex.indexing.svd_index import from_starts

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch

logger = logging.getLogger(__name__)

WITH_ZONE_STARTS = frozenset({LatticeSystem.MONOCLINIC, LatticeSystem.TRICLINIC})
# First lines whose pairs are tried as a zone's two vectors (Ito's method works on the low-angle lines).
ZONE_LINES = 10
# Zones kept (best indexing first) and 3D cells handed to SVD-Index.
ZONES_KEPT = 12
STARTS_KEPT = 256
# Largest |h| of the indices a zone and a 3D cell are checked with, and of those a further line may have.
ZONE_REACH = 4
CELL_REACH = 3
CROSS_REACH = 2
# Lines that give the coefficient between the two zones' other vectors.
CROSS_LINES = 8
# Relative tolerance on a spglib classification of a start (they are a percent or so off).
START_SYMMETRY_TOLERANCE = 2e-2


def _tolerance(obs: Observations, two_theta_window: float) -> np.ndarray:
    """Q tolerance of each observed line for a 2θ window."""
    return obs.dq2_dtt * two_theta_window


def _indexed_count(coefficients: np.ndarray, terms: np.ndarray, q: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """How many of the lines ``q`` some index of ``terms`` reaches within ``tol``, for each row of coefficients."""
    calc = coefficients @ terms.T  # (cells, indices)
    calc = np.sort(np.where(calc > 0, calc, np.inf), axis=1)
    pos = np.clip(np.apply_along_axis(np.searchsorted, 1, calc, q), 1, calc.shape[1] - 1)
    rows = np.arange(len(calc))[:, None]
    near = np.minimum(np.abs(calc[rows, pos] - q), np.abs(calc[rows, pos - 1] - q))
    return np.sum(near <= tol, axis=1)


def ito_zones(obs: Observations, two_theta_window: float) -> np.ndarray:
    """Zones (A, B, C) of the first lines by Ito's equation, best indexing first (at most ``ZONES_KEPT``)."""
    q, tol = obs.q2, _tolerance(obs, two_theta_window)
    first = min(obs.n, ZONE_LINES)
    zones = []
    for i, j in itertools.combinations_with_replacement(range(first), 2):
        a, b = q[i], q[j]
        if i == j:
            continue
        for m in range(obs.n):
            partner = 2 * (a + b) - q[m]
            n = int(np.argmin(np.abs(q - partner)))
            if abs(q[n] - partner) > tol[n] + tol[m] or n < m:
                continue
            c = q[m] - a - b
            if abs(c) <= min(a, b) + 1e-12 and 4 * a * b - c * c > 0:  # a reduced, non-degenerate zone
                # Either line can be a second order (a systematic absence hides the first): the zone with that
                # vector halved contains this one.
                zones += [(a, b, c), (a / 4, b, c / 2), (a, b / 4, c / 2)]
    if not zones:
        return np.empty((0, 3))
    found = np.unique(np.round(np.array(zones), 10), axis=0)
    hk = np.array([(h, k) for h in range(0, ZONE_REACH + 1) for k in range(-ZONE_REACH, ZONE_REACH + 1)
                   if (h, k) > (0, 0) or (h == 0 and k > 0)], dtype=float)
    terms = np.column_stack([hk[:, 0] ** 2, hk[:, 1] ** 2, hk[:, 0] * hk[:, 1]])
    count = _indexed_count(found, terms, q, tol)
    # Most lines indexed, then the larger zone coefficients (a smaller 2D cell) among equals.
    order = np.lexsort((-found[:, :2].sum(axis=1), -count))
    return found[order[:ZONES_KEPT]]


def zone_pair_cells(obs: Observations, two_theta_window: float) -> np.ndarray:
    """Reciprocal coefficients (h², k², l², hk, hl, kl) of 3D cells from pairs of Ito zones sharing a line,
    most lines indexed first (at most ``STARTS_KEPT``)."""
    zones = ito_zones(obs, two_theta_window)
    q, tol = obs.q2, _tolerance(obs, two_theta_window)
    first = q[: min(obs.n, CROSS_LINES)]
    cross = np.array([(h, k, l) for h in (-1, 0, 1) for k in range(1, CROSS_REACH + 1)
                      for l in range(-CROSS_REACH, CROSS_REACH + 1) if l != 0], dtype=float)
    pieces = []
    for z1, z2 in itertools.combinations(zones, 2):
        # The shared vector u is the first of each zone in turn: zone (u, v) and zone (u, w).
        for (a1, b1, c1), (a2, b2, c2) in ((z1, z2), (z1[[1, 0, 2]], z2), (z1, z2[[1, 0, 2]]),
                                             (z1[[1, 0, 2]], z2[[1, 0, 2]])):
            if abs(a1 - a2) > 2 * np.interp(a1, q, tol):
                continue
            a = 0.5 * (a1 + a2)
            # h u + k v + l w: Q = h²A + k²B1 + l²B2 + hk C1 + hl C2 + kl F; F from each further line and index.
            h, k, l = cross.T
            rest = h * h * a + k * k * b1 + l * l * b2 + h * k * c1 + h * l * c2
            f = (first[:, None] - rest[None, :]) / (k * l)[None, :]
            f = np.unique(np.round(f[np.abs(f) <= np.sqrt(b1 * b2)], 8))
            if len(f):
                pieces.append(np.column_stack([np.full(len(f), a), np.full(len(f), b1), np.full(len(f), b2),
                                              np.full(len(f), c1), np.full(len(f), c2), f]))
    if not pieces:
        return np.empty((0, 6))
    cells = np.concatenate(pieces)
    g = np.stack([cells[:, [0, 3, 4]] * [1, 0.5, 0.5], cells[:, [3, 1, 5]] * [0.5, 1, 0.5],
                  cells[:, [4, 5, 2]] * [0.5, 0.5, 1]], axis=1)
    positive = np.all(np.linalg.eigvalsh(g) > 0, axis=1)
    cells, g = cells[positive], g[positive]
    reach = np.array(list(itertools.product(range(-CELL_REACH, CELL_REACH + 1), repeat=3)), dtype=float)
    reach = reach[[tuple(r) > (0, 0, 0) for r in reach]]  # one of each Friedel pair
    terms = np.column_stack([reach[:, 0] ** 2, reach[:, 1] ** 2, reach[:, 2] ** 2, reach[:, 0] * reach[:, 1],
                             reach[:, 0] * reach[:, 2], reach[:, 1] * reach[:, 2]])
    count = _indexed_count(cells, terms, q, tol)
    # Most lines indexed, then the smaller cell (larger reciprocal volume) among equals.
    order = np.lexsort((-np.linalg.det(g), -count))
    return cells[order[:STARTS_KEPT]]


def zone_starts(bravais: BravaisLattice, obs: Observations, two_theta_window: float) -> np.ndarray:
    """Starting points (free reciprocal parameters of ``bravais``'s conventional axes) from Ito zone pairs."""
    starts = []
    for coefficients in zone_pair_cells(obs, two_theta_window):
        try:
            conventional = conventional_cell(Cell.from_reciprocal_coefficients(coefficients), "P",
                                             START_SYMMETRY_TOLERANCE)
        except ValueError:
            continue
        if conventional.bravais is bravais:
            starts.append(bravais.axes.free_reciprocal_parameters(conventional.cell))
    return np.array(starts) if starts else np.empty((0, bravais.axes.n_free))


class ZoneStarts:
    """SVD-Index from the cells of Ito zone pairs, per monoclinic or triclinic Bravais lattice, first pass only
    (the starts are deterministic: a later pass would repeat them)."""

    def search(self, search: IndexingSearch, system: LatticeSystem, search_pass: int) -> list[Candidate]:
        if search_pass > 0 or system not in WITH_ZONE_STARTS:
            return []
        window = 3 * search.config.two_theta_error + (search.zero_shift_window if search.config.zero_shift else 0)
        out: list[Candidate] = []
        for bravais in BravaisLattice.of_system(system):
            if search.deadline.expired():
                break
            starts = zone_starts(bravais, search.obs, window)
            if not len(starts):
                continue
            found = from_starts(search, bravais, starts)
            logger.debug("%s: %d zone starts, %d candidates", bravais.value, len(starts), len(found))
            out += found
        return out

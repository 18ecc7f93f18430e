"""The search method ``zone-starts``: SVD-Index from cells built of two zones of the first lines (Ito 1949).

Random starts rarely land in the basin of a pseudo-symmetric monoclinic cell or
a triclinic one; Ito's method (Ito 1949; Visser 1969) builds the cell from the
lines themselves, deterministically. A zone of the reciprocal lattice is a 2D
lattice, Q(h u + k v) = h² A + k² B + h k C with Q = 1/d². For two observed
lines taken as Q(u) = A and Q(v) = B, the zone's third coefficient follows
from a pair of observed lines that satisfy Ito's equation

    Q(u + v) + Q(u − v) = 2 (Q(u) + Q(v)),

with C = Q(u + v) − A − B. Either line may be a second order (a systematic
absence hides the first), so the zone with that vector halved is tried too.

Zones and cells are ranked by the lines they index beyond those a lattice of
their density would index by chance (Visser 1969 ranks by a figure of merit
for the same reason): a zone or cell with many closely spaced lines indexes
nearly any line, and counting lines alone puts such spurious ones first.

Two zones of a lattice meet in a row. Each zone's short rows (not only its two
basis vectors) whose Q is an observed line are tried as the shared vector u;
with u, the zone's other basis vector v and the other zone's w, the cell
Q(h u + k v + l w) lacks only the coefficient between v and w. Each further
line gives a value of it for each small index it may have; the values that
most lines agree on (a vote) make the cells. The cells, reduced (Niggli) and
each kept once, are the starts, handed to SVD-Index (Coelho 2003): all of them
to the triclinic lattice (any cell is a triclinic one), and to a monoclinic
lattice those spglib puts in it, in its conventional axes.

The monoclinic and triclinic lattices take them, in the first pass, and
ahead of the orthorhombic system (``ZoneStarts.search_ahead``): a decisive cell
found there that explains every line and has no higher metric symmetry ends
the search without the random starts of the higher systems, which would run
every volume stage in vain (``settles_ahead``). Ahead of that system the
orthorhombic lattices take the cells spglib puts in them too, and a cell polished
in a lower lattice is polished in its metric symmetry; an orthorhombic cell
found so ends the search by the rule that would end it after the orthorhombic
system (``IndexingSearch.settled``: decisive, or explaining every line with a
clear lead), whose random starts would only find it again.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

import numpy as np

from powdex.crystal import (
    BravaisLattice,
    Cell,
    ConventionalCell,
    LatticeSignature,
    LatticeSystem,
    conventional_cell,
    lattice_signature,
    niggli_reduce,
)
from powdex.indexing.observations import Observations
from powdex.indexing.svd_index import from_starts, volume_stages

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch

logger = logging.getLogger(__name__)

WITH_ZONE_STARTS = frozenset({LatticeSystem.MONOCLINIC, LatticeSystem.TRICLINIC})
# First lines whose pairs are tried as a zone's two vectors (Ito's method works on the low-angle lines).
ZONE_LINES = 10
# Lines a zone or a cell is ranked on.
RANK_LINES = 20
# Zones kept (best first), and 3D cells handed to SVD-Index.
ZONES_KEPT = 40
STARTS_KEPT = 128
# Cells refined by least squares on their lines before the final ranking.
REFINED = 1024
# Lines beyond a cell's six coefficients that it must index to be refined on them.
CHECK_LINES = 2
# Largest |h| of the indices a zone and a 3D cell are checked with.
ZONE_REACH = 4
CELL_REACH = 3
# A zone's rows tried as the vector it shares with another: primitive (h, k) with |h|, |k| ≤ this.
ROW_REACH = 2
# Largest |k|, |l| of the indices of a further line that gives the coefficient between the two zones' other vectors.
CROSS_REACH = 2
# Lines that give (vote for) that coefficient, and the values of most votes kept per pair of zones.
CROSS_LINES = 12
VALUES_KEPT = 3
# Score per peak, and lead in score per peak over every other lattice, with which a monoclinic or triclinic cell that
# is not decisive ends the search ahead of the higher systems (``settles_ahead``).
AHEAD_SCORE_PER_PEAK = -0.5
AHEAD_GAP_PER_PEAK = 0.9
# Relative tolerance within which another candidate is the same lattice as the best, not a rival (that of
# ``benchmarks/index_bravais.py``'s true cell).
RIVAL_TOLERANCE = 3e-3
# Relative tolerance within which two fitted cells are one lattice (kept once).
SAME_LATTICE_TOLERANCE = 5e-3
# Relative tolerance on a spglib classification of a start (they are a percent or so off).
START_SYMMETRY_TOLERANCE = 2e-2
# The tolerances at which a zone cell's metric symmetry is looked for: the starts' and the search's own
# (``IndexingSearch.in_metric_symmetry``'s default), which differ where two axes are within a percent.
METRIC_TOLERANCES = (START_SYMMETRY_TOLERANCE, 2e-4)


def _tolerance(obs: Observations, two_theta_window: float) -> np.ndarray:
    """Q tolerance of each observed line for a 2θ window."""
    return obs.dq2_dtt * two_theta_window


def _indexed(coefficients: np.ndarray, terms: np.ndarray, q: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Whether some index of ``terms`` reaches each line of ``q`` (lines, or cells × lines) within ``tol``
    (cells × lines), for each row of coefficients."""
    calc = coefficients @ terms.T  # (cells, indices)
    calc = np.sort(np.where(calc > 0, calc, np.inf), axis=1)
    rows = np.arange(len(calc))[:, None]
    q = np.broadcast_to(q, (len(calc), q.shape[-1]))
    pos = np.clip(np.stack([np.searchsorted(row, line) for row, line in zip(calc, q)]), 1, calc.shape[1] - 1)
    near = np.minimum(np.abs(calc[rows, pos] - q), np.abs(calc[rows, pos - 1] - q))
    return near <= tol


def _excess(indexed: np.ndarray, density: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Lines indexed beyond those expected by chance: each line counts 1 − p, a miss −p, where p is the chance that
    a lattice of that density (lines per unit Q at each line, cells × lines) has a line within ``tol`` of it."""
    chance = np.minimum(1.0, 2 * tol * density)
    return np.sum(indexed - chance, axis=1)


def _gauss_reduced(zones: np.ndarray) -> np.ndarray:
    """Zones (A, B, C) in Lagrange–Gauss reduced form, |C| ≤ A ≤ B and C ≥ 0: one form per 2D lattice."""
    a, b, c = (zones[:, i].copy() for i in range(3))
    for _ in range(64):
        swap = a > b
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        m = np.where(np.abs(c) > a * (1 + 1e-12), np.rint(c / (2 * a)), 0.0)
        if not m.any():
            break
        b, c = b - m * c + m * m * a, c - 2 * m * a
    return np.column_stack([a, b, np.abs(c)])


def ito_zones(obs: Observations, two_theta_window: float) -> np.ndarray:
    """Zones (A, B, C) of the first lines by Ito's equation, reduced, best first (at most ``ZONES_KEPT``)."""
    q, tol = obs.q2, _tolerance(obs, two_theta_window)
    first = min(obs.n, ZONE_LINES)
    zones = []
    for i, j in itertools.combinations(range(first), 2):
        a, b = q[i], q[j]
        # Lines m ≤ n with Q(m) + Q(n) = 2 (A + B): the pair u + v, u − v.
        partner = 2 * (a + b) - q
        n = np.clip(np.searchsorted(q, partner), 1, obs.n - 1)
        n = np.where(np.abs(q[n - 1] - partner) < np.abs(q[n] - partner), n - 1, n)
        ok = (np.abs(q[n] - partner) <= tol[n] + tol) & (n >= np.arange(obs.n))
        c = q[ok] - a - b
        c = c[(np.abs(c) <= min(a, b) + 1e-12) & (4 * a * b - c * c > 0)]  # a reduced, non-degenerate zone
        for value in c:
            # Either line can be a second order (a systematic absence hides the first): the zone with that
            # vector halved contains this one.
            zones += [(a, b, value), (a / 4, b, value / 2), (a, b / 4, value / 2)]
    if not zones:
        return np.empty((0, 3))
    found = np.unique(np.round(_gauss_reduced(np.array(zones)), 10), axis=0)
    hk = np.array([(h, k) for h in range(0, ZONE_REACH + 1) for k in range(-ZONE_REACH, ZONE_REACH + 1)
                   if (h, k) > (0, 0) or (h == 0 and k > 0)], dtype=float)
    terms = np.column_stack([hk[:, 0] ** 2, hk[:, 1] ** 2, hk[:, 0] * hk[:, 1]])
    ranked, rank_tol = q[:RANK_LINES], tol[:RANK_LINES]
    # Zone lines (one of each Friedel pair) up to Q: π Q / (2 √(AB − C²/4)), the same per unit Q everywhere.
    density = np.pi / (2 * np.sqrt(found[:, 0] * found[:, 1] - found[:, 2] ** 2 / 4))
    score = _excess(_indexed(found, terms, ranked, rank_tol), density[:, None], rank_tol[None, :])
    # Best first, then the larger zone coefficients (a smaller 2D cell) among equals.
    order = np.lexsort((-found[:, :2].sum(axis=1), -score))
    # Zones that are one lattice up to the tolerance (found from slightly different lines) are kept once.
    kept: list[np.ndarray] = []
    for zone in found[order]:
        if not any(np.all(np.abs(zone - other) <= 2 * np.interp(zone[1], q, tol)) for other in kept):
            kept.append(zone)
            if len(kept) == ZONES_KEPT:
                break
    return np.array(kept)


def _primitive_rows() -> list[tuple[int, int, int, int]]:
    """Primitive rows (h, k) of a zone with |h|, |k| ≤ ``ROW_REACH`` (one of each ± pair), each with a (p, r) such
    that h r − k p = 1: the row and p u + r v are a basis of the zone."""
    rows = []
    for h, k in itertools.product(range(0, ROW_REACH + 1), range(-ROW_REACH, ROW_REACH + 1)):
        if (h, k) <= (0, 0) or np.gcd(h, k) != 1:
            continue
        p, r = next((p, r) for p in range(-ROW_REACH, ROW_REACH + 1) for r in range(-ROW_REACH, ROW_REACH + 1)
                    if h * r - k * p == 1)
        rows.append((h, k, p, r))
    return rows


def _rebased(zones: np.ndarray, q: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Each zone in bases (u, v) whose first vector is a short row at an observed line: rows (A, B, C, zone)."""
    out = []
    for z, (a, b, c) in enumerate(zones):
        for h, k, p, r in _primitive_rows():
            qa = h * h * a + k * k * b + h * k * c
            at = int(np.argmin(np.abs(q - qa)))
            if abs(q[at] - qa) > tol[at]:
                continue
            # v = p u₀ + r v₀, then shortened against the row (v − m u, the same zone).
            qb = p * p * a + r * r * b + p * r * c
            cross = 2 * (h * p * a + k * r * b) + (h * r + k * p) * c
            m = np.rint(cross / (2 * qa))
            out.append((qa, qb - m * cross + m * m * qa, cross - 2 * m * qa, z))
    return np.array(out) if out else np.empty((0, 4))


def _voted_values(values: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """The values (at most ``VALUES_KEPT``) that most others agree with within their tolerance, most votes first,
    each cluster once."""
    order = np.argsort(values)
    values, tolerance = values[order], tolerance[order]
    votes = np.searchsorted(values, values + tolerance, side="right") - np.searchsorted(values, values - tolerance)
    kept: list[float] = []
    for i in np.argsort(-votes, kind="stable"):
        if votes[i] < 2:
            break
        if all(abs(values[i] - v) > tolerance[i] for v in kept):
            kept.append(values[i])
            if len(kept) == VALUES_KEPT:
                break
    return np.array(kept)


def zone_pair_cells(obs: Observations, two_theta_window: float, fit_window: float, zero_shift: bool) -> np.ndarray:
    """Reciprocal coefficients (h², k², l², hk, hl, kl) of reduced 3D cells from pairs of Ito zones sharing a row,
    best first, each lattice once (at most ``STARTS_KEPT``).

    Zones and cells are built with lines matched within ``two_theta_window`` ° 2θ (position errors and an
    unknown zero shift), and ranked, once fitted (with a zero shift if ``zero_shift``), within ``fit_window``."""
    q, tol = obs.q2, _tolerance(obs, two_theta_window)
    based = _rebased(ito_zones(obs, two_theta_window), q, tol)
    cross = np.array([(h, k, l) for h in (-1, 0, 1) for k in range(1, CROSS_REACH + 1)
                      for l in range(-CROSS_REACH, CROSS_REACH + 1) if l != 0], dtype=float)
    h, k, l = cross.T
    lines, line_tol = q[: min(obs.n, CROSS_LINES)], tol[: min(obs.n, CROSS_LINES)]
    pieces = []
    # Pairs of rows of two different zones at one line (the shared row), found at once: most pairs are not.
    first, second = np.triu_indices(len(based), 1)
    shared = ((based[first, 3] != based[second, 3])
              & (np.abs(based[first, 0] - based[second, 0]) <= 2 * np.interp(based[first, 0], q, tol)))
    for (a1, b1, c1, _), (a2, b2, c2, _) in zip(based[first[shared]], based[second[shared]]):
        a = 0.5 * (a1 + a2)
        # h u + k v + l w: Q = h²A + k²B1 + l²B2 + hk C1 + hl C2 + kl F; F from each further line and index.
        rest = h * h * a + k * k * b1 + l * l * b2 + h * k * c1 + h * l * c2
        f = (lines[:, None] - rest[None, :]) / (k * l)[None, :]
        f_tol = line_tol[:, None] / np.abs(k * l)[None, :] + 0 * f
        possible = np.abs(f) < 2 * np.sqrt(b1 * b2)
        for value in _voted_values(f[possible], f_tol[possible]):
            pieces.append((a, b1, b2, c1, c2, value))
    if not pieces:
        return np.empty((0, 6))
    cells = np.array(pieces)
    reach = np.array(list(itertools.product(range(-CELL_REACH, CELL_REACH + 1), repeat=3)), dtype=float)
    reach = reach[[tuple(r) > (0, 0, 0) for r in reach]]  # one of each Friedel pair
    terms = np.column_stack([reach[:, 0] ** 2, reach[:, 1] ** 2, reach[:, 2] ** 2, reach[:, 0] * reach[:, 1],
                             reach[:, 0] * reach[:, 2], reach[:, 1] * reach[:, 2]])
    ranked, rank_tol = q[:RANK_LINES], tol[:RANK_LINES]
    cells = cells[_positive(cells)]
    cells = cells[np.argsort(-_cell_score(cells, terms, ranked, rank_tol), kind="stable")[:REFINED]]
    # The best few refined on the lines they index, with a zero shift where the search refines one (the zones'
    # coefficients carry their lines' errors, and the zero shift widens every window), then ranked again within
    # the narrow window of the positions' errors alone.
    slope = obs.dq2_dtt[:RANK_LINES] if zero_shift else np.zeros(len(ranked))
    cells, zero = _refined(cells, terms, ranked, rank_tol, slope, fit_window / two_theta_window * rank_tol)
    good = _positive(cells)
    cells, zero = cells[good], zero[good]
    score = _cell_score(cells, terms, ranked[None, :] - zero[:, None] * slope[None, :],
                        fit_window / two_theta_window * rank_tol)
    # Two zones that lie nearly in one reciprocal plane give a nearly singular metric: a cell of that plane's lattice
    # with a third axis of 10⁵ Å (hexagonal Na0.8CoO2, rutile), and comparing so thin a cell's lattice with others
    # would enumerate billions of vectors. SVD-Index keeps no trial past twice a lattice's largest trial volume
    # (``from_starts``): cells past that, degenerate or merely large, are rejected here.
    reciprocal_volume = np.linalg.det(_metric(cells))
    largest = _largest_start_volume(obs)
    too_large = 1 / np.sqrt(reciprocal_volume) > largest
    if np.any(too_large):
        logger.debug("%s: %d zone-pair cells rejected: primitive volume above %.0f Å³, up to %.3g Å³",
                     obs.source, np.count_nonzero(too_large), largest, 1 / np.sqrt(np.min(reciprocal_volume)))
    # Best first, then the smaller cell (larger reciprocal volume) among equals.
    order = np.lexsort((-reciprocal_volume, -score))
    return _distinct_lattices(cells[order[~too_large[order]]])


def _largest_start_volume(obs: Observations) -> float:
    """The largest primitive volume that SVD-Index keeps for a zone start of any lattice (``from_starts``)."""
    return max(2 * float(volume_stages(bravais, obs)[-1]) / bravais.points_per_cell
               for system in WITH_ZONE_STARTS for bravais in BravaisLattice.of_system(system))


def _metric(cells: np.ndarray) -> np.ndarray:
    """Reciprocal metric tensors of reciprocal coefficients (h², k², l², hk, hl, kl)."""
    return np.stack([cells[:, [0, 3, 4]] * [1, 0.5, 0.5], cells[:, [3, 1, 5]] * [0.5, 1, 0.5],
                     cells[:, [4, 5, 2]] * [0.5, 0.5, 1]], axis=1)


def _positive(cells: np.ndarray) -> np.ndarray:
    """Which rows of reciprocal coefficients describe a lattice (a positive-definite metric)."""
    return np.all(np.linalg.eigvalsh(_metric(cells)) > 0, axis=1) if len(cells) else np.zeros(0, dtype=bool)


def _cell_score(cells: np.ndarray, terms: np.ndarray, q: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Lines of ``q`` (lines, or cells × lines) a cell indexes beyond chance (``_excess``)."""
    # Lattice points (one of each Friedel pair) up to Q: (2π/3) Q^{3/2} / √det G*, so π √Q / √det G* per unit Q.
    density = np.pi * np.sqrt(np.maximum(q, 0)) / np.sqrt(np.linalg.det(_metric(cells)))[:, None]
    return _excess(_indexed(cells, terms, q, tol), density, tol[None, :])


def _refined(cells: np.ndarray, terms: np.ndarray, q: np.ndarray, tol: np.ndarray, slope: np.ndarray,
             fit_tol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's coefficients and zero shift (° 2θ; ``slope`` is dQ/d2θ of each line, zero where no shift is
    fitted) fitted by least squares to the lines it indexes, each line to its nearest index; lines are matched
    within ``tol`` at first, within ``fit_tol`` once fitted. A cell indexing too few lines to fit is kept as it is."""
    zero = np.zeros(len(cells))
    fitted = np.any(slope != 0)
    for match_tol in (tol, fit_tol, fit_tol):
        corrected = q[None, :] - zero[:, None] * slope[None, :]
        calc = cells @ terms.T
        nearest = np.argmin(np.abs(corrected[:, :, None] - calc[:, None, :]), axis=2)  # (cells, lines)
        dist = np.abs(np.take_along_axis(calc, nearest, axis=1) - corrected)
        weight = (dist <= match_tol[None, :]) / fit_tol[None, :]
        fit = np.sum(weight > 0, axis=1) >= terms.shape[1] + int(fitted) + CHECK_LINES
        design = terms[nearest[fit]]
        if fitted:
            design = np.concatenate([design, np.broadcast_to(slope[None, :, None], (len(design), len(q), 1))], axis=2)
        solution = np.linalg.pinv(design * weight[fit, :, None]) @ (q[None, :] * weight[fit])[:, :, None]
        cells, zero = cells.copy(), zero.copy()
        cells[fit] = solution[:, : terms.shape[1], 0]
        if fitted:
            zero[fit] = solution[:, -1, 0]
    return cells, zero


def _distinct_lattices(cells: np.ndarray) -> np.ndarray:
    """The Niggli-reduced reciprocal coefficients of ``cells`` (in order), each lattice once, at most
    ``STARTS_KEPT``: pairs of zones often build one lattice in several bases."""
    kept: list[np.ndarray] = []
    signatures: list[LatticeSignature] = []
    for coefficients in cells:
        try:
            cell = Cell.from_reciprocal_coefficients(coefficients)
            signature = lattice_signature(cell)
        except ValueError as error:  # not a cell, or a basis too nearly singular to reduce
            logger.debug("zone-pair cell rejected: %s", error)
            continue
        if any(signature.matches(other, rtol=SAME_LATTICE_TOLERANCE) for other in signatures):
            continue
        signatures.append(signature)
        kept.append(niggli_reduce(cell).cell.reciprocal_coefficients)
        if len(kept) == STARTS_KEPT:
            break
    return np.array(kept) if kept else np.empty((0, 6))


def start_lattices(cells: np.ndarray) -> list[ConventionalCell | None]:
    """spglib's conventional description of each reduced zone-pair cell of ``cells`` (``zone_pair_cells``), at the
    starts' tolerance, None where it finds none: found once per set of cells, for every lattice that takes them."""
    lattices: list[ConventionalCell | None] = []
    for coefficients in cells:
        try:
            lattices.append(conventional_cell(Cell.from_reciprocal_coefficients(coefficients), "P",
                                              START_SYMMETRY_TOLERANCE))
        except ValueError:
            lattices.append(None)
    return lattices


def zone_starts(bravais: BravaisLattice, cells: np.ndarray, lattices: list[ConventionalCell | None]) -> np.ndarray:
    """Starting points (free reciprocal parameters of ``bravais``'s conventional axes) from reduced zone-pair
    ``cells`` (``zone_pair_cells``) and their conventional descriptions ``lattices`` (``start_lattices``): every
    cell for a triclinic lattice, those spglib puts in ``bravais`` otherwise."""
    if bravais is BravaisLattice.aP:
        return np.array([bravais.axes.free_reciprocal_parameters(Cell.from_reciprocal_coefficients(c))
                         for c in cells]).reshape(-1, bravais.axes.n_free)
    starts = [bravais.axes.free_reciprocal_parameters(c.cell) for c in lattices if c is not None and c.bravais is bravais]
    return np.array(starts) if starts else np.empty((0, bravais.axes.n_free))


class ZoneStarts:
    """SVD-Index from the cells of Ito zone pairs, per monoclinic or triclinic Bravais lattice, once per search's
    assumptions (``IndexingSearch.assumptions``: the starts are deterministic, and a later pass would repeat them
    unless the search has since allowed a zero shift or more unexplained lines). The cells are built once per
    window, and a lattice searched ahead of its system (``search_ahead``) is not searched again."""

    def __init__(self) -> None:
        self._cells: dict[tuple, tuple[np.ndarray, list[ConventionalCell | None]]] = {}
        self._searched: set[tuple] = set()

    def search(self, search: IndexingSearch, system: LatticeSystem, search_pass: int) -> list[Candidate]:
        """SVD-Index from the zone-pair cells of each of ``system``'s lattices (the monoclinic system's with the
        orthorhombic lattices' too: the zone starts run ahead of that system). With a zero shift the zones are
        built within the fit window plus the zero-shift window; when their starts find no convincing cell
        (``convincing``), they are built again within the fit window alone, fitted with a zero shift: the wide
        window lets Ito's equation pair nearly any lines of a large cell, and its true zones drown among chance
        ones (a laboratory list of bethanechol chloride, monoclinic, 1037 Å³, zero offset −0.02°; Bergmann et al.
        2004). Only as a fallback: the narrow window's cells, added to the wide one's, find rivals (super-cells
        that index an impurity line too) that hold up a search the wide window's cell would end."""
        if system not in WITH_ZONE_STARTS:
            return []
        fit_window = 3 * search.two_theta_error
        windows = [fit_window + search.zero_shift_window, fit_window] if search.zero_shift else [fit_window]
        searched = (id(search), search.assumptions)
        lattices = [b for b in BravaisLattice.of_system(system) if (*searched, b) not in self._searched]
        if system is LatticeSystem.MONOCLINIC and LatticeSystem.ORTHORHOMBIC in search.systems:
            # Zone cells spglib finds orthorhombic are that system's cells, one polish each: taken with the
            # monoclinic lattices, ahead of the orthorhombic system's random starts, a convincing one spares the
            # fallback window and one that would settle the search ends it (``IndexingSearch.run``).
            lattices += [b for b in BravaisLattice.of_system(LatticeSystem.ORTHORHOMBIC)
                         if (*searched, b) not in self._searched]
        self._searched.update((*searched, b) for b in lattices)
        out: list[Candidate] = []
        for window in windows:
            if out and any(convincing(search, c) for c in out):
                break
            key = (id(search), window, search.zero_shift)
            if key not in self._cells:
                cells = zone_pair_cells(search.obs, window, fit_window, search.zero_shift)
                self._cells[key] = cells, start_lattices(cells)
            for bravais in lattices:
                if search.deadline.expired():
                    break
                starts = zone_starts(bravais, *self._cells[key])
                if not len(starts):
                    continue
                found = from_starts(search, bravais, starts)
                logger.debug("%s: %d zone starts within %.3g° 2θ, %d candidates", bravais.value, len(starts), window,
                             len(found))
                # Every zone cell is a triclinic start: a monoclinic lattice whose zone cells were a little too far
                # off for spglib is found as a triclinic cell of monoclinic metric, polished then in its own
                # lattice. At the starts' tolerance an orthorhombic cell whose two axes differ by a percent reads as
                # tetragonal, so its metric symmetry at the search's own tolerance is polished too.
                out += found
                for tolerance in METRIC_TOLERANCES:
                    higher = [search.in_metric_symmetry(c, tolerance) for c in found]
                    out += [h for h, c in zip(higher, found) if h is not c]
        return out

    def search_ahead(self, search: IndexingSearch, ranked: list[Candidate]) -> list[Candidate]:
        """The candidates of every monoclinic and triclinic lattice the search asks for, found now, before the
        systems of higher symmetry are searched (``settles_ahead`` says when they need not be); none while the best
        of ``ranked`` (the candidates so far) is a higher-symmetry cell that leaves at most one line with
        M_N ≥ ``stop_m``: the search settles on such a cell once its own system and its least distortions are
        searched (``IndexingSearch.settled``), and low-symmetry super-cells that index its impurity line too would
        only be found sooner and hold it up."""
        best = ranked[0] if ranked else None
        if (best is not None and best.bravais.lattice_system not in WITH_ZONE_STARTS
                and best.figures.n_unindexed <= 1 and best.figures.m >= search.config.stop_m):
            return []
        return [c for system in LatticeSystem if system in WITH_ZONE_STARTS and system in search.systems
                for c in self.search(search, system, 0)]


def convincing(search: IndexingSearch, candidate: Candidate) -> bool:
    """Whether a zone start's cell could end the search ahead of the higher systems (``settles_ahead``): M_N of at
    least ``stop_m`` with at most one line left."""
    return candidate.figures.m >= search.config.stop_m and candidate.figures.n_unindexed <= 1


def settles_ahead(search: IndexingSearch, ranked: list[Candidate]) -> bool:
    """Whether the best of ``ranked``, found by ``ZoneStarts.search_ahead`` and sub-cell checks, ends a search before
    the systems of higher symmetry are searched.

    Random starts in a lattice system that holds no cell of the lines run every volume stage (seconds for
    orthorhombic, more for monoclinic) before a monoclinic or triclinic cell is looked for. A monoclinic or
    triclinic cell needs none of them when it is decisive and explains every line, as any decisive cell
    (``IndexingSearch.settled``): a higher-symmetry description of its lattice has that metric within the zone
    starts' tolerance, and is fitted and must lose by ``AHEAD_GAP_PER_PEAK`` where it does (a pseudo-symmetric
    cell); a smaller cell of higher symmetry is one of its
    sub-cells, which were checked; another lattice that indexes the same lines is one of its super-cells, which
    predict lines that are not there (a pseudo-symmetric one, such as baddeleyite's orthorhombic cell of four times
    the volume, is not the answer either).

    Monoclinic and triclinic cells pay the Occam factor of their parameters, so true ones often score below a
    decisive cell's bar (−0.3 to 0.6 per peak on ``benchmarks/index_bravais.py``). Such a cell settles the search
    too when M_N ≥ ``stop_m``, it leaves at most one line (an impurity line), it scores at least
    ``AHEAD_SCORE_PER_PEAK`` and it leads every other lattice found by ``AHEAD_GAP_PER_PEAK``. Calibration at this
    point of the search (cases 0–3 of each of mP to oF, seed 0, zero shift searched): the ten true cells that
    qualify scored −0.27 to 0.83 per peak and led by 0.92–2.97; the wrong best cells of monoclinic or triclinic
    metric with M_N ≥ 20 and one line or none left (of oI and oF patterns) scored −2.2 and −1.1 per peak and led by
    0.64 and 0.39; on the benchmark's 220 cubic-to-orthorhombic cases a wrong mC cell of a clean oI pattern (case 15,
    seed 0) scored −0.47 per peak with one line left and led by 0.83, so the lead asked is 0.9.
    """
    if not ranked:
        return False
    best = ranked[0]
    system = best.bravais.lattice_system
    if system not in WITH_ZONE_STARTS or best.figures.n_unindexed > 1:
        return False
    n = len(best.indexed)
    for tolerance in METRIC_TOLERANCES:
        try:
            conventional = conventional_cell(best.cell, best.bravais.centring, tolerance)
        except ValueError:
            return False
        if conventional.bravais.lattice_system is not system and conventional.bravais.lattice_system in search.systems:
            # A pseudo-symmetric metric (a monoclinic C cell within a percent of orthorhombic), or the metric the
            # cell has (a triclinic cell with right angles is orthorhombic): the higher-symmetry description,
            # fitted, must lose by the lead asked below.
            higher = search.polished_cell(conventional, best.zero_shift)
            if higher is not None and best.score - higher.score < AHEAD_GAP_PER_PEAK * n:
                return False
    if best.figures.n_unindexed == 0 and search.decisive(best):
        return True
    # Other descriptions of nearly the same lattice (two fits of a pseudo-symmetric cell) are not rivals.
    runner_up = max((c.score for c in ranked[1:]
                     if not c.lattice_signature.matches(best.lattice_signature, RIVAL_TOLERANCE)), default=-np.inf)
    return (convincing(search, best) and best.score >= AHEAD_SCORE_PER_PEAK * n
            and best.score - runner_up >= AHEAD_GAP_PER_PEAK * n)

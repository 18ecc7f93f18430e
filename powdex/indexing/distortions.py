"""The least distortions of a cell: its lattice described in each Bravais lattice of the systems next below its
own, and the cells SVD-Index (Coelho 2003) finds near those descriptions.

A high-symmetry cell that indexes every line but one is either the truth beside an impurity line or a slightly
distorted lower-symmetry cell whose split reflections include that line (a tetragonal cell whose a and b part,
an orthorhombic one whose β leaves 90°). The distortions that keep the most symmetry are the maximal subgroups
of the lattice's point group that change its lattice system: each is a lattice of the next lower system whose
conventional cell, at the parent's metric, is an integer or centring combination of the parent's axes
(``LEAST_DISTORTIONS``). A local SVD-Index search from around each of those descriptions finds the distorted
cell if there is one, for a few hundred trials instead of a search of the whole lower system.

The descriptions were found by enumerating triples of short lattice vectors of a generic cell of each parent
lattice with the child's metric (orthogonal axes, a = b, γ = 120°), the child's centring and volume, one per
subgroup (per unique axis for monoclinic children); ``tests/indexing/test_distortions.py`` checks each
describes the parent's lattice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from powdex.crystal import BravaisLattice, Cell
from powdex.indexing.svd_index import polished_trials
from powdex.peaks import two_theta_to_q2

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch

logger = logging.getLogger(__name__)

_HALF = 0.5
_THIRD = 1 / 3

# Parent Bravais lattice: (child Bravais lattice, M) with the child's conventional axes = M @ the parent's
# (rows), at the parent's metric. hR is in hexagonal axes (obverse), as everywhere in powdex.
LEAST_DISTORTIONS: dict[BravaisLattice, tuple[tuple[BravaisLattice, np.ndarray], ...]] = {
    b: tuple((child, np.array(m, dtype=float)) for child, m in entries)
    for b, entries in {
        BravaisLattice.cP: (
            (BravaisLattice.tP, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            (BravaisLattice.hR, [[-1, -1, 0], [0, 1, -1], [1, -1, -1]]),
        ),
        BravaisLattice.cI: (
            (BravaisLattice.tI, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            (BravaisLattice.hR, [[0, -1, -1], [-1, 1, 0], [_HALF, _HALF, -_HALF]]),
        ),
        BravaisLattice.cF: (
            (BravaisLattice.tI, [[0, -_HALF, -_HALF], [0, _HALF, -_HALF], [1, 0, 0]]),
            (BravaisLattice.hR, [[_HALF, 0, -_HALF], [0, -_HALF, _HALF], [-1, -1, -1]]),
        ),
        # a, a + 2b, c: the orthohexagonal cell.
        BravaisLattice.hP: ((BravaisLattice.oC, [[2, 1, 0], [0, 1, 0], [0, 0, 1]]),),
        BravaisLattice.hR: ((BravaisLattice.mC, [[-2, -1, 0], [0, -1, 0], [2 * _THIRD, _THIRD, _THIRD]]),),
        BravaisLattice.tP: (
            (BravaisLattice.oP, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            (BravaisLattice.oC, [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]),
        ),
        BravaisLattice.tI: (
            (BravaisLattice.oI, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            (BravaisLattice.oF, [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]),
        ),
        # One per unique axis: b, then a and c brought to the b position.
        BravaisLattice.oP: (
            (BravaisLattice.mP, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            (BravaisLattice.mP, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
            (BravaisLattice.mP, [[1, 0, 0], [0, 0, -1], [0, 1, 0]]),
        ),
        # Unique b or a keep the C face's centring; unique c leaves a primitive cell in the C face.
        BravaisLattice.oC: (
            (BravaisLattice.mC, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            (BravaisLattice.mC, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
            (BravaisLattice.mP, [[-_HALF, -_HALF, 0], [0, 0, -1], [_HALF, -_HALF, 0]]),
        ),
        BravaisLattice.oI: (
            (BravaisLattice.mC, [[0, -1, -1], [1, 0, 0], [0, -1, 0]]),
            (BravaisLattice.mC, [[1, 0, -1], [0, 1, 0], [1, 0, 0]]),
            (BravaisLattice.mC, [[-1, -1, 0], [0, 0, 1], [-1, 0, 0]]),
        ),
        BravaisLattice.oF: (
            (BravaisLattice.mC, [[1, 0, 0], [0, -1, 0], [_HALF, 0, -_HALF]]),
            (BravaisLattice.mC, [[0, -1, 0], [1, 0, 0], [0, -_HALF, _HALF]]),
            (BravaisLattice.mC, [[1, 0, 0], [0, 0, -1], [_HALF, _HALF, 0]]),
        ),
        BravaisLattice.mP: ((BravaisLattice.aP, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),),
        # The primitive cell of the C face.
        BravaisLattice.mC: ((BravaisLattice.aP, [[_HALF, _HALF, 0], [-_HALF, _HALF, 0], [0, 0, 1]]),),
    }.items()
}

# Reflections of a least distortion, nearest the line a cell leaves, tried as that line's index.
LEFTOVER_ASSIGNMENTS = 8

# Relative scatter of the local starts around a description (of its reciprocal parameters): a distortion
# that moves a line by a few tenths of a degree, as far as an impurity line usually is from the nearest one.
DISTORTION_SPREAD = 0.01


def lower_symmetry_descriptions(bravais: BravaisLattice, cell: Cell) -> list[tuple[BravaisLattice, Cell]]:
    """``cell``'s lattice (conventional, of ``bravais``) in each Bravais lattice of its least distortions."""
    return [(child, cell.transformed(matrix)) for child, matrix in LEAST_DISTORTIONS.get(bravais, ())]


def distorted_cells(search: IndexingSearch, cand: Candidate) -> list[Candidate]:
    """Candidates near ``cand``'s least distortions (in the lattices of the systems the search covers),
    polished and scored.

    Two searches for each: SVD-Index from ``local_trials`` starts scattered around the description (their trials
    counted), which finds a distortion whose split lines the cell indexes at their mean; and, when the cell
    leaves one line, a fit of the distortion's free parameters to the cell's Miller indices with that line given
    each of the ``LEFTOVER_ASSIGNMENTS`` reflections nearest it (trimmed SVD-Index leaves the worst line out of
    each step, so only this pulls a trial to the line)."""
    out: list[Candidate] = []
    for (child, matrix), (_, cell) in zip(LEAST_DISTORTIONS.get(cand.bravais, ()),
                                          lower_symmetry_descriptions(cand.bravais, cand.cell)):
        if child.lattice_system not in search.systems or search.deadline.expired():
            continue
        svd = search.svd_index(child)
        batch = svd.run(svd.around(cell, search.config.local_trials, DISTORTION_SPREAD), deadline=search.deadline,
                        max_volume=2 * cell.volume)
        found = polished_trials(search, child, batch, cell.volume, cell.volume)
        search.count_trials(child.value, batch.n_trials, max((c.score for c in found), default=-np.inf))
        found += _with_the_leftover_line(search, cand, child, matrix, cell)
        logger.debug("%s: distortions of %s in %s: %d candidates", search.obs.source, cand.bravais.value,
                     child.value, len(found))
        out += found
    return out


def _with_the_leftover_line(search: IndexingSearch, cand: Candidate, child: BravaisLattice, matrix: np.ndarray,
                            cell: Cell) -> list[Candidate]:
    """Polished cells of ``child`` fitted to ``cand``'s indexed lines (their Miller indices in ``child``'s axes)
    and to the one line it leaves, given each of the ``LEFTOVER_ASSIGNMENTS`` reflections of ``cell`` (``cand``'s
    lattice in ``child``'s axes) nearest that line."""
    leftover = np.flatnonzero(~cand.indexed)
    if len(leftover) != 1:
        return []
    obs = search.obs
    q2 = two_theta_to_q2(obs.two_theta - cand.zero_shift, obs.wavelength)
    evaluator = search.evaluator(child)
    # Miller indices transform as h' = M h.
    indexed = child.axes.design_matrix(np.rint(cand.hkl[cand.indexed] @ matrix.T))
    reflections = evaluator.design @ child.axes.free_reciprocal_parameters(cell)
    positive = np.flatnonzero(reflections > 0)
    # One reflection per distinct q², nearest first.
    _, first = np.unique(np.round(reflections[positive], 10), return_index=True)
    rows = positive[first]
    rows = rows[np.argsort(np.abs(reflections[rows] - q2[leftover[0]]))[:LEFTOVER_ASSIGNMENTS]]
    out = []
    for row in rows:
        if search.deadline.expired():
            break
        x, *_ = np.linalg.lstsq(np.vstack([indexed, evaluator.design[row]]),
                                np.append(q2[cand.indexed], q2[leftover[0]]), rcond=None)
        polished = search.polished(child, x, cand.zero_shift)
        if polished is not None:
            out.append(polished)
    return out

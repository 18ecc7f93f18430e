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
    }.items()
}

# Relative scatter of the local starts around a description (of its reciprocal parameters): a distortion
# that moves a line by a few tenths of a degree, as far as an impurity line usually is from the nearest one.
DISTORTION_SPREAD = 0.01


def lower_symmetry_descriptions(bravais: BravaisLattice, cell: Cell) -> list[tuple[BravaisLattice, Cell]]:
    """``cell``'s lattice (conventional, of ``bravais``) in each Bravais lattice of its least distortions."""
    return [(child, cell.transformed(matrix)) for child, matrix in LEAST_DISTORTIONS.get(bravais, ())]


def distorted_cells(search: IndexingSearch, cand: Candidate) -> list[Candidate]:
    """Candidates from local SVD-Index searches around ``cand``'s least distortions (``local_trials`` starts
    each, in the lattices of the systems the search covers), polished and scored; their trials counted."""
    from powdex.indexing.svd_index import polished_trials

    out: list[Candidate] = []
    for child, cell in lower_symmetry_descriptions(cand.bravais, cand.cell):
        if child.lattice_system not in search.systems or search.deadline.expired():
            continue
        svd = search.svd_index(child)
        batch = svd.run(svd.around(cell, search.config.local_trials, DISTORTION_SPREAD), deadline=search.deadline,
                        max_volume=2 * cell.volume)
        found = polished_trials(search, child, batch, cell.volume, cell.volume)
        search.count_trials(child.value, batch.n_trials, max((c.score for c in found), default=-np.inf))
        logger.debug("%s: distortions of %s in %s: %d candidates", search.obs.source, cand.bravais.value,
                     child.value, len(found))
        out += found
    return out

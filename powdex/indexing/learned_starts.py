"""The search method ``learned-starts``: SVD-Index from cells the shipped learned models predict.

Random starts reach the basin of a monoclinic or triclinic cell rarely (one
trial in thousands for some of the benchmark's cells); the regression models
(``powdex.models``: a variance network and a random forest per space-group
group, trained on simulated peak lists) predict where the cell is from the
first peaks. Each
group of a Bravais lattice contributes draws from its variance network and
its random forest; a draw is a cell in the group's reindexed setting (an
A-centred orthorhombic group, a monoclinic group with unique axis c, a
rhombohedral group in rhombohedral axes), which spglib turns into the search's
conventional axes. The draws join the random trials; nothing else changes, so
the indexer works as before where the models have nothing to say.

Only the monoclinic and triclinic lattices take them (``method="both"``; the
learned method alone is the learned pipeline with its chains, ``powdex.indexing.learned``):
random starts find every higher-symmetry cell
of the Bravais benchmark within a second or two, while turning a draw into
conventional axes costs a spglib call (about 0.5 ms), which for 512 draws in
each of the 14 lattices would add several seconds to every pattern.

How many: the triclinic network can say little about the angles (2σ spans
±19° about the mean), so where the cell is large few of 256 draws land in its
basin; the Bravais benchmark's aP case 1 (833 Å³, reduced angles 108°, 101°,
108°) was missed with 256 and is found with 512, for about 0.12 s more of
draws and 0.03 s of trials per lattice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from powdex.crystal import BravaisLattice, Cell, LatticeSystem, conventional_cell
from powdex.indexing.observations import Observations
from powdex.indexing.svd_index import from_starts

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch

# The lattice systems whose lattices take learned starts alongside random ones.
WITH_RANDOM_STARTS = frozenset({LatticeSystem.MONOCLINIC, LatticeSystem.TRICLINIC})


def learned_starts(bravais: BravaisLattice, obs: Observations, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` starting points (free reciprocal parameters of ``bravais``'s conventional axes);
    none where no models ship or the peaks are fewer than they need (``regression.min_peaks``)."""
    # The models load here, not on import: a search that ends before monoclinic never pays for them.
    from powdex.indexing.learned import group_centring, system_models
    from powdex.models.regression import enough_peaks

    system = bravais.lattice_system
    empty = np.empty((0, bravais.axes.n_free))
    if count <= 0:
        return empty
    models = system_models(system)
    if models is None or not enough_peaks(system, obs.q2):
        return empty
    groups = [(name, model) for name, model in models.regression.items() if name.split()[0] == bravais.value]
    if not groups:
        return empty
    shares = np.diff(np.linspace(0, count, len(groups) + 1).astype(int))
    starts = []
    for (name, model), share in zip(groups, shares):
        if not share:
            continue
        cells, _ = model.candidates(obs.q2, int(share), rng)
        centring = group_centring(name, bravais.centring)
        for parameters in cells:
            try:
                conventional = conventional_cell(Cell(*parameters), centring, 1e-5)
            except ValueError:
                continue
            if conventional.bravais is bravais:
                starts.append(bravais.axes.free_reciprocal_parameters(conventional.cell))
    return np.array(starts) if starts else empty


class LearnedStarts:
    """SVD-Index from ``IndexingConfig.learned_starts`` model draws per monoclinic or triclinic Bravais lattice,
    in the first pass only (a later pass would draw the same kind of cells again)."""

    def search(self, search: IndexingSearch, system: LatticeSystem, search_pass: int) -> list[Candidate]:
        if search_pass > 0 or system not in WITH_RANDOM_STARTS:
            return []
        out: list[Candidate] = []
        for bravais in BravaisLattice.of_system(system):
            if search.deadline.expired():
                break
            starts = learned_starts(bravais, search.obs, search.config.learned_starts, search.stream(bravais))
            if not len(starts):
                continue
            found = from_starts(search, bravais, starts)
            out += found
        return out

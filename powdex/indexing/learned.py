"""The learned indexing pipeline for one lattice system, on the ensemble engine.

Cells are proposed by regression models trained on simulated peak lists,
Miller indices assigned by a classifier network, and both refined together by
Metropolis chains (a data-driven alternative to trial-and-error indexing; the
models and their training are in ``powdex.models`` and ``powdex.training``):

1. **Candidates.** Every group of the system's shipped models (``powdex.models``)
   draws cells for the first peaks: half from its variance network's normal,
   half from its random forest's trees (30 + 30 by default).
2. **Miller indices.** The assignment network labels every peak of every
   candidate with a reference index (or (000), outside the list); candidates
   with the same labels are one candidate, their free reciprocal parameters
   averaged (an average of positive-definite metrics is one).
3. **Chains.** Distinct candidates start Metropolis chains
   (``powdex.optim.MetropolisChain``) on the negative log-likelihood of
   :class:`AssignmentLikelihood`, each group's best-scoring candidate first
   (``_chain_starts``). Each step reassigns the indices at the current cell,
   subsamples the assigned peaks, freezes σ² = q²(|Δq²| + ε) and minimizes the
   resulting weighted least squares with a trust region (dogleg; q² is linear in
   the free reciprocal parameters, so the Hessian is exact); the Metropolis rule
   accepts or rejects the minimum by the likelihood of all the peaks. The chains
   run as an ensemble through ``run_ensemble``: in process, in worker processes
   or on dask, with the results store when one is given.
4. **Polish.** Each chain's best cell goes to its conventional axes in the
   centrings of the groups that proposed it and is polished and scored against
   all peaks like any other candidate (``CandidateEvaluator``).

Choices in the details, and why:

* σ² uses |Δq²| + ε rather than |Δq² + ε|, which vanishes at Δq² = −ε; ε is a
  2θ width turned into q² at each peak (``IndexingConfig.chain_epsilon``,
  0.2°), so it means the same at any angle. Ten times the expected 2θ error
  lets a chain pull in from further: from a monoclinic draw 8 % off, four
  chains of four reached the true cell at 0.2°, one of four at 0.02°.
* The assignment network reads how uncertain the cell is (``powdex.models``); a
  chain halves that uncertainty at every step, from its candidates' median down
  to ``FINAL_UNCERTAINTY``, as the networks, trained at falling noise
  levels, intend. While it is above that, each peak's index is drawn from the
  network's distribution (resampling; on 16 monoclinic and
  16 triclinic training-generator patterns it found 7 and 7 true cells, the
  most probable index 3 and 5) and a subsample of the peaks is fitted; from
  there on the most probable indices of all the peaks are, so a chain ends as a
  converged fit.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import TYPE_CHECKING

import gemmi
import numpy as np

from powdex.crystal import LatticeSystem, conventional_cell, reciprocal_coefficients
from powdex.models import SystemModels, load_system, shipped_systems
from powdex.models.assignment import AssignmentModel
from powdex.models.cells import swap_cell_axes, unique_axis_swap
from powdex.models.regression import enough_peaks
from powdex.optim import Objective, Points, WeightedLeastSquares, run_ensemble

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch

# The lowest uncertainty (scaled units) the assignment networks were trained at: a chain's cell is fitted by then.
FINAL_UNCERTAINTY = 0.01
# The prior of the chains: lattice vectors of 2–500 Å; cells outside are not considered.
LENGTH_RANGE = (2.0, 500.0)


@cache
def system_models(system: LatticeSystem) -> SystemModels | None:
    return load_system(system) if system in shipped_systems() else None


@cache
def group_centring(group: str, default: str) -> str:
    """Centring letter of a group's reindexed setting ("mC A 1 1 2/a" → A); ``default`` for merged rare groups."""
    symbol = group.split(maxsplit=1)[1] if " " in group else ""
    try:
        return gemmi.SpaceGroup(symbol).centring_type()
    except (RuntimeError, ValueError):
        return default


def negative_log_likelihood(q2: np.ndarray, q2_calc: np.ndarray, log_p: np.ndarray, outside: np.ndarray,
                            epsilon: np.ndarray) -> np.ndarray:
    """The chains' −ln ρ(q²obs | H, c) ρ(H | c) summed over peaks (last axis): a normal of variance
    q²(|Δq²| + ε) for an assigned peak, a uniform density over (0, q²max] for one assigned (000)."""
    r = q2 - q2_calc
    variance = q2 * (np.abs(r) + epsilon)
    line = 0.5 * r * r / variance + 0.5 * np.log(2 * np.pi * variance)
    return np.sum(np.where(outside, np.log(q2[-1]), line) - log_p, axis=-1)


class AssignmentLikelihood:
    """The chains' objective: the negative log-likelihood of the first peaks given a cell, as free reciprocal
    parameters x of the lattice system in the models' axes (monoclinic unique axis b, rhombohedral axes), and
    the assignment network's most probable Miller indices at x. Picklable, to run on any executor."""

    def __init__(self, system: LatticeSystem, assignment: AssignmentModel, q2: np.ndarray, epsilon: np.ndarray,
                 start_uncertainty: float, indices: str, subsample: str, fraction: float):
        self.system = system
        self.assignment = assignment
        self.q2 = np.asarray(q2, dtype=float)
        self.epsilon = np.asarray(epsilon, dtype=float)
        self.design = system.design_matrix(assignment.reference)  # (references, free parameters)
        self.start_uncertainty = max(float(start_uncertainty), FINAL_UNCERTAINTY)
        self.indices = indices
        self.subsample = subsample
        self.fraction = fraction
        self._last: tuple[tuple[bytes, float], np.ndarray] | None = None

    def uncertainty(self, step: int) -> float:
        return max(FINAL_UNCERTAINTY, self.start_uncertainty * 0.5**step)

    def allowed(self, x: np.ndarray) -> np.ndarray:
        """Rows of x (…, free) that are cells with every edge within ``LENGTH_RANGE``."""
        parameters = self.system.lattice_parameters(x)
        with np.errstate(invalid="ignore"):
            return np.all((parameters[..., :3] >= LENGTH_RANGE[0]) & (parameters[..., :3] <= LENGTH_RANGE[1]), axis=-1)

    def probabilities(self, x: np.ndarray, uncertainty) -> np.ndarray:
        """Assignment probabilities (n, peaks, references + 1) at cells x (n, free)."""
        return self.assignment.probabilities_of_lines(self.q2, np.atleast_2d(x) @ self.design.T, uncertainty)

    def values(self, x: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        """NLL (n,) at cells x (n, free) of the most probable indices under ``probabilities``; inf where not allowed."""
        x = np.atleast_2d(x)
        label = probabilities.argmax(axis=2)
        outside = label == len(self.assignment.reference)
        q2_calc = np.take_along_axis(x @ self.design.T, np.minimum(label, len(self.design) - 1), axis=1)
        log_p = np.log(np.maximum(np.take_along_axis(probabilities, label[..., None], axis=2)[..., 0], 1e-30))
        nll = negative_log_likelihood(self.q2, q2_calc, log_p, outside, self.epsilon)
        return np.where(self.allowed(x), nll, np.inf)

    def _at(self, x: np.ndarray, uncertainty: float) -> np.ndarray:
        """``probabilities`` at one cell, remembered once: a chain's step assigns at the point its last
        accepted value was computed at, and once its uncertainty is final the network need not run again."""
        key = (np.asarray(x, dtype=float).tobytes(), uncertainty)
        if self._last is None or self._last[0] != key:
            self._last = (key, self.probabilities(x, uncertainty))
        return self._last[1]

    def __call__(self, x: np.ndarray) -> float:
        return float(self.values(x, self._at(x, FINAL_UNCERTAINTY))[0])

    def resample(self, x: np.ndarray, step: int, rng: np.random.Generator) -> Objective:
        """The step's local model: indices reassigned at x (each peak's most probable, or drawn from its
        distribution while the cell is uncertain), a subsample of the assigned peaks (uniform, or weighted by
        the probability of their index), σ² frozen at x."""
        p = self._at(x, self.uncertainty(step))[0]
        label = p.argmax(axis=1)
        if self.indices == "sampled" and self.uncertainty(step) > FINAL_UNCERTAINTY:
            # Resampling: each peak's index drawn from its distribution, not only its mode.
            cumulative = np.cumsum(p.astype(float), axis=1)
            drawn = (cumulative < rng.random((len(p), 1)) * cumulative[:, -1:]).sum(axis=1)
            label = np.minimum(drawn, p.shape[1] - 1)
        assigned = np.flatnonzero(label < len(self.design))
        # Subsampling explores while the cell is uncertain; once it is not, every assigned peak pins it.
        fraction = self.fraction if self.uncertainty(step) > FINAL_UNCERTAINTY else 1.0
        keep = max(self.system.n_free + 1, int(round(fraction * len(assigned))))
        if keep < len(assigned):
            weights = None
            if self.subsample == "softmax":
                weights = p[assigned, label[assigned]].astype(float)
                weights /= weights.sum()
            assigned = np.sort(rng.choice(assigned, keep, replace=False, p=weights))
        design = self.design[label[assigned]]
        q2 = self.q2[assigned]
        variance = q2 * (np.abs(q2 - design @ x) + self.epsilon[assigned])
        return WeightedLeastSquares(design, q2, 0.5 / variance).objective(f"learned-{self.system.value}-step")


class LearnedChains:
    """The search method ``learned-chains``: the learned pipeline of the module docstring for one lattice
    system; a later pass draws new cells from a new child of the system's seed."""

    def search(self, search: IndexingSearch, system: LatticeSystem, search_pass: int) -> list[Candidate]:
        candidates, chains = learned_search(system, search, search.system_seed(system, search_pass))
        search.count_trials(system.value, chains, max((c.score for c in candidates), default=-np.inf))
        return candidates


def learned_search(system: LatticeSystem, search: IndexingSearch,
                   seed: np.random.SeedSequence) -> tuple[list[Candidate], int]:
    """Candidates of ``system`` from the shipped models' cells refined by Metropolis chains, and the number of
    chains run; none where no models ship or the peaks are fewer than the models need (the assignment network
    reads 20, cubic 10; the regression at least ``min_peaks`` of them within its q² window). The ensemble gets
    the time left of ``search.deadline``: no chain starts after it."""
    config, obs = search.config, search.obs
    models = system_models(system)
    if (models is None or obs.n < models.assignment.n_peaks or not enough_peaks(system, obs.q2)
            or config.chains == 0):
        return [], 0
    n_peaks = models.assignment.n_peaks
    q2 = obs.q2[:n_peaks]
    rng = np.random.default_rng(seed)
    cells, uncertainty, group = [], [], []
    for index, regression in enumerate(models.regression.values()):
        drawn, tau = regression.candidates(q2, config.learned_draws, rng)
        cells.append(drawn)
        uncertainty.append(tau)
        group.append(np.full(len(drawn), index))
    cells, uncertainty, group = np.concatenate(cells), np.concatenate(uncertainty), np.concatenate(group)
    canonical = swap_cell_axes(cells, unique_axis_swap(system, cells))
    x = reciprocal_coefficients(canonical) @ np.linalg.pinv(system.coefficient_map)
    likelihood = AssignmentLikelihood(
        system, models.assignment, q2, obs.dq2_dtt[:n_peaks] * config.chain_epsilon,
        float(np.median(uncertainty)), config.indices, config.subsample, config.subsample_fraction,
    )
    probabilities = likelihood.probabilities(x, uncertainty)
    score = likelihood.values(x, probabilities)
    # One candidate per assignment, its cell the mean of the cells that gave it.
    distinct, which = np.unique(probabilities.argmax(axis=2), axis=0, return_inverse=True)
    which = which.reshape(-1)
    merged = np.zeros((len(distinct), x.shape[1]))
    np.add.at(merged, which, x)
    merged /= np.bincount(which)[:, None]
    order = _chain_starts(score, group, which, config.chains)
    if not order or search.deadline.expired():
        return [], 0
    group_names = list(models.regression)
    objective = Objective(
        likelihood, system.n_free, resample=likelihood.resample, name=f"learned-{system.value}",
        key=hashlib.sha256(np.ascontiguousarray(q2).tobytes()).hexdigest()[:16],
    )
    strategy = Points(points=[tuple(merged[i]) for i in order], seed=int(rng.integers(2**31)),
                      minimizer=config.metropolis_chain)
    chains = run_ensemble(objective, strategy, executor=search.executor, store=search.store,
                          time_limit=search.deadline.remaining())
    candidates = []
    for result in chains.results:
        start = order[result.run_index]
        if not result.admissible or not np.isfinite(result.value):
            continue
        centrings = {group_centring(group_names[g], "P") for g in np.unique(group[which == start])}
        for centring in sorted(centrings):
            try:
                conventional = conventional_cell(system.cell(result.x), centring)
            except ValueError:
                continue
            cand = search.polished_cell(conventional)
            if cand is not None:
                candidates.append(cand)
    return candidates, len(chains.results)


def _chain_starts(score: np.ndarray, group: np.ndarray, which: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` merged candidates to start chains from: each group's best first, then each group's
    second best, and so on, best score first within a round.

    Each draw is scored by the likelihood of the indices the network gave it at its own uncertainty. Across
    groups the scores mislead (a wrong group's cell can fit the first peaks loosely but well); within a group
    the draw nearest the true cell tends to score best (in a monoclinic test, 1st of its group's 60 and 113th
    of all 1679), so every group gets its turn.
    """
    finite = np.isfinite(score)
    rank = np.full(len(score), np.iinfo(int).max)
    for g in np.unique(group):
        members = np.flatnonzero((group == g) & finite)
        rank[members[np.argsort(score[members], kind="stable")]] = np.arange(len(members))
    # A merged candidate takes the best round and score of the draws it merges.
    best_rank = np.full(which.max() + 1, np.iinfo(int).max)
    np.minimum.at(best_rank, which, rank)
    best_score = np.full(which.max() + 1, np.inf)
    np.minimum.at(best_score, which, np.where(finite, score, np.inf))
    order = np.lexsort((best_score, best_rank))
    return [int(i) for i in order if np.isfinite(best_score[i])][:count]

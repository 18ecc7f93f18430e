"""The indexing pipeline: candidates per lattice system, sub-cell checks, then ranking.

Candidates come from SVD-Index over the Bravais lattices (``method`` classical
or both) or from the seed's learned pipeline (``method="learned"``,
``powdex.indexing.learned``: model draws, network Miller indices, Metropolis
chains, one lattice system at a time). Lattice systems are searched from the highest symmetry down. For each Bravais
lattice, batches of random trials are run at growing trial volumes (SVD-Index's
volume schedule, starting below the volume estimated from the number of lines),
converged trials that explain enough peaks are polished and scored, and the
search of that lattice ends one stage past the first full solution. The whole
search stops at the time limit or as soon as a lattice system has produced a
solution with M_N ≥ ``stop_m`` and a convincing score that leaves at most one
line unexplained (see ``_decisive``). A pass over the lattice systems that ends
with nothing of M_N ≥ ``solution_m`` is followed by another with twice the
trials per volume stage, until the time limit: one pass of 64 trials per stage
and free parameter misses about half the monoclinic patterns of large organic-like
cells, which 256 or 1024 find (``benchmarks/learned_pipeline.py``). The learned
method's later passes draw new cells for new chains instead.

Determinism: every random choice flows from ``seed`` (one stream per Bravais
lattice, and one per lattice system for the learned chains), so the same seed gives the same ranking whenever the search finishes
within its time limit; a search cut short by the limit depends on the speed of
the machine.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from powdex.crystal import BravaisLattice, LatticeSystem, conventional_cell, niggli_reduce, sublattice_bases
from powdex.crystal.cell import volume
from powdex.indexing.candidate import Candidate, CandidateEvaluator, ScoringModel
from powdex.indexing.extinction import suggest_space_groups
from powdex.indexing.learned import LearnedSearchSettings, learned_search
from powdex.indexing.learned_starts import WITH_RANDOM_STARTS, learned_starts
from powdex.indexing.observations import Observations
from powdex.indexing.svd_index import SvdIndexSearch, estimated_volume
from powdex.optim import MetropolisChain, TrustRegion
from powdex.peaks import PeakList, q2_to_two_theta, two_theta_to_q2

SEARCH_ORDER = (
    LatticeSystem.CUBIC,
    LatticeSystem.HEXAGONAL,
    LatticeSystem.RHOMBOHEDRAL,
    LatticeSystem.TETRAGONAL,
    LatticeSystem.ORTHORHOMBIC,
    LatticeSystem.MONOCLINIC,
    LatticeSystem.TRICLINIC,
)


class IndexingConfig(BaseModel):
    """Options of :func:`index_peaks` (validated; the CLI builds one of these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    systems: tuple[LatticeSystem, ...] = SEARCH_ORDER
    zero_shift: bool = False
    seed: int = 0
    time_limit: float = Field(60.0, gt=0, description="seconds for the whole search")
    stop_m: float = Field(20.0, ge=0, description="stop when a system gives a full indexing with M_N at least this")
    two_theta_error: float = Field(0.02, gt=0, description="expected standard error of peak positions, ° 2θ")
    impurity_fraction: float = Field(0.05, gt=0, lt=1)
    detection_probability: float = Field(0.7, gt=0, lt=1)
    stop_score_per_peak: float = Field(
        0.5, description="...a ranking score at least this per peak (true cells score about 0.5–1.5)"
    )
    stop_score_per_unindexed: float = Field(
        0.5, ge=0, description="...and this much more per peak when one line is left unexplained"
    )
    solution_m: float = Field(10.0, ge=0, description="M_N from which a lattice's volume search counts as solved")
    max_unindexed: int = Field(2, ge=0, description="unexplained lines a candidate may leave")
    local_restarts: int = Field(3, ge=0, description="near misses per stage restarted locally")
    subcell_checks: int = Field(3, ge=0, description="best candidates checked for sub-cells after each lattice system")
    method: Literal["classical", "learned", "both"] = Field(
        "both", description="classical: SVD-Index from random starts; learned: the seed's data-driven pipeline "
        "alone (model draws, Miller indices from the assignment network, Metropolis chains), every system with "
        "shipped models; both: SVD-Index from random starts, and from model draws for monoclinic and triclinic"
    )
    learned_starts: int = Field(
        512, ge=0, description="both: SVD-Index starts per monoclinic or triclinic Bravais lattice from model draws"
    )
    learned_draws: int = Field(60, ge=2, description="learned: cells drawn per group, half network, half forest")
    chains: int = Field(64, ge=0, description="learned: Metropolis chains per lattice system")
    chain: MetropolisChain = Field(
        MetropolisChain(local=TrustRegion(kind="dogleg"), steps=30, patience=8),
        description="learned: each chain's steps, patience, temperature and local minimizer",
    )
    indices: Literal["sampled", "most_probable"] = Field(
        "sampled", description="learned: each chain step's Miller indices, drawn from the network's probabilities "
        "while the cell is uncertain (the seed's resampling), or the most probable"
    )
    subsample: Literal["random", "softmax"] = Field(
        "random", description="learned: peaks a chain step fits, drawn uniformly or by their index's probability"
    )
    subsample_fraction: float = Field(0.75, gt=0, le=1, description="learned: share of the assigned peaks a step fits")
    chain_epsilon: float = Field(
        0.2, gt=0, description="learned: ° 2θ, the ε of the chains' σ² = q²(|Δq²| + ε), as a 2θ width at each peak"
    )
    max_subcell_index: int = Field(4, ge=1, le=6, description="largest volume ratio of a sub-cell checked")
    local_trials: int = Field(128, ge=1, description="trials around each near miss")
    polish_per_stage: int = Field(12, ge=1, description="distinct trial solutions polished per volume stage")
    batch_size: int = Field(64, ge=8, description="trials per volume stage for one free parameter")
    top: int = Field(10, ge=1)

    @field_validator("systems", mode="before")
    @classmethod
    def _parse_systems(cls, value):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        known = [s.value for s in SEARCH_ORDER]
        if not value:
            raise ValueError(f"no lattice system given; choose from {','.join(known)}")
        systems = []
        for v in value:
            name = v.value if isinstance(v, LatticeSystem) else str(v).strip().lower()
            if name not in known:
                raise ValueError(f"unknown lattice system {name!r}; choose from {','.join(known)}")
            systems.append(LatticeSystem(name))
        return tuple(systems)


@dataclass(frozen=True)
class IndexingResult:
    candidates: list[Candidate]
    elapsed: float
    trials: int
    source: str
    skipped: tuple[LatticeSystem, ...] = ()  # asked for, but with too few peaks to determine their cells

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "elapsed_seconds": self.elapsed,
            "trials": self.trials,
            "skipped_systems": [s.value for s in self.skipped],
            "candidates": [c.to_dict() for c in self.candidates],
        }


def peaks_needed(system: LatticeSystem, zero_shift: bool) -> int:
    """Peaks that determine a cell of ``system``: one more than its free parameters (the zero shift included)."""
    return system.n_free + int(zero_shift) + 1


ProgressCallback = Callable[[str, int, float], None]
"""Called after every batch with (Bravais symbol, trials so far, best score so far)."""


def index_peaks(
    peaks: PeakList, config: IndexingConfig | None = None, progress: ProgressCallback | None = None,
    executor=None, store=None,
) -> IndexingResult:
    """Find and rank unit cells that index the peak list.

    ``executor`` and ``store`` (``powdex.optim``) run and keep the learned method's chains: in process
    and unstored by default."""
    config = config or IndexingConfig()
    obs = Observations.from_peaks(peaks)
    model = ScoringModel(two_theta_error=config.two_theta_error, impurity_fraction=config.impurity_fraction,
                         detection_probability=config.detection_probability)
    asked = [s for s in SEARCH_ORDER if s in config.systems]
    ordered = [s for s in asked if peaks.n >= peaks_needed(s, config.zero_shift)]
    if not ordered:
        fewest = min(asked, key=lambda s: peaks_needed(s, config.zero_shift))
        shift = " with a zero shift" if config.zero_shift else ""
        peaks.require(peaks_needed(fewest, config.zero_shift), f"the {fewest.value} lattice system{shift}")
    start = time.perf_counter()
    deadline = start + config.time_limit
    # One independent stream per Bravais lattice, so the result for a lattice does
    # not depend on which other lattices were searched.
    seeds = np.random.SeedSequence(config.seed).spawn(len(BravaisLattice) + len(LatticeSystem))
    found: list[Candidate] = []
    trials = 0
    evaluators: dict[BravaisLattice, CandidateEvaluator] = {}
    derived_from: set[int] = set()
    streams = {b: np.random.default_rng(seeds[i]) for i, b in enumerate(BravaisLattice)}
    lattice_trials = dict.fromkeys(BravaisLattice, 0)
    for search_pass in itertools.count():
        # A later pass continues each lattice's stream with twice the trials per volume stage.
        pass_config = config.model_copy(update={"batch_size": config.batch_size * 2**search_pass})
        settled = False
        trials_before = trials
        for system in ordered:
            if config.method == "learned":
                if time.perf_counter() >= deadline:
                    break
                # A later pass draws new cells: its own child of the system's stream.
                system_seed = seeds[len(BravaisLattice) + list(LatticeSystem).index(system)]
                new, n = learned_search(
                    system, obs, model, _learned_settings(config),
                    system_seed if search_pass == 0 else system_seed.spawn(1)[0], evaluators, config.zero_shift,
                    deadline, executor, store,
                )
                found.extend(new)
                trials += n
                if progress is not None:
                    progress(system.value, n, max((c.score for c in found), default=-np.inf))
            else:
                for bravais in BravaisLattice.of_system(system):
                    new, n = _search_lattice(bravais, obs, model, pass_config, streams[bravais], deadline,
                                             _counting_from(progress, lattice_trials[bravais]), found,
                                             learned=search_pass == 0)
                    found.extend(new)
                    trials += n
                    lattice_trials[bravais] += n
            if system is LatticeSystem.HEXAGONAL and LatticeSystem.RHOMBOHEDRAL in ordered:
                continue  # hP and hR are one crystal family: an hP cell can be a super-cell of an hR one
            best = rank_candidates(found)
            for cand in best[: config.subcell_checks]:
                if id(cand) not in derived_from:
                    derived_from.add(id(cand))
                    found.extend(_subcells(cand, obs, model, config, ordered, evaluators))
            best = rank_candidates(found)
            searched = ordered[: ordered.index(system) + 1]
            # A sub-cell can belong to a system not searched yet (an oC from an hP super-cell
            # whose lattice is tetragonal): stopping then would skip a higher symmetry.
            settled = bool(best) and best[0].bravais.lattice_system in searched and _decisive(best[0], config)
            if settled or time.perf_counter() >= deadline:
                break
        best = rank_candidates(found)
        # A pass without a trial (no learned models for these peaks) would only repeat itself.
        if (settled or trials == trials_before or time.perf_counter() >= deadline
                or (best and best[0].figures.m >= config.solution_m)):
            break
    ranked = [_with_space_groups(c, obs, model) for c in rank_candidates(found)[: config.top]]
    skipped = tuple(s for s in asked if s not in ordered)
    return IndexingResult(ranked, time.perf_counter() - start, trials, obs.source, skipped)


def _counting_from(progress: ProgressCallback | None, earlier: int) -> ProgressCallback | None:
    """``progress`` for a later pass over a lattice: its trials counted on from the earlier passes'."""
    if progress is None or earlier == 0:
        return progress
    return lambda lattice, trials, best: progress(lattice, earlier + trials, best)


def _learned_settings(config: IndexingConfig) -> LearnedSearchSettings:
    return LearnedSearchSettings(config.learned_draws, config.chains, config.chain, config.indices, config.subsample,
                                 config.subsample_fraction, config.chain_epsilon, config.max_unindexed)


def _with_space_groups(cand: Candidate, obs: Observations, model: ScoringModel) -> Candidate:
    classes = suggest_space_groups(
        cand.bravais, cand.cell, obs.two_theta[cand.indexed] - cand.zero_shift, obs.wavelength,
        resolution=model.resolution, two_theta_error=model.two_theta_error,
        impurity_fraction=model.impurity_fraction, detection_probability=model.detection_probability,
    )
    return replace(cand, space_groups=classes)


def _decisive(best: Candidate, config: IndexingConfig) -> bool:
    """Whether the best candidate so far is good enough to skip the lower symmetries.

    M_N alone is not enough: a large cell can reach M20 > 20 by coincidence
    (seen: a hexagonal 5000 Å³ cell for a 290 Å³ orthorhombic pattern), but it
    predicts many lines that are not there, which the score charges for. A
    candidate that leaves a line unexplained must score higher, since a
    super-cell of a lower-symmetry lattice can explain all but an impurity line
    too. Calibration (``benchmarks/index_bravais.py``, 280 patterns with noise,
    missing lines, zero shifts and impurities): the rule stopped 174 searches
    early, each on the true cell; the highest-scoring wrong best candidate
    reached 0.46 per peak with every line indexed, 0.79 with one line not.
    """
    n = len(best.indexed)
    unindexed = best.figures.n_unindexed
    return (
        unindexed <= 1
        and best.figures.m >= config.stop_m
        and best.score >= (config.stop_score_per_peak + unindexed * config.stop_score_per_unindexed) * n
    )


def _subcells(
    cand: Candidate, obs: Observations, model: ScoringModel, config: IndexingConfig, systems, evaluators: dict
) -> list[Candidate]:
    """Candidates for the lattices that contain ``cand``'s with index 2 to ``max_subcell_index`` (its sub-cells).

    A random search often lands on a super-cell: a cell two or three times too
    large (a doubled axis, a missed C or R centring) that explains every line
    and more. A sub-cell keeps only the reflections h with h·H⁻¹ integral
    (``sublattice_bases``), so only the H that keep the indexed peaks are
    tried: each gives a lattice, spglib its Bravais lattice and conventional
    cell, and the polish and score of that lattice decide. This is the
    smaller-cell check of classical indexing programs.
    """
    reduced = niggli_reduce(cand.cell, cand.bravais.centring)
    # Every reflection within the resolution of each indexed peak: a super-cell's
    # extra reflections can share a line with the one the sub-cell keeps.
    hkl, peak = _reflections_at_peaks(reduced.cell, obs.two_theta[cand.indexed] - cand.zero_shift, obs.wavelength, model.resolution)
    n_indexed = cand.n_indexed
    out = []
    for index in range(2, config.max_subcell_index + 1):
        for form in sublattice_bases(index):
            inverse = np.linalg.inv(form)
            k = hkl @ inverse
            integral = np.all(np.abs(k - np.rint(k)) < 1e-6, axis=1)
            if n_indexed - len(np.unique(peak[integral])) > config.max_unindexed:
                continue
            try:
                conventional = conventional_cell(reduced.cell.transformed(inverse.T), "P", 2e-3)
            except ValueError:
                continue
            if conventional.bravais.lattice_system not in systems:
                continue
            new = _polished_in(conventional, cand.zero_shift, obs, model, config, evaluators)
            if new is not None:
                out.append(_in_metric_symmetry(new, obs, model, config, systems, evaluators))
    return out


def _polished_in(conventional, zero_shift: float, obs, model, config, evaluators) -> Candidate | None:
    """The polished candidate of a conventional cell in its Bravais lattice, None if it leaves too many lines."""
    bravais = conventional.bravais
    if bravais not in evaluators:
        evaluators[bravais] = CandidateEvaluator(bravais, obs, model, config.zero_shift)
    new = evaluators[bravais].evaluate(bravais.axes.free_reciprocal_parameters(conventional.cell), zero_shift)
    return new if new is not None and new.figures.n_unindexed <= config.max_unindexed else None


def _in_metric_symmetry(cand: Candidate, obs, model, config, systems, evaluators) -> Candidate:
    """``cand`` polished in the Bravais lattice its refined metric has, when that is a higher one.

    A sub-cell is named from a super-cell that was fitted, not exact, so spglib can
    see a lower symmetry than the polished cell has (an oC that refines to a = b
    is a tP lattice); the polish in the higher lattice is then the candidate.
    """
    try:
        conventional = conventional_cell(cand.cell, cand.bravais.centring, 2e-4)
    except ValueError:
        return cand
    if conventional.bravais is cand.bravais or conventional.bravais.lattice_system not in systems:
        return cand
    return _polished_in(conventional, cand.zero_shift, obs, model, config, evaluators) or cand


def _reflections_at_peaks(cell, two_theta: np.ndarray, wavelength: float, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Miller indices (in ``cell``'s basis) within ``window`` ° 2θ of each peak, and which peak each is at."""
    grid, q2 = cell.miller_indices_within(float(two_theta_to_q2(min(two_theta.max() + window, 179.0), wavelength)))
    close = np.abs(q2_to_two_theta(q2, wavelength)[None, :] - two_theta[:, None]) <= window  # (peaks, reflections)
    peak, reflection = np.nonzero(close)
    return grid[reflection].astype(float), peak


def _search_lattice(bravais, obs, model, config, rng, deadline, progress, found_so_far, learned: bool):
    # An unrefined zero shift adds to the position errors until the polish.
    tolerance = 3 * config.two_theta_error + (0.06 if config.zero_shift else 0.0)
    search = SvdIndexSearch(bravais, obs, rng, match_tolerance=tolerance)
    evaluator = CandidateEvaluator(bravais, obs, model, config.zero_shift)
    v0 = estimated_volume(bravais, obs)
    need = obs.n - config.max_unindexed
    stages = 0.3 * v0 * 1.3 ** np.arange(11)
    batch_size = int(config.batch_size * 2.2 ** (bravais.axes.n_free - 1))
    candidates: list[Candidate] = []
    trials = 0
    first_solution_stage = None
    best = max((c.score for c in found_so_far), default=-np.inf)

    def polish(batch, v_lo, v_hi) -> list[Candidate]:
        # Trials that drifted far from the stage's volumes belong to another stage;
        # large cells index anything, so letting them in would end the search early.
        v = volume(bravais.axes.lattice_parameters(batch.x))
        good = (batch.n_matched >= need) & (v >= 0.5 * v_lo) & (v <= 2 * v_hi)
        # Most peaks explained first; among equals the smaller cell, which explains them with fewer lines.
        order = np.lexsort((v[good], -batch.n_matched[good]))
        out = []
        for x in _distinct(batch.x[good][order])[: config.polish_per_stage]:
            if time.perf_counter() >= deadline:
                break
            cand = evaluator.evaluate(x)
            if cand is not None and cand.figures.n_unindexed <= config.max_unindexed:
                out.append(cand)
        return out

    # Cells the learned models predict from the first peaks, polished like any stage's trials.
    takes_learned = learned and config.method == "both" and bravais.lattice_system in WITH_RANDOM_STARTS
    starts = learned_starts(bravais, obs, config.learned_starts if takes_learned else 0, rng)
    if len(starts):
        batch = search.run(starts, deadline=deadline, max_volume=2 * stages[-1])
        trials += batch.n_trials
        candidates += polish(batch, stages[0], stages[-1])
    for stage, (v_lo, v_hi) in enumerate(zip(stages[:-1], stages[1:])):
        if time.perf_counter() >= deadline:
            break
        batch = search.run(search.random_parameters(batch_size, (v_lo, v_hi)), deadline=deadline, max_volume=2 * v_hi)
        trials += batch.n_trials
        found = polish(batch, v_lo, v_hi)
        # Near misses (a line or two unexplained) often sit a percent from the true
        # cell in a basin the global trials rarely hit: restart around them.
        near = sorted((c for c in found if c.figures.n_unindexed > 0), key=lambda c: -c.score)
        for cand in near[: config.local_restarts]:
            if time.perf_counter() >= deadline:
                break
            local = search.run(search.around(cand.cell, config.local_trials), deadline=deadline, max_volume=2 * v_hi)
            trials += local.n_trials
            found += polish(local, v_lo, v_hi)
        candidates += found
        if candidates:
            best = max(best, max(c.score for c in candidates))
        if first_solution_stage is None and any(
            c.figures.m >= config.solution_m and c.figures.n_unindexed == 0 for c in found
        ):
            first_solution_stage = stage
        if progress is not None:
            progress(bravais.value, trials, best)
        # One stage past the first full solution catches a larger cell that explains more.
        if first_solution_stage is not None and stage >= first_solution_stage + 1:
            break
    return candidates, trials


def _distinct(x: np.ndarray, rtol: float = 1e-4) -> list[np.ndarray]:
    """Trials that converged to the same parameters, once each, in their original order."""
    if len(x) == 0:
        return []
    key = np.round(np.log(np.abs(x) + 1e-12) / rtol).astype(np.int64) * np.sign(x).astype(np.int64)
    _, first = np.unique(key, axis=0, return_index=True)
    return [x[i] for i in sorted(first)]


def rank_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Best score first, each lattice once, in its highest-symmetry description.

    Descriptions of one lattice (cP and its hR setting, oP and an mP with
    β = 90°) are merged: the lattice takes the best score of its descriptions
    and is shown in the most symmetric one. Between different lattices the
    score alone decides; it already charges a lower-symmetry description the
    Occam factor of the parameters it adds (``powdex.indexing.candidate``).
    """
    order = sorted(candidates, key=lambda c: -c.score)
    # Lattices found so far, kept sorted by primitive volume so that each new
    # candidate is compared only with those of nearly its volume.
    volumes: list[float] = []
    lattices: list[list] = []  # [signature, best score, shown description]
    for cand in order:
        signature = cand.lattice_signature
        lo = bisect.bisect_left(volumes, signature.volume * (1 - 0.01))
        hi = bisect.bisect_right(volumes, signature.volume * (1 + 0.01))
        for entry in lattices[lo:hi]:
            # Tighter than the default: a 0.2% split of two axes is plain at high angle.
            if signature.matches(entry[0], rtol=5e-4):
                if _symmetry(cand) > _symmetry(entry[2]):
                    entry[2] = cand
                break
        else:
            at = bisect.bisect_left(volumes, signature.volume)
            volumes.insert(at, signature.volume)
            lattices.insert(at, [signature, cand.score, cand])
    return [e[2] for e in sorted(lattices, key=lambda e: -e[1])]


def _symmetry(c: Candidate) -> tuple[int, int]:
    return (c.bravais.lattice_system.symmetry_rank, -c.bravais.axes.n_free)

"""SVD-Index (Coelho 2003), vectorised over thousands of trial cells at once.

For one Bravais lattice, each trial starts from a random cell scaled to a trial
volume and repeats: assign every observed peak the Miller index of the nearest
reference reflection, then solve the weighted linear least-squares problem
``w·q²_obs = w·H x`` by SVD for the free reciprocal
parameters x, with Coelho's weights w = d^m · |2θ_obs − 2θ_calc| · I and the
exponent m drawn afresh from [0, 4] for each trial. Weighting by the current
2θ error pulls hardest on the peaks a trial explains worst, which is what lets
a wrong start move to another basin; the random m varies how much the
low-angle peaks dominate. A trial stops when its assignment no longer changes.
A zero shift is not refined here: with these weights it is nearly collinear
with the cell and wanders; a shift of a few hundredths of a degree barely
moves the nearest-line assignment, and the polish of the surviving trials
refines it (``CandidateEvaluator``).

All trials of a batch share one reference set, cut to the Miller indices the
batch's largest cell edge can reach (|h| ≤ q_max·a), so the work per iteration
is a few dense array operations on (trials × peaks × reflections).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from powdex.crystal import BravaisLattice, Cell, LatticeSignature, LatticeSystem, reference_miller_indices
from powdex.crystal.cell import reciprocal_coefficients, volume
from powdex.indexing.deadline import Deadline
from powdex.indexing.observations import Observations

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch

# Laue multiplicity / 2 (Friedel pairs already merged): how many symmetry-equivalent
# reflections share a line in a general position. Used for the volume estimate.
_LINE_MULTIPLICITY = {
    LatticeSystem.TRICLINIC: 1,
    LatticeSystem.MONOCLINIC: 2,
    LatticeSystem.ORTHORHOMBIC: 4,
    LatticeSystem.RHOMBOHEDRAL: 6,
    LatticeSystem.TETRAGONAL: 8,
    LatticeSystem.HEXAGONAL: 12,
    LatticeSystem.CUBIC: 24,
}

# Random trials drawn and iterated at once by ``run_random``; the trials of a stage beyond it wait their turn.
RANDOM_BLOCK = 8192
# Trials of one volume stage at most: later passes double them up to this, then repeat with new draws.
MAX_TRIALS_PER_STAGE = 262_144

# Volume ratio up to which a Bravais lattice's search goes on past a cell that leaves one line (``RandomStarts``).
ONE_LINE_SUPER_CELLS = 3.0

# Ranges of the random starting shapes (axis ratios log-uniform, angles uniform).
_MAX_AXIS_RATIO = 5.0
_MONOCLINIC_BETA = (90.0, 125.0)
_TRICLINIC_ANGLE = (60.0, 120.0)


def estimated_volume(bravais: BravaisLattice, obs: Observations, n_lines: int | None = None) -> float:
    """Conventional-cell volume at which the lattice would show ``n_lines`` lines up to the last peak.

    A primitive cell of volume V has (2π/3) q³ V reciprocal-lattice points up to q
    with Friedel pairs merged; a line of a general reflection gathers the Laue
    multiplicity of them, and a centred cell has ``points_per_cell`` times the
    volume. Missing and overlapped lines make the true cell larger, special
    reflections make it smaller: it is a scale for the search, not a bound.
    """
    n = obs.n if n_lines is None else n_lines
    q_max = np.sqrt(obs.q2[-1])
    mult = _LINE_MULTIPLICITY[bravais.lattice_system]
    return float(n * mult * bravais.points_per_cell / (2 * np.pi / 3 * q_max**3))


@dataclass
class TrialBatch:
    """Surviving trials of one batch: free parameters and how many peaks each explains."""

    x: np.ndarray
    n_matched: np.ndarray
    n_trials: int

    @staticmethod
    def joined(parts: list[TrialBatch], n_free: int) -> TrialBatch:
        if not parts:
            return TrialBatch(np.empty((0, n_free)), np.empty(0, dtype=int), 0)
        return TrialBatch(np.concatenate([p.x for p in parts]), np.concatenate([p.n_matched for p in parts]),
                          sum(p.n_trials for p in parts))


class SvdIndexSearch:
    """Random-start SVD-Index trials for one Bravais lattice."""

    def __init__(
        self,
        bravais: BravaisLattice,
        obs: Observations,
        rng: np.random.Generator,
        match_tolerance: float = 0.06,
        iterations: int = 6,
        trim: int = 1,
    ):
        self.bravais = bravais
        self.system = bravais.axes
        self.obs = obs
        self.rng = rng
        self.match_tolerance = match_tolerance
        self.iterations = iterations
        self.trim = min(trim, obs.n - bravais.axes.n_free - 1)
        ref = reference_miller_indices(bravais)
        self._ref_abs = np.abs(ref)
        self._design = self.system.design_matrix(ref)
        self._d = 1.0 / np.sqrt(obs.q2)

    # -- random starting cells -------------------------------------------------
    def random_parameters(self, n: int, volume_range: tuple[float, float]) -> np.ndarray:
        """Free reciprocal parameters of ``n`` random cells with volumes log-uniform in the range."""
        rng = self.rng
        v = np.exp(rng.uniform(np.log(volume_range[0]), np.log(volume_range[1]), n))
        ratio = lambda: np.exp(rng.uniform(-np.log(_MAX_AXIS_RATIO), np.log(_MAX_AXIS_RATIO), n))  # noqa: E731
        s = self.system
        ones = np.ones(n)
        ninety = np.full(n, 90.0)
        if s is LatticeSystem.CUBIC:
            params = np.column_stack([ones, ones, ones, ninety, ninety, ninety])
        elif s is LatticeSystem.TETRAGONAL:
            c = ratio()
            params = np.column_stack([ones, ones, c, ninety, ninety, ninety])
        elif s is LatticeSystem.HEXAGONAL:
            c = ratio()
            params = np.column_stack([ones, ones, c, ninety, ninety, np.full(n, 120.0)])
        elif s is LatticeSystem.ORTHORHOMBIC:
            params = np.column_stack([ones, ratio(), ratio(), ninety, ninety, ninety])
        elif s is LatticeSystem.MONOCLINIC:
            beta = rng.uniform(*_MONOCLINIC_BETA, n)
            params = np.column_stack([ones, ratio(), ratio(), ninety, beta, ninety])
        elif s is LatticeSystem.RHOMBOHEDRAL:
            alpha = rng.uniform(30.0, 110.0, n)
            params = np.column_stack([ones, ones, ones, alpha, alpha, alpha])
        else:
            angles = rng.uniform(*_TRICLINIC_ANGLE, (n, 3))
            params = np.column_stack([ones, ratio(), ratio(), angles])
        # Scale lengths to the drawn volume (angles fixed), then map to free parameters.
        unit_volume = volume(params)
        bad = ~np.isfinite(unit_volume) | (unit_volume <= 0)
        params[bad, 3:] = 90.0
        unit_volume = volume(params)
        params[:, :3] *= (v / unit_volume)[:, None] ** (1 / 3)
        coeffs = reciprocal_coefficients(params)
        x, *_ = np.linalg.lstsq(self.system.coefficient_map.T, coeffs.T, rcond=None)
        return x.T

    def line_starts(self, volume_range: tuple[float, float], n_peaks: int) -> np.ndarray:
        """Free parameters (starts × 1) of every cell of a one-parameter (cubic) lattice with its volume in the range
        on which one of the first ``n_peaks`` peaks lies exactly on a reflection, in ascending order.

        With q² = N x for the lattice's allowed N = h² + k² + l², these are x = q²_i / N: the starts of
        cubic indexing by hand, and every basin of the iteration in the range. A cell that leaves at most
        ``n_peaks`` − 1 of the first peaks unexplained has one of them on a line."""
        if self.system.n_free != 1:
            raise ValueError(f"{self.bravais.value} has {self.system.n_free} free parameters, not one")
        n_values = np.unique(self._design[:, 0])
        x = (self.obs.q2[:n_peaks, None] / n_values[None, :]).ravel()
        # V = x^(-3/2) for x = 1/a².
        v = x ** -1.5
        return np.unique(x[(v >= volume_range[0]) & (v <= volume_range[1])])[:, None]

    def around(self, cell: Cell, n: int, spread: float = 0.01) -> np.ndarray:
        """``n`` starting points scattered by ``spread`` (relative) around a cell in this lattice's axes."""
        x = self.system.free_reciprocal_parameters(cell)
        scale = np.abs(x[: min(3, len(x))]).mean()
        return x[None, :] + self.rng.normal(0.0, spread * scale, (n, len(x)))

    # -- the iteration ---------------------------------------------------------
    def _reference_for(self, x: np.ndarray):
        """Reference reflections reachable by any cell of the batch, with their design rows."""
        params = self.system.lattice_parameters(x)
        lengths = np.nanmax(params[:, :3], axis=0)
        # The margin lets cells grow during the iteration without losing reflections.
        limit = np.ceil(np.sqrt(self.obs.q2[-1]) * lengths * 1.4)
        keep = np.all(self._ref_abs <= limit, axis=1)
        return self._design[keep]

    def run_random(self, n: int, volume_range: tuple[float, float], deadline: Deadline | None = None,
                   max_volume: float = np.inf) -> TrialBatch:
        """``run`` from ``n`` random cells (``random_parameters``), drawn and run ``RANDOM_BLOCK`` at a time so
        that the memory of a stage does not grow with its trials, the survivors of all blocks together."""
        parts = []
        for size in np.diff(np.r_[np.arange(0, n, RANDOM_BLOCK), n]):
            if deadline is not None and deadline.expired():
                break
            parts.append(self.run(self.random_parameters(int(size), volume_range), deadline=deadline,
                                  max_volume=max_volume))
        return TrialBatch.joined(parts, self.system.n_free)

    def run(
        self, x: np.ndarray, chunk_size: int = 256, deadline: Deadline | None = None, max_volume: float = np.inf
    ) -> TrialBatch:
        """Iterate SVD-Index from starting parameters ``x`` (trials × free); return the surviving trials.

        Trials are processed in chunks of similar shape, so that each chunk's
        reference cut (|h| ≤ q_max·a, …) stays tight, and large enough that a stage of a two-parameter lattice
        (140 trials) is one chunk: each step's fixed cost in array calls is paid once; chunks not started by
        ``deadline`` are skipped. Trials whose
        cell grows past ``max_volume`` are dropped: a large enough cell indexes
        anything, and runaway cells would swell every chunk's reflection list.
        """
        if len(x) == 0:
            return TrialBatch.joined([], x.shape[1])
        params = self.system.lattice_parameters(x)
        order = np.lexsort(np.round(np.log(params[:, :3]), 1).T[::-1])
        exponent = self.rng.uniform(0.0, 4.0, len(x))
        parts = []
        for chunk in np.array_split(order, max(1, int(np.ceil(len(x) / chunk_size)))):
            if deadline is not None and deadline.expired():
                break
            survivors, matched = self._iterate(x[chunk].copy(), exponent[chunk], max_volume)
            parts.append(TrialBatch(survivors, matched, len(chunk)))
        return TrialBatch.joined(parts, x.shape[1])

    def _iterate(self, x: np.ndarray, exponent: np.ndarray, max_volume: float) -> tuple[np.ndarray, np.ndarray]:
        obs = self.obs
        n_trials = x.shape[0]
        full_design = self._reference_for(x)
        base_weight = self._d[None, :] ** exponent[:, None] * obs.intensity[None, :]
        alive = np.ones(n_trials, dtype=bool)
        previous = np.full((n_trials, obs.n), -1)
        stable = np.zeros(n_trials, dtype=bool)
        scale = 1.0 / obs.dq2_dtt  # q² residual → 2θ degrees
        for iteration in range(self.iterations):
            idx = np.flatnonzero(alive & ~stable)
            if len(idx) == 0:
                break
            if iteration % 4 == 0:
                # Reflections within twice the observed q² range of some trial; cells
                # move little between refreshes, so nothing that matters is dropped.
                design = full_design[_reachable(x[idx], full_design, 2 * obs.q2[-1])]
                previous[:] = -1  # row numbers change with the active set
            q2_true = obs.q2[None, :]
            q2_low, low_rows = self._lowest_reflections(x[idx], design)
            # Nearest reference line per observed peak.
            nearest = _nearest(obs.q2, q2_low)
            assign = np.take_along_axis(low_rows, nearest, axis=1)  # (t, n) rows of design
            q2_calc = np.take_along_axis(q2_low, nearest, axis=1)
            dtt = np.abs(q2_true - q2_calc) * scale[None, :]
            # Coelho's weight; the floor keeps perfectly fitted peaks in the fit, the
            # cap stops an impurity line (always far off) from steering every trial.
            w = base_weight[idx] * np.clip(dtt, 0.1 * self.match_tolerance, 5 * self.match_tolerance)
            if self.trim:
                # Trimmed least squares: the worst-fitting peaks (an impurity line, a
                # line the trial cannot reach yet) sit out this iteration.
                worst = np.argpartition(-dtt, self.trim - 1, axis=1)[:, : self.trim]
                np.put_along_axis(w, worst, 0.0, axis=1)
            new_x = _batched_lstsq(design[assign] * w[:, :, None], obs.q2[None, :] * w)
            ok = cell_volumes(self.system, new_x) <= max_volume
            x[idx[ok]] = new_x[ok]
            alive[idx[~ok]] = False
            stable[idx] = np.all(assign == previous[idx], axis=1)
            previous[idx] = assign
        x = x[alive]
        return x, self._count_matched(x, full_design)

    def _lowest_reflections(self, x: np.ndarray, design: np.ndarray):
        """q² and design rows of each trial's reflections up to just past the last peak, in ascending q².

        Only these can be nearest to a peak; keeping them (np.partition, linear
        time) instead of the whole reference set keeps the sort and the search small.
        """
        q2 = x @ design.T  # (t, R)
        limit = self.obs.q2[-1] * 1.1
        k = int(np.clip(np.max(np.sum(q2 <= limit, axis=1)) + 1, 2, q2.shape[1]))
        if k < q2.shape[1]:
            rows = np.argpartition(q2, k - 1, axis=1)[:, :k]
            q2 = np.take_along_axis(q2, rows, axis=1)
        else:
            rows = np.broadcast_to(np.arange(q2.shape[1]), q2.shape)
        order = np.argsort(q2, axis=1)
        return np.take_along_axis(q2, order, axis=1), np.take_along_axis(rows, order, axis=1)

    def _count_matched(self, x: np.ndarray, design: np.ndarray) -> np.ndarray:
        obs = self.obs
        if len(x) == 0:
            return np.zeros(0, dtype=int)
        # Reflections past 1.1 times the last peak's q² are degrees from every peak: they match none.
        q2_ref, _ = self._lowest_reflections(x, design[_reachable(x, design, 1.1 * obs.q2[-1])])
        dist = np.abs(obs.q2[None, :] - np.take_along_axis(q2_ref, _nearest(obs.q2, q2_ref), axis=1))
        return np.sum(dist / obs.dq2_dtt[None, :] <= self.match_tolerance, axis=1)


def cell_volumes(system: LatticeSystem, x: np.ndarray) -> np.ndarray:
    """Cell volumes (trials) of free reciprocal parameters ``x`` (trials × free) of ``system``; NaN where they
    describe no lattice.

    V = 1/√det G*, with the reciprocal metric G* positive definite by Sylvester's criterion, in closed form: the
    iteration asks after every step, and the lattice parameters (an inverse and two determinants per trial) cost
    a tenth of a search."""
    a, b, c, d, e, f = (system.coefficients(x) * np.array([1, 1, 1, 0.5, 0.5, 0.5])).T
    det = a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)
    ok = (a > 0) & (a * b - d * d > 0) & (det > 0)
    return np.where(ok, 1.0 / np.sqrt(np.where(ok, det, 1.0)), np.nan)


def _reachable(x: np.ndarray, design: np.ndarray, q2_limit: float) -> np.ndarray:
    """Rows of ``design`` whose q² (``design @ x_t``) is at most ``q2_limit`` for some trial x_t.

    Most rows of a batch's reference box lie past the limit for every trial: a lower bound of each row's q²
    over the batch, from the smallest (largest, for a negative design entry) value of each free parameter,
    sets them aside for the price of one trial before the exact test."""
    lower = np.clip(design, 0.0, None) @ x.min(axis=0) + np.clip(design, None, 0.0) @ x.max(axis=0)
    rows = np.flatnonzero(lower <= q2_limit)
    return rows[np.any(x @ design[rows].T <= q2_limit, axis=0)]


def _nearest(q2_obs: np.ndarray, q2_lines: np.ndarray) -> np.ndarray:
    """Column of ``q2_lines`` (trials, lines; each row ascending) nearest to each observed q², the lower of two at
    equal distance.

    One binary search for all trials at once: each row is shifted past the row before (by more than the span of
    all values), so that the rows laid end to end stay ascending and each peak, shifted as its trial's row, falls
    among that row's lines. A search of the (trials × peaks × lines) distances took a third of a random stage."""
    n_trials, n_lines = q2_lines.shape
    low = min(float(q2_lines[:, 0].min()), float(q2_obs.min()))
    span = max(float(q2_lines[:, -1].max()), float(q2_obs.max())) - low + 1.0
    shift = (np.arange(n_trials) * span - low)[:, None]
    at = np.searchsorted((q2_lines + shift).ravel(), (q2_obs[None, :] + shift).ravel()).reshape(n_trials, -1)
    at = np.clip(at - np.arange(n_trials)[:, None] * n_lines, 1, n_lines - 1)
    below = np.take_along_axis(q2_lines, at - 1, axis=1)
    above = np.take_along_axis(q2_lines, at, axis=1)
    return np.where(q2_obs[None, :] - below <= above - q2_obs[None, :], at - 1, at)


def _batched_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least-squares solutions of a stack of small systems by SVD, small singular values cut."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    cutoff = s[:, :1] * 1e-10
    inv_s = np.where(s > cutoff, 1.0 / np.where(s > 0, s, 1.0), 0.0)
    utb = np.einsum("tnk,tn->tk", u, b)
    return np.einsum("tkj,tk->tj", vt, utb * inv_s)


def volume_stages(bravais: BravaisLattice, obs: Observations) -> np.ndarray:
    """Trial volumes of the search of one lattice: from below the estimated volume up past four times it."""
    return 0.3 * estimated_volume(bravais, obs) * 1.3 ** np.arange(11)


def polished_trials(search: IndexingSearch, bravais: BravaisLattice, batch: TrialBatch, v_lo: float,
                    v_hi: float) -> list[Candidate]:
    """The distinct surviving trials of a stage that explain enough peaks, polished and scored (at most
    ``polish_per_stage``, those explaining most peaks first, the smaller cell first among equals)."""
    config = search.config
    need = search.obs.n - search.max_unindexed_for(bravais)
    # Trials that drifted far from the stage's volumes belong to another stage;
    # large cells index anything, so letting them in would end the search early.
    v = cell_volumes(bravais.axes, batch.x)
    good = (batch.n_matched >= need) & (v >= 0.5 * v_lo) & (v <= 2 * v_hi)
    order = np.lexsort((v[good], -batch.n_matched[good]))
    out = []
    for x in _distinct(batch.x[good][order])[: config.polish_per_stage]:
        if search.deadline.expired():
            break
        cand = search.polished(bravais, x)
        if cand is not None:
            out.append(cand)
    return out


def from_starts(search: IndexingSearch, bravais: BravaisLattice, starts: np.ndarray) -> list[Candidate]:
    """SVD-Index from given starting points of ``bravais`` (a start method's cells) over the whole range of
    trial volumes; the survivors polished and scored, the trials counted."""
    stages = volume_stages(bravais, search.obs)
    batch = search.svd_index(bravais).run(starts, deadline=search.deadline, max_volume=2 * stages[-1])
    found = polished_trials(search, bravais, batch, stages[0], stages[-1])
    search.count_trials(bravais.value, batch.n_trials, max((c.score for c in found), default=-np.inf))
    return found


def _distinct(x: np.ndarray, rtol: float = 1e-4) -> list[np.ndarray]:
    """Trials that converged to the same parameters, once each, in their original order."""
    if len(x) == 0:
        return []
    key = np.round(np.log(np.abs(x) + 1e-12) / rtol).astype(np.int64) * np.sign(x).astype(np.int64)
    _, first = np.unique(key, axis=0, return_index=True)
    return [x[i] for i in sorted(first)]


class RandomStarts:
    """The search method ``svd-index``: SVD-Index from random cells, one Bravais lattice of the system at a time.

    Batches of random trials (for a cubic lattice, every cell on which one of the first peaks lies on a line) run
    at growing trial volumes (``volume_stages``);
    converged trials that explain enough peaks are polished and scored, near
    misses are restarted locally, and the search of a lattice ends one stage past
    the first full solution, or once three times the volume of a cell that leaves
    only one line is searched. A later pass runs twice the trials per stage (up to
    ``MAX_TRIALS_PER_STAGE``) on the lattice's continued stream.
    """

    def search(self, search: IndexingSearch, system: LatticeSystem, search_pass: int) -> list[Candidate]:
        out: list[Candidate] = []
        for bravais in BravaisLattice.of_system(system):
            out += self._lattice(search, bravais, search_pass)
            if search.ends_system(out):
                break
        return out

    def _lattice(self, search: IndexingSearch, bravais: BravaisLattice, search_pass: int) -> list[Candidate]:
        config, deadline = search.config, search.deadline
        svd = search.svd_index(bravais)
        stages = volume_stages(bravais, search.obs)
        # Doubling stops once the batch is at its cap (at the latest after log₂ of the cap, batch_size ≥ 1): a float
        # 2**search_pass would overflow in a long run of quick passes.
        doublings = min(search_pass, MAX_TRIALS_PER_STAGE.bit_length())
        batch_size = min(int(config.batch_size * 2**doublings * 2.2 ** (bravais.axes.n_free - 1)),
                         MAX_TRIALS_PER_STAGE)
        candidates: list[Candidate] = []
        # Lattices restarted around already: a near miss that every stage polishes again (the true cell beside
        # an impurity line) has had its basin searched; it was 20 of the 23 restarts of a cP impurity pattern.
        restarted: list[LatticeSignature] = []
        first_solution_stage = None
        line_trials = None
        if bravais.axes.n_free == 1:
            # A cubic lattice starts from every cell on which one of the first max_unindexed + 1 peaks lies on a
            # line (``line_starts``): any cell the polish keeps explains one of those peaks, so these reach every
            # basin that random cells reach, for a few dozen trials instead of 64 per stage. They run at once (the
            # fixed cost of ten stages of the three empty cubic lattices was a fifth of a tetragonal pattern's
            # search), and each stage takes those that converged within its volumes. Later passes repeat them with
            # new weight exponents.
            line_trials = svd.run(svd.line_starts((stages[0], stages[-1]), search.max_unindexed_for(bravais) + 1),
                                  deadline=deadline, max_volume=2 * stages[-1])
            line_stage = np.searchsorted(stages[1:-1], cell_volumes(bravais.axes, line_trials.x), side="right")
        for stage, (v_lo, v_hi) in enumerate(zip(stages[:-1], stages[1:])):
            if deadline.expired():
                break
            if line_trials is not None:
                within = line_stage == stage
                batch = TrialBatch(line_trials.x[within], line_trials.n_matched[within],
                                   line_trials.n_trials if stage == 0 else 0)
            else:
                batch = svd.run_random(batch_size, (v_lo, v_hi), deadline=deadline, max_volume=2 * v_hi)
            trials = batch.n_trials
            found = polished_trials(search, bravais, batch, v_lo, v_hi)
            # Near misses (a line or two unexplained) often sit a percent from the true
            # cell in a basin the global trials rarely hit: restart around them.
            near = sorted((c for c in found if c.figures.n_unindexed > 0), key=lambda c: -c.score)
            for cand in near[: config.local_restarts]:
                if deadline.expired():
                    break
                if any(cand.lattice_signature.matches(done) for done in restarted):
                    continue
                restarted.append(cand.lattice_signature)
                local = svd.run(svd.around(cand.cell, config.local_trials), deadline=deadline, max_volume=2 * v_hi)
                trials += local.n_trials
                found += polished_trials(search, bravais, local, v_lo, v_hi)
            candidates += found
            search.count_trials(bravais.value, trials, max((c.score for c in candidates), default=-np.inf))
            # A solution explains every line: one that leaves a line can be a sub-cell of the truth several
            # stages further (tungsten's cI lines as cP a/√2, all but one), which one more stage would not reach.
            if first_solution_stage is None and any(
                c.figures.m >= config.solution_m and c.figures.n_unindexed == 0 for c in found
            ):
                first_solution_stage = stage
            # One stage past the first full solution catches a larger cell that explains more.
            if first_solution_stage is not None and stage >= first_solution_stage + 1:
                break
            # A cell that leaves one line (beside an impurity line) but has the M_N and score of a complete
            # indexing ends the ladder once the volumes of its super-cells up to ONE_LINE_SUPER_CELLS times its own
            # are searched: only a larger cell of this lattice can index that line too (a doubled or tripled
            # axis, or a cI lattice's cP cell at 2.8 times a cP sub-cell that leaves its (321) line).
            short = [c.cell.volume for c in candidates if c.figures.n_unindexed == 1 and c.figures.m >= config.stop_m
                     and c.score >= config.stop_score_per_peak * len(c.indexed)]
            if short and v_hi >= ONE_LINE_SUPER_CELLS * min(short):
                break
        return candidates

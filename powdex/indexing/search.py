"""One indexing search: candidates per lattice system, sub-cell checks, then ranking.

``IndexingSearch`` holds what every part of a search shares: the observations,
the scoring model, the settings, one random stream per Bravais lattice (and one
seed per lattice system for the learned chains), the deadline, the polish and
score of each Bravais lattice (``CandidateEvaluator``, made once), the executor
and results store of the learned chains, and the candidates found so far. The
ways of proposing cells are search methods (``powdex.indexing.methods``):
SVD-Index (Coelho 2003) from random starts at growing trial volumes, SVD-Index
from the cells the shipped regression models predict, and the learned
pipeline's Metropolis chains; ``IndexingConfig.method`` picks them.

Lattice systems are searched from the highest symmetry down. After each, the
best candidates are checked for sub-cells, when centred and leaving lines for the primitive cell on
their axes (``decentred``; a pseudo-centred structure's true cell, listed second by ``decentred_second``, or
first by ``decentred_first`` when the lines only it indexes cannot be impurity lines on them by chance), and,
when they leave two lines or more, for a
slightly distorted lattice of lower symmetry (``competing_distortions``), and the search stops as soon as the
best candidate is decisive (``decisive``: M_N ≥ ``stop_m`` and a convincing
score that leaves at most one line unexplained), its own lattice system is
searched or it explains every line, and every lattice system whose lattices are
special cases of its own is searched (a decisive tP sub-cell of a cP super-cell
stops the search after cubic): lower symmetries cannot beat it. A cell that
leaves one line (an impurity line) with a lower score stops it too when it leads
every other lattice clearly, once its own system is searched. A cell that
predicts many more lines than are seen (a super-cell, or a coincidence lattice
whose lines include all of the true cell's) stops it only once every system whose
cells have no more free parameters than its own is searched too
(``rivals_searched``). Each stops only
once local searches around the cell's least distortions
(``powdex.indexing.distortions``) found no lower-symmetry cell that indexes the
lines better (``settled``).
Ahead of the orthorhombic system, the Ito zone starts of the
monoclinic and triclinic lattices run (``powdex.indexing.zone_starts``): a cell of
low metric symmetry they find that is decisive, or clearly ahead of every other,
ends the search there (``settles_ahead``), sparing the random starts of the
systems between, which run every volume stage when they hold no cell.
Each method's and each sub-cell check's time is logged at DEBUG level. A pass over the lattice systems whose best cell does not solve
the list (``solves``: M_N ≥ ``solution_m``, leaving at most two lines or likely by its calibrated probability) is
followed by another (SVD-Index with twice the trials per
volume stage, the chains with new cells), until the deadline, each such pass dropping one assumption that may be
why (``widen_assumptions``: no zero offset, few lines of another phase, a small zero offset): one pass of 64
trials per stage and free parameter misses about half the monoclinic patterns of
large organic-like cells, which 256 or 1024 find (``benchmarks/learned_pipeline.py``).

Determinism: every random choice flows from ``seed`` (one stream per Bravais
lattice, so the result for a lattice does not depend on which others were
searched), so the same seed gives the same ranking whenever the search finishes
within its time limit; a search cut short by the limit depends on the machine.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from powdex.crystal import (
    BravaisLattice,
    ConventionalCell,
    LatticeSystem,
    conventional_cell,
    niggli_reduce,
    sublattice_bases,
)
from powdex.crystal.miller import MAX_INDEX
from powdex.indexing.candidate import Candidate, CandidateEvaluator, ScoringModel, short_vector_penalty
from powdex.indexing.confidence import candidate_probabilities, same_lines, shared_in_odds
from powdex.indexing.config import (
    SEARCH_ORDER,
    IndexingConfig,
    peaks_needed,
    settings_fingerprint,
)
from powdex.indexing.deadline import Deadline
from powdex.indexing.distortions import distorted_cells
from powdex.indexing.extinction import suggest_space_groups
from powdex.indexing.formula import formula_units_text
from powdex.indexing.methods import methods_of
from powdex.indexing.observations import Observations
from powdex.indexing.result import IndexingResult
from powdex.indexing.svd_index import SvdIndexSearch
from powdex.indexing.zone_starts import WITH_ZONE_STARTS, ZoneStarts, settles_ahead
from powdex.instrument import Instrument
from powdex.patterns.radiation import tube_of_wavelength
from powdex.peaks import CU_KA1, PeakList, q2_to_two_theta, two_theta_to_q2

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, float], None]
"""Called as trials are run with (lattice or system name, its trials so far, best score so far)."""

# A pass whose best cell reaches ``IndexingConfig.solution_m`` ends the passes only when that cell leaves at most this
# many lines: a small low-symmetry cell fits most lines of a large cell's list at a fair M_N (bethanechol chloride,
# Bergmann et al. 2004, set Bb: a 353 Å³ triclinic cell, M20 19.4, leaving 4 of 20 lines, ended the search after
# 13 s of a 60 s limit; the published 1037 Å³ monoclinic cell indexes all 20).
SOLVED_UNINDEXED = 2
# ...and whose calibrated probability (``powdex.indexing.confidence``) is at least this: with a zero shift, set Bb's
# search ended after 17 s on a wrong 829 Å³ mP cell of M20 11.8 leaving two lines, probability 0.016. Not higher:
# near-copies of one true lattice split its probability (a synthetic mC cell, M20 35, all lines: 0.498).
SOLVED_PROBABILITY = 0.1
# A cell this probable ends the passes whatever it leaves: a second phase's lines (La₁.₇₅Sr₀.₂₅CuO₄ beside La₂O₃,
# tests/data/patterns: the true tI cell leaves 4 lines with probability 0.93) are no reason to search on.
LIKELY_PROBABILITY = 0.5
# Lines beyond the free parameters (and zero shift) that a cell must explain before it is worth reporting
# as decided: with n_free + 1 lines any two positions fit a cubic cell, M_N is meaningless.
CHECK_LINES = 2
# With another phase's lines allowed for (``IndexingSearch.widen_assumptions``), a cell must index this many times the
# lines its free parameters and zero shift need: fitted to barely more lines than it has parameters, a cell of low
# symmetry indexes half the lines of nearly any list.
SECOND_PHASE_LINES_PER_PARAMETER = 2
# Lines left by a cell that solves the list from which they are taken for another phase's
# (``IndexingSearch.widen_assumptions``); one is most often an impurity line.
ANOTHER_PHASE_LINES = 2
# Largest Miller-index grid (points) a sub-cell check enumerates: a candidate with a huge reduced cell
# (tens of thousands of Å³ from lines at low angle) is not worth gigabytes.
MAX_SUBCELL_GRID = 2_000_000
# Candidates, best first, whose extinction classes are reported.
SPACE_GROUP_CANDIDATES = 3
# Two candidates are descriptions of one lattice within this (relative): tighter than the lattice comparison's
# default, since a 0.2 % split of two axes is plain at high angle.
SAME_LATTICE_RTOL = 5e-4
# A leader that leaves two lines or more is searched for least distortions in the sub-cell loop from this score
# per peak (jadarite's pseudo-orthorhombic description: -0.4).
DISTORTION_SCORE_PER_PEAK = -1.0
# A cell whose predicted lines are missed more often than this binomial tail probability allows under the detection
# model is a super-cell or a coincidence lattice until the systems that could hold a better cell are searched
# (``rivals_searched``).
LINES_UNSEEN_SIGNIFICANCE = 0.05
# A centred leader's left lines that its primitive cell indexes put the primitive cell first (``decentred_first``)
# when impurity lines would fall that close to the reflections the centring forbids with at most this probability:
# a centred structure whose list holds impurity lines then loses its place to the primitive cell in at most 1 % of such
# lists. Stricter than ``LINES_UNSEEN_SIGNIFICANCE``, which only delays a stop: this changes the answer. Rutile's
# I-centred sub-cell leaves 111 and 210, on 22 forbidden reflections over 96° of 2θ: 0.002; the pseudo-centred gold(I)
# complex's 20 picks (tests/patterns) leave two on 30 forbidden lines over 27°: 0.04, which positions cannot tell from
# chance.
DECENTRED_CHANCE_SIGNIFICANCE = 0.01
# The 2θ error, resolution and zero-shift windows of ``IndexingConfig`` are a laboratory diffractometer's. A list
# without widths at a stated wavelength shorter than Cu Kα1 that no X-ray tube emits (a synchrotron's) has them
# scaled by λ / λ(Cu Kα1): its lines are the same d-spacings at angles smaller by about that factor, so the same
# precision in d. At 0.02° the synchrotron list of bethanechol chloride (Bergmann et al. 2004, set F, λ 0.6995 Å)
# let false cells fit: its ±0.25° zero-shift search ended on a 43 Å hR cell after 60 s; scaled (0.009°, ±0.11°)
# it finds the published cell. Its positions are more precise still, which ``at_list_precision`` measures. The
# factor stops at ``SMALLEST_ERROR_SCALE`` (0.005° 2θ): high-energy beamlines (λ 0.1–0.3 Å) measure with area
# detectors whose lines, 0.02–0.05° wide, give positions no better than that.
SMALLEST_ERROR_SCALE = 0.25
# A peak list without widths is scored first at ``IndexingConfig.two_theta_error`` (a laboratory's 0.02°). When the
# best cell's lines then lie this many times closer than that (σ from their median |Δ2θ|), the list is more precise
# than assumed (synchrotron positions, 0.001–0.005°): the best candidates are polished and scored again at its own
# precision, reflections closer than ``RESOLUTION_PER_LIST_ERROR`` σ forming one line (``at_list_precision``).
# At 0.06° resolution the synchrotron list of bethanechol chloride (Bergmann et al. 2004, set F) had lines averaged
# over neighbouring reflections: M20 21 against the published 197; at its own precision, 174.
PRECISE_LIST_FACTOR = 4.0
RESOLUTION_PER_LIST_ERROR = 3.0
# ° 2θ: no list is taken as more precise than this (positions are rarely given to better than 0.001°).
SMALLEST_LIST_ERROR = 5e-4


def index(
    peaks: PeakList, *, config: IndexingConfig | None = None, executor=None, store=None,
    progress: ProgressCallback | None = None, instrument: Instrument | None = None,
) -> IndexingResult:
    """Find and rank the unit cells that index ``peaks``.

    ``executor`` and ``store`` (``powdex.optim``) run and keep the learned method's chains: in process and
    unstored by default. ``progress`` is called as trials are run (see ``ProgressCallback``). ``instrument``
    (calibrated) corrects the positions and weights the peaks (``Observations.from_peaks``). Peaks picked from a
    measured pattern that hold a certified standard's lines (``PeakList.standard_set_aside``) are searched again
    without them when the best cell is not decisive, within the same time limit
    (``powdex.indexing.internal_standard``)."""
    if peaks.standard_set_aside is not None:
        from powdex.indexing.internal_standard import index_with_standard_set_aside  # it imports this module

        return index_with_standard_set_aside(peaks, config=config, executor=executor, store=store, progress=progress,
                                             instrument=instrument)
    return IndexingSearch(peaks, config, executor=executor, store=store, progress=progress,
                          instrument=instrument).run()


class IndexingSearch:
    """The state of one search (see the module docstring); ``run`` once. The time limit counts from when the
    search is made."""

    def __init__(self, peaks: PeakList, config: IndexingConfig | None = None, *, executor=None, store=None,
                 progress: ProgressCallback | None = None, instrument: Instrument | None = None):
        self.config = config = config or IndexingConfig()
        self.peaks = peaks
        self.obs = Observations.from_peaks(peaks, instrument)
        self.error_scale = laboratory_error_scale(peaks, self.obs)
        self.model = self._scoring_model(config.zero_shift_window)
        self.executor = executor
        self.store = store
        self._progress = progress
        asked = [s for s in SEARCH_ORDER if s in config.systems]
        # What the search assumes now (``widen_assumptions`` drops these one at a time): a zero shift searched or
        # not, and the lines a candidate may leave unexplained.
        self.zero_shift = bool(config.zero_shift)
        self.max_unindexed = config.max_unindexed
        self._widened: list[str] = []
        self.systems = [s for s in asked if peaks.n >= peaks_needed(s, self.zero_shift)]
        if not self.systems:
            fewest = min(asked, key=lambda s: peaks_needed(s, self.zero_shift))
            shift = " with a zero shift" if self.zero_shift else ""
            peaks.require(peaks_needed(fewest, self.zero_shift), f"the {fewest.value} lattice system{shift}")
        self.skipped = tuple(s for s in asked if s not in self.systems)
        seeds = np.random.SeedSequence(config.seed).spawn(len(BravaisLattice) + len(LatticeSystem))
        self._lattice_seeds = dict(zip(BravaisLattice, seeds))
        self._system_seeds = dict(zip(LatticeSystem, seeds[len(BravaisLattice):]))
        self._streams: dict[BravaisLattice, np.random.Generator] = {}
        self._evaluators: dict[tuple[BravaisLattice, int], CandidateEvaluator] = {}
        self._svd: dict[BravaisLattice, SvdIndexSearch] = {}
        self._polished_cells: dict[tuple, Candidate | None] = {}
        self._conventional_cells: dict[tuple, ConventionalCell | None] = {}
        self._trials_of: dict[str, int] = {}
        # Made once, here: the observations above cost nothing next to the search.
        self.deadline = Deadline.after(config.time_limit)
        self.found: list[Candidate] = []
        self.trials = 0
        # Cells refused for a vector under min_length outside the evaluators, and by those of an earlier window.
        self._rejected_short = 0
        # Candidates (by id) whose least distortions have been searched (``distorted_cells``).
        self._distortions_checked: set[int] = set()
        # The best candidate's primitive cell listed second for a whole-pattern fit to decide (``decentred_second``),
        # and the probability that the lines only it indexes fell on its forbidden reflections by chance.
        self._decentred_listed: Candidate | None = None
        self._decentred_chance: float | None = None
        # What ``at_list_precision`` did, for the notes.
        self._list_precision_note: str | None = None
        # Why the search ended before the last lattice system, recorded in the result's details.
        self._stopped_because: str | None = None

    def _scoring_model(self, zero_shift_window: float) -> ScoringModel:
        """The scoring model with zero shifts searched within ±``zero_shift_window`` (a laboratory's ° 2θ)."""
        config, scale = self.config, self.error_scale
        return ScoringModel(two_theta_error=self.two_theta_error, resolution=ScoringModel.resolution * scale,
                            impurity_fraction=config.impurity_fraction,
                            detection_probability=config.detection_probability, min_length=config.min_length,
                            short_length=config.short_length, zero_shift_window=zero_shift_window * scale,
                            # The prior's width, calibrated for the narrow window, grows with the window.
                            zero_shift_range=ScoringModel.zero_shift_range * zero_shift_window
                            / config.zero_shift_window * scale).for_peak_widths(self.obs)

    @property
    def two_theta_error(self) -> float:
        """° 2θ: the position error assumed of a peak without a measured width, at this list's wavelength."""
        return self.config.two_theta_error * self.error_scale

    @property
    def zero_shift_window(self) -> float:
        """± ° 2θ within which zero shifts are searched now."""
        return self.model.zero_shift_window

    @property
    def zero_shift_widened(self) -> bool:
        """Whether zero shifts are searched over ``wide_zero_shift_window`` now."""
        return self.zero_shift_window > self.config.zero_shift_window * self.error_scale

    @property
    def assumptions(self) -> tuple[bool, float, int]:
        """What ``widen_assumptions`` changes: whether a zero shift is searched, within which window, and the lines a
        candidate may leave unexplained."""
        return self.zero_shift, self.zero_shift_window, self.max_unindexed

    def widen_assumptions(self, search_pass: int, ranked: list[Candidate], solved: bool) -> bool:
        """After pass ``search_pass`` (``ranked``: the candidates so far, whose best ``solved`` the list or not:
        ``solves``), drop the first assumption left that may be why no cell solves the list; False if none is
        left, or the best cell solves it.

        In this order, each once: no zero offset (``IndexingConfig.zero_shift`` None: zero shifts are searched
        within ``zero_shift_window``; a neutron pattern of lead sulfate 0.19° off is found so, and nothing without);
        at most ``max_unindexed`` lines of another phase (``second_phase_share`` of the lines: rutile's 11 among
        the first 20 lines of a rutile–anatase mixture); a zero offset within the narrow window
        (``widen_zero_shift_window``). A best cell that solves the list yet leaves ``ANOTHER_PHASE_LINES`` or more
        has its lines suspected at once, so that the other phase's lines are allowed for in one more pass: in a
        mixture a small low-symmetry cell or a large super-cell fits most lines of both phases (a triclinic cell of
        62 Å³ leaving 2 of 20, probability 0.87, where the major phase's cF cell leaves 8: probability 0.99 once
        found). What is dropped is said in the notes. Evaluators and SVD-Index searches are made anew (the random
        streams go on); the candidates found so far stay."""
        config, n = self.config, self.obs.n
        may_allow_another_phase = int(config.second_phase_share * n) > self.max_unindexed
        if solved:
            left = ranked[0].figures.n_unindexed
            if left < ANOTHER_PHASE_LINES or not may_allow_another_phase:
                return False
            found = f"the best cell solved the list leaving {left} lines in pass {search_pass + 1}"
            why = self._allow_another_phase()
        else:
            found = f"no cell solved the list in pass {search_pass + 1}"
            if config.zero_shift is None and not self.zero_shift and all(
                    n >= peaks_needed(s, True) for s in self.systems):
                self.zero_shift = True
                why = f"zero shifts searched within ±{self.zero_shift_window:g}° 2θ"
            elif may_allow_another_phase:
                why = self._allow_another_phase()
            elif self.widen_zero_shift_window():
                why = f"zero shifts searched within ±{self.zero_shift_window:g}° 2θ"
            else:
                return False
        self._widened.append(f"{found}: from pass {search_pass + 2}, {why}")
        logger.debug("%s: %s", self.obs.source, self._widened[-1])
        self._rejected_short += self._count_rejected_short()
        self._use_model(self.model)
        self._svd.clear()
        return True

    def _allow_another_phase(self) -> str:
        """Let candidates leave ``second_phase_share`` of the lines (``max_unindexed_for``); what that is, for the
        notes."""
        config, n = self.config, self.obs.n
        self.max_unindexed = int(config.second_phase_share * n)
        return (f"a candidate may leave {self.max_unindexed} of the {n} lines unexplained (another phase's lines: a "
                f"mixture or a partial transformation), not {config.max_unindexed}, as long as it indexes "
                f"{SECOND_PHASE_LINES_PER_PARAMETER} times the lines its parameters need")

    def widen_zero_shift_window(self) -> bool:
        """Search zero shifts over ``wide_zero_shift_window`` from now on (``widen_assumptions`` makes the
        evaluators and searches anew); False if zero shifts are not searched or the window is not wider."""
        config = self.config
        if not self.zero_shift or self.zero_shift_widened or config.wide_zero_shift_window <= config.zero_shift_window:
            return False
        self.model = self._scoring_model(config.wide_zero_shift_window)
        return True

    def _use_model(self, model: ScoringModel) -> None:
        """Score with ``model`` from now on: the polishes and scores made with another are dropped."""
        self.model = model
        self._evaluators.clear()
        self._polished_cells.clear()

    def _count_rejected_short(self) -> int:
        return sum(e.rejected_short for e in self._evaluators.values())

    # -- what the search methods share ----------------------------------------
    def stream(self, bravais: BravaisLattice) -> np.random.Generator:
        """The random stream of one Bravais lattice, continued across passes and methods."""
        if bravais not in self._streams:
            self._streams[bravais] = np.random.default_rng(self._lattice_seeds[bravais])
        return self._streams[bravais]

    def system_seed(self, system: LatticeSystem, search_pass: int) -> np.random.SeedSequence:
        """A lattice system's seed for pass ``search_pass``: a later pass gets a new child of it."""
        seed = self._system_seeds[system]
        return seed if search_pass == 0 else seed.spawn(1)[0]

    def max_unindexed_for(self, bravais: BravaisLattice) -> int:
        """Lines a candidate of ``bravais`` may leave unexplained now: ``max_unindexed``; with another phase's lines
        allowed for, no more than leave it ``SECOND_PHASE_LINES_PER_PARAMETER`` times the lines it needs (for 20
        lines: 9 for a tetragonal or orthorhombic cell, 8 for a monoclinic one, a triclinic one's 4 as before)."""
        if self.max_unindexed <= self.config.max_unindexed:
            return self.max_unindexed
        needed = SECOND_PHASE_LINES_PER_PARAMETER * peaks_needed(bravais.lattice_system, self.zero_shift)
        return max(self.config.max_unindexed, min(self.max_unindexed, self.obs.n - needed))

    def evaluator(self, bravais: BravaisLattice, max_index: int = MAX_INDEX) -> CandidateEvaluator:
        """The polish and score of ``bravais`` over Miller indices up to ``max_index``, made once."""
        key = (bravais, max_index)
        if key not in self._evaluators:
            self._evaluators[key] = CandidateEvaluator(bravais, self.obs, self.model, self.zero_shift,
                                                      max_index, self.max_unindexed_for(bravais))
        return self._evaluators[key]

    def _max_index_for(self, cell) -> int:
        """Miller indices that reach a little past the observed range for a cell like ``cell``, in steps of 4
        (few evaluators): a sub-cell or a chain's cell is polished near where it is, and the full reference
        set of a lattice costs tens of milliseconds to build, the polish of a small cell a fraction of that."""
        q_limit = np.sqrt(float(two_theta_to_q2(min(self.obs.two_theta[-1] + 1.5, 179.0), self.obs.wavelength)))
        needed = int(np.ceil(1.25 * q_limit * float(np.max(cell.parameters[:3])))) + 1
        return int(min(MAX_INDEX, 4 * int(np.ceil(needed / 4))))

    def svd_index(self, bravais: BravaisLattice) -> SvdIndexSearch:
        """SVD-Index trials of one Bravais lattice on its stream."""
        if bravais not in self._svd:
            # An unrefined zero shift adds to the position errors until the polish (the cell takes up part of it).
            tolerance = 3 * self.two_theta_error + (0.3 * self.zero_shift_window if self.zero_shift else 0.0)
            self._svd[bravais] = SvdIndexSearch(bravais, self.obs, self.stream(bravais), match_tolerance=tolerance)
        return self._svd[bravais]

    def polished(self, bravais: BravaisLattice, x: np.ndarray, zero_shift: float = 0.0) -> Candidate | None:
        """The polished and scored candidate from free parameters ``x`` of ``bravais``'s conventional axes;
        None if the polish fails or leaves more than ``max_unindexed`` lines (the evaluator's check)."""
        return self.evaluator(bravais).evaluate(x, zero_shift)

    def polished_cell(self, conventional, zero_shift: float = 0.0) -> Candidate | None:
        """``polished`` for a conventional cell (``powdex.crystal.conventional_cell``) in its Bravais lattice."""
        bravais = conventional.bravais
        # Many sub-lattice forms of a symmetric cell give the same conventional cell: polished once.
        key = (bravais, tuple(np.round(conventional.cell.parameters, 5)), round(zero_shift, 6))
        if key not in self._polished_cells:
            evaluator = self.evaluator(bravais, self._max_index_for(conventional.cell))
            self._polished_cells[key] = evaluator.evaluate(bravais.axes.free_reciprocal_parameters(conventional.cell),
                                                           zero_shift)
        return self._polished_cells[key]

    def count_trials(self, label: str, trials: int, best: float = -np.inf) -> None:
        """Count trials run for ``label`` (a lattice or system) and report progress."""
        self.trials += trials
        self._trials_of[label] = self._trials_of.get(label, 0) + trials
        if self._progress is not None:
            best = max(best, max((c.score for c in self.found), default=-np.inf))
            self._progress(label, self._trials_of[label], best)

    # -- the search -------------------------------------------------------------
    def run(self) -> IndexingResult:
        config = self.config
        start = time.perf_counter()
        methods = methods_of(config.method)
        zones = next((m for n, m in methods if isinstance(m, ZoneStarts)), None)
        # Zone starts of the low-symmetry lattices run ahead of the orthorhombic system (``settles_ahead``).
        ahead = next((s for s in self.systems if s.symmetry_rank <= LatticeSystem.ORTHORHOMBIC.symmetry_rank), None)
        derived_from: set[int] = set()
        previous_pass_trials, previous_ranking = -1, None
        for search_pass in itertools.count():
            settled = False
            trials_before = self.trials
            for system in self.systems:
                if search_pass == 0 and system is ahead and zones is not None and not self.deadline.expired():
                    self.found.extend(zones.search_ahead(self, rank_candidates(self.found)))
                    self._check_subcells(derived_from)
                    best = rank_candidates(self.found)
                    settled = settles_ahead(self, best)
                    if settled:
                        logger.debug("%s: settled ahead of %s by %s", self.obs.source, system.value,
                                     _summary(best[0]))
                        break
                    # The zone cells' higher metric symmetries are polished too (``ZoneStarts.search``): an
                    # orthorhombic cell found so that would end the search after the orthorhombic system (decisive,
                    # or explaining every line with a clear lead) ends it here, since that system's own search would
                    # only find it again.
                    searched = set(self.systems[: self.systems.index(system)])
                    if self._settles(searched):
                        self._stopped_because = self._stop_reason(rank_candidates(self.found), system, ahead=True)
                        settled = True
                        break
                for name, method in methods:
                    # A decisive monoclinic or triclinic cell ends its system's methods, as it ends SVD-Index's
                    # lattices (the sub-cell check below finds a centred lattice it misses): the zone starts, first,
                    # often find a cell the slower starts would only find again.
                    if self.deadline.expired() or (system in WITH_ZONE_STARTS and any(
                            self.decisive(c) for c in self.found if c.bravais.lattice_system is system)):
                        break
                    started = time.perf_counter()
                    new = method.search(self, system, search_pass)
                    self.found.extend(new)
                    best_new = max(new, key=lambda c: c.score, default=None)
                    logger.debug("%s: pass %d, %s, %s: %.2f s, %d candidates%s", self.obs.source, search_pass,
                                 system.value, name, time.perf_counter() - started, len(new),
                                 "" if best_new is None else f", best {best_new.bravais.value} M = "
                                 f"{best_new.figures.m:.1f} score {best_new.score:.1f}")
                # A search of one lattice system has no later check.
                started = time.perf_counter()
                self._check_subcells(derived_from)
                best = rank_candidates(self.found)
                logger.debug("%s: pass %d, %s, sub-cells: %.2f s, best %s", self.obs.source, search_pass,
                             system.value, time.perf_counter() - started, _summary(best[0]) if best else "none")
                settled = self._settles(set(self.systems[: self.systems.index(system) + 1]))
                if settled and system is not self.systems[-1]:
                    self._stopped_because = self._stop_reason(rank_candidates(self.found), system)
                if settled or self.deadline.expired():
                    break
            best = rank_candidates(self.found)
            if settled or self.deadline.expired():
                break
            solved = bool(best) and self.solves(best)
            if self.widen_assumptions(search_pass, best, solved):
                continue
            if solved:
                break
            # A pass that ran no more trials than the one before and left the ranking as it was (the cubic lattices'
            # line starts, a fixed set, found nothing; random batches at their largest size found nothing new)
            # would be repeated at the same size by every later pass, until the time limit, for nothing: stop. A pass
            # without a trial (no learned models for these peaks) is the simplest such pass.
            pass_trials, ranking = self.trials - trials_before, [id(c) for c in best]
            if pass_trials == 0 or (pass_trials <= previous_pass_trials and ranking == previous_ranking):
                logger.debug("%s: pass %d ran %d trials and changed no ranking: the search stops", self.obs.source,
                             search_pass, pass_trials)
                break
            previous_pass_trials, previous_ranking = pass_trials, ranking
        # Extinction classes of the best few only: each costs tens of milliseconds, and a user looks at
        # the space groups of the cell they take.
        placed = self.decentred_first(self.decentred_second(self.at_list_precision(rank_candidates(self.found))))
        placed = placed[: config.top]
        ranked = [self._with_space_groups(c) if i < SPACE_GROUP_CANDIDATES else c for i, c in enumerate(placed)]
        # The notes name candidates as placed: those with space groups are new objects.
        notes, details = self._notes(placed)
        return IndexingResult(
            ranked, time.perf_counter() - start, self.trials, self.obs.source, self.skipped, notes,
            self.peaks, {"indexing": config.model_dump(mode="json")}, settings_fingerprint(config), details,
            probabilities=self._probabilities(placed, ranked),
        )

    def _probabilities(self, placed: list[Candidate], ranked: list[Candidate]) -> tuple[float, ...]:
        """The calibrated probability of each of ``ranked`` (``placed`` as ``rank`` left them), with a primitive cell
        that ``decentred_first`` put ahead of its centred leader holding their two sets' probability in the odds of
        the coincidence test: its left lines on the centring's forbidden reflections have probability 1 if it is
        true and ``_decentred_chance`` if the centred cell is (their lines then impurity lines). The ranking
        features see only the score, which expects each forbidden reflection it predicts (rutile: tP 0.11, tI 0.87
        by the features alone; 0.98 and 0.002 so)."""
        probabilities = candidate_probabilities(ranked)
        if (len(placed) < 2 or self._decentred_listed is None or placed[0] is not self._decentred_listed
                or not self._decentred_chance):
            return probabilities
        return shared_in_odds(ranked, probabilities, 0, 1, 1 / self._decentred_chance)

    def solves(self, ranked: list[Candidate]) -> bool:
        """Whether the best of ``ranked`` ends the passes over the lattice systems: M_N of at least ``solution_m``
        and a calibrated probability of at least ``LIKELY_PROBABILITY``, or at least ``SOLVED_PROBABILITY`` leaving
        at most ``SOLVED_UNINDEXED`` lines."""
        best = ranked[0]
        if best.figures.m < self.config.solution_m:
            return False
        probability = candidate_probabilities(ranked[: self.config.top])[0]
        return probability >= LIKELY_PROBABILITY or (
            probability >= SOLVED_PROBABILITY and best.figures.n_unindexed <= SOLVED_UNINDEXED)

    def at_list_precision(self, ranked: list[Candidate]) -> list[Candidate]:
        """``ranked`` polished, scored and ranked again at the precision of the list's positions, when they are
        ``PRECISE_LIST_FACTOR`` times more precise than a laboratory list (``IndexingConfig.two_theta_error``), else
        as it is.

        Only for lists without measured widths (a measured pattern's widths set the precision from the start,
        ``ScoringModel.for_peak_widths``). The precision is σ = 1.4826 × the median |Δ2θ| of the best cell's lines
        (robust to the few lines the coarse resolution averaged over neighbouring reflections); the best
        ``IndexingConfig.top`` candidates are polished from where they are, with reflections closer than
        ``RESOLUTION_PER_LIST_ERROR`` σ forming one line, and kept so only if the best of them then indexes as many
        peaks: a list of peaks that blend reflections (a laboratory list, whatever its digits) keeps its coarse
        resolution. The scoring model stays the refined one for what follows (space groups, sub-cell notes)."""
        if not ranked or self.obs.fwhm is not None:
            return ranked
        best = ranked[0]
        residuals = (self.obs.two_theta - best.two_theta_calc)[best.indexed]
        error = max(1.4826 * float(np.median(np.abs(residuals))), SMALLEST_LIST_ERROR)
        # Against a laboratory's error, also where the wavelength scaled it: the coarse resolution's blended lines
        # inflate σ (set F: 0.0035° at a 0.009° error, 0.0007° once scored at it).
        if not error * PRECISE_LIST_FACTOR < self.config.two_theta_error:
            return ranked
        coarse = self.model
        self._rejected_short += self._count_rejected_short()  # the search's, before its evaluators go
        self._use_model(replace(coarse, two_theta_error=error, capture_error=coarse.two_theta_error,
                                resolution=min(coarse.resolution, RESOLUTION_PER_LIST_ERROR * error)))
        again = [self.evaluator(c.bravais, self._max_index_for(c.cell)).evaluate(
            c.bravais.axes.free_reciprocal_parameters(c.cell), c.zero_shift) for c in ranked[: self.config.top]]
        refined = rank_candidates([c for c in again if c is not None])
        if not refined or refined[0].n_indexed < best.n_indexed:
            self._use_model(coarse)
            return ranked
        self._list_precision_note = (
            f"the best cell's lines lie within {error:.4f}° 2θ (σ from their median |Δ2θ|), "
            f"{coarse.two_theta_error / error:.0f} times closer than the {coarse.two_theta_error:.4g}° assumed: the best "
            f"{len(again)} candidates polished and scored again at that precision, reflections within "
            f"{self.model.resolution:.4f}° forming one line (M{best.figures.n} of the best was {best.figures.m:.1f})"
            + (f"; {len(again) - len(refined)} of them, leaving more lines unindexed at it than allowed or one "
               "lattice with another, are left out" if len(refined) < len(again) else ""))
        return refined

    def decentred_second(self, ranked: list[Candidate]) -> list[Candidate]:
        """``ranked`` with the primitive cell on the best candidate's axes (``decentred``) second, when the best is
        centred and leaves two lines or more and that cell indexes each of them.

        Those lines are then reflections the centring forbids, the signature of a pseudo-centred structure (gold
        atoms at x ≈ 0, z ≈ 0 of a P2₁/c cell fake an A-centring): the evidence, which expects every predicted line
        with the same probability, ranks the true primitive cell below dozens of others for its weak lines, while a
        whole-pattern fit of the two cells tells them apart. One line left is most often an impurity line."""
        if not ranked or ranked[0].figures.n_unindexed < 2:
            return ranked
        first = ranked[0]
        decentred = self.decentred(first)
        if decentred is None or not np.all(decentred.indexed[~first.indexed]):
            return ranked
        signature = decentred.lattice_signature
        listed = next((c for c in ranked if c.lattice_signature.matches(signature, rtol=SAME_LATTICE_RTOL)), decentred)
        self._decentred_listed = listed
        self._decentred_chance = self.forbidden_lines_by_chance(first, listed)
        return [first, listed, *(c for c in ranked[1:] if c is not listed)]

    def decentred_first(self, ranked: list[Candidate]) -> list[Candidate]:
        """``ranked`` with the primitive cell that ``decentred_second`` listed second moved first, when impurity lines
        would fall on the reflections its leader's centring forbids with a probability under
        ``DECENTRED_CHANCE_SIGNIFICANCE`` (``forbidden_lines_by_chance``).

        The score expects every predicted line with one detection probability, so a primitive cell whose forbidden
        reflections are weak pays for each of them unseen and scores below its centred sub-cell (rutile, P4₂/mnm: its
        titanium atoms are body-centred, and the I-centred cell on its axes leaves only 111 and 210 of 20 lines). When
        few forbidden reflections lie in the observed range, two or more left lines on them are no chance."""
        listed = self._decentred_listed
        if (listed is None or len(ranked) < 2 or ranked[1] is not listed or self._decentred_chance is None
                or self._decentred_chance >= DECENTRED_CHANCE_SIGNIFICANCE):
            return ranked
        return [listed, ranked[0], *ranked[2:]]

    def forbidden_lines_by_chance(self, centred: Candidate, primitive: Candidate) -> float:
        """``coincidence_probability`` of the lines ``centred`` leaves and ``primitive`` indexes, on the lines only
        ``primitive`` has: the reflections the centring forbids."""
        left = ~centred.indexed
        # Peaks are weighted to a median of 1 (``Observations.weight``): the unit-weight window is the typical one.
        evaluator = self.evaluator(primitive.bravais, self._max_index_for(primitive.cell))
        own = self.evaluator(centred.bravais, self._max_index_for(centred.cell)).line_two_theta(centred)
        return coincidence_probability(int(left.sum()), int(np.count_nonzero(primitive.indexed & left)), own,
                                       evaluator.line_two_theta(primitive), evaluator.match_window,
                                       float(self.obs.two_theta[0]), float(self.obs.two_theta[-1]))

    def _check_subcells(self, derived_from: set[int]) -> None:
        """Sub-cells of the best few candidates not checked yet (their ids in ``derived_from``), until the best few
        are all checked: a sub-cell found can be a super-cell of the truth in turn (cF 2a → cP a → cF a)."""
        while not self.deadline.expired():
            fresh = [c for c in rank_candidates(self.found)[: self.config.subcell_checks] if id(c) not in derived_from]
            if not fresh:
                break
            for cand in fresh:
                derived_from.add(id(cand))
                self.found.extend(self.subcells(cand))
                decentred = self.decentred(cand) if cand.figures.n_unindexed else None
                if decentred is not None:
                    self.found.append(decentred)
            # A leader that leaves lines may be a pseudo-symmetric description of a slightly distorted lattice
            # (jadarite's oC description of its P2₁/c cell leaves 4 of 20 sharp synchrotron lines at -0.4 per
            # peak): its least distortions are searched now, not only before a stop.  One line left is most often
            # an impurity line, which the stop rule checks anyway; a leader below DISTORTION_SCORE_PER_PEAK is no
            # near miss.  Checking every candidate that left lines cost 1 s of a 2.3 s tI search.
            leader = rank_candidates(self.found)[0] if self.found else None
            if (leader is not None and leader.figures.n_unindexed >= 2 and id(leader) not in self._distortions_checked
                    and leader.score >= DISTORTION_SCORE_PER_PEAK * self.obs.n):
                self._distortions_checked.add(id(leader))
                self.found.extend(self.competing_distortions(leader))

    def _decentred_note(self, ranked: list[Candidate]) -> list[str]:
        """Why a centred candidate's primitive cell is listed beside it (``decentred_second``), or before it
        (``decentred_first``)."""
        listed = self._decentred_listed
        if (listed is None or self._decentred_chance is None or len(ranked) < 2
                or not any(c is listed for c in ranked[:2])):
            return []
        primitive_rank, centred = (1, ranked[1]) if ranked[0] is listed else (2, ranked[0])
        centred_rank = 3 - primitive_rank
        lines = ", ".join(f"{t:.2f}°" for t in self.obs.two_theta[~centred.indexed & listed.indexed])
        chance = (f"impurity lines would fall on such reflections by chance with probability {self._decentred_chance:.2g}")
        which = (f"candidate {primitive_rank} ({listed.bravais.value} {_cell_text(listed)}) is candidate {centred_rank}'s "
                 f"cell without its {centred.bravais.centring} centring: it indexes the lines candidate {centred_rank} "
                 f"leaves (2θ {lines}) by reflections the centring forbids, and scores less for its many unseen lines "
                 "(atoms near centred positions make such reflections weak)")
        if primitive_rank == 1:
            return [f"{which}; it is listed first: {chance} only; a whole-pattern fit can confirm it (--refine)"]
        return [f"{which}; {chance}, and a whole-pattern fit decides (--refine)"]

    def _notes(self, ranked: list[Candidate]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What the user should hear about this search, and what is only recorded (``IndexingResult.details``)."""
        notes = list(self.obs.notes)
        details: list[str] = []
        fewest = min(peaks_needed(s, self.zero_shift) for s in self.systems) + CHECK_LINES
        if self.obs.n < fewest:
            notes.append(f"{self.obs.n} peaks cannot decide a cell: a cell fitted to the free parameters' own "
                         f"lines checks nothing; give at least {fewest} peaks (figures of merit here mean little)")
        if self.error_scale != 1.0:
            notes.append(f"λ {self.obs.wavelength:g} Å is no X-ray tube's: the laboratory's position error and "
                         f"zero-shift window are scaled by λ / λ(Cu Kα1) = {self.error_scale:.3f} "
                         f"({self.two_theta_error:.4f}° 2θ)")
        notes += self._widened
        if self.config.zero_shift:
            notes.append(f"zero shift searched within ±{self.config.zero_shift_window * self.error_scale:g}° 2θ")
        rejected = self._rejected_short + self._count_rejected_short()
        if rejected:
            rejection = (f"{rejected} cells rejected: a lattice vector shorter than --min-length "
                         f"{self.config.min_length:g} Å")
            # Nearly every search rejects degenerate cells under the default floor (one axis under an ångström
            # indexes any zone's lines): worth a user's attention only when nothing convincing was found, as for a
            # high-pressure phase whose true cell has a vector that short. A floor the user raised is told always.
            default_floor = self.config.min_length == IndexingConfig.model_fields["min_length"].default
            if default_floor and ranked and ranked[0].figures.m >= self.config.solution_m:
                details.append(rejection)
            else:
                notes.append(rejection)
        notes.extend(f"candidate {rank} ({cand.bravais.value} {_cell_text(cand)}): {'; '.join(cand.penalties)}"
                     for rank, cand in enumerate(ranked, 1) if cand.penalties)
        notes.extend(self._short_vector_note(ranked))
        notes.extend(_equivalent_sets(ranked))
        notes.extend(self._decentred_note(ranked))
        if self._list_precision_note is not None:
            notes.append(self._list_precision_note)
        if self.config.formula is not None:
            notes.extend(f"candidate {rank} ({cand.bravais.value}, V = {cand.cell.volume:.1f} Å³): "
                         f"{formula_units_text(cand.cell.volume, self.config.formula)}"
                         for rank, cand in enumerate(ranked[:SPACE_GROUP_CANDIDATES], 1))
        if self.deadline.expired():
            notes.append(f"the search stopped at its time limit ({self.config.time_limit:g} s); more time may "
                         "find a better cell")
        if self._stopped_because is not None:
            details.append(self._stopped_because)
        for note in notes:
            logger.info("%s: %s", self.obs.source, note)
        for detail in details:
            logger.debug("%s: %s", self.obs.source, detail)
        return tuple(notes), tuple(details)

    def _short_vector_note(self, ranked: list[Candidate]) -> list[str]:
        """A note when the short-vector prior alone puts a candidate below the first: its lines are explained better,
        as a true high-pressure cell's are (hcp hydrogen at 245 GPa, a = 1.70 Å) against a super-cell of ordinary
        lengths that predicts lines nobody saw."""
        if len(ranked) < 2:
            return []
        for rank, cand in enumerate(ranked[1:], 2):
            if not cand.penalties:
                continue
            shortest = niggli_reduce(cand.cell, cand.bravais.centring).cell.parameters[:3]
            if cand.score + short_vector_penalty(shortest, self.model)[0] > ranked[0].score:
                return [f"candidate {rank} would rank first without the prior on lattice vectors under "
                        f"{self.config.short_length:g} Å: for a high-pressure phase, run again with --short-length "
                        f"{self.config.min_length:g}"]
        return []

    def competing_distortions(self, cand: Candidate) -> list[Candidate]:
        """The cells near ``cand``'s least distortions (``distorted_cells``) that compete with it: those that
        index a line it leaves or score more than every description of its lattice found, and those that are
        descriptions of its lattice (which rank as it).

        A distortion that indexes the same lines and scores less is the cell with a parameter the data do not
        ask for; a search of the lower system would have found it too, but counting it as another lattice
        would deny every cell the lead that ends a search."""
        signature = cand.lattice_signature

        def same(c: Candidate) -> bool:
            return c.lattice_signature.matches(signature, rtol=SAME_LATTICE_RTOL)

        found = distorted_cells(self, cand)
        bar = max(c.score for c in [cand, *found, *self.found] if c is cand or same(c))
        return [c for c in found if same(c) or np.any(c.indexed & ~cand.indexed) or c.score > bar]

    def _settles(self, searched: set[LatticeSystem]) -> bool:
        """Whether the best cell found ends the search once the lattice systems ``searched`` are (``settled``),
        after a leader that would end it is checked for the least distortions that index the lines better (each
        new leader in turn)."""
        best = rank_candidates(self.found)
        while (best and id(best[0]) not in self._distortions_checked and self.would_settle(best, searched)
               and not self.deadline.expired()):
            self._distortions_checked.add(id(best[0]))
            self.found.extend(self.competing_distortions(best[0]))
            best = rank_candidates(self.found)
        return self.settled(best, searched)

    def settled(self, ranked: list[Candidate], searched: set[LatticeSystem]) -> bool:
        """Whether the best of ``ranked`` ends the search once the lattice systems ``searched`` are: it would
        (``would_settle``), and its least distortions have been searched (``competing_distortions``) and it still
        leads.

        A slight distortion of a high-symmetry cell that splits lines is the lower-symmetry cell most easily
        mistaken for it: the high-symmetry cell leaves a split line unindexed (or indexes a pair of lines at
        their mean and scores less than the distortion), and local searches around its descriptions in the
        lattices of the systems next below find the distortion for a few hundred trials where a search of those
        systems costs seconds.
        """
        return bool(ranked) and id(ranked[0]) in self._distortions_checked and self.would_settle(ranked, searched)

    def would_settle(self, ranked: list[Candidate], searched: set[LatticeSystem]) -> bool:
        """Whether the best of ``ranked`` is good enough to end the search once the systems ``searched`` are, its
        least distortions aside.

        The cell must be decisive, or lead clearly (``leads_clearly``). A sub-cell can belong to a system not
        searched yet. Such a cell qualifies when its own system is searched, or it explains every line (one that
        leaves a line can be a sub-cell of a larger cell of its system, which that system's search would find:
        a complete indexing found ahead of its system by the zone starts qualifies), and every system whose
        lattices are special cases of its own is searched: a decisive oC from an hP super-cell may still be a tP
        lattice described with less symmetry, but a decisive tP from a cP super-cell (searched) has no higher
        description left, and searching hP and hR first would only cost time.
        """
        if not ranked:
            return False
        best = ranked[0]
        if not (self.decisive(best) or self.leads_clearly(ranked)):
            return False
        system = best.bravais.lattice_system
        special_searched = (system.special_cases & set(self.systems)) <= searched
        qualifies = special_searched and (system in searched or best.figures.n_unindexed == 0)
        return qualifies and self.rivals_searched(best, searched)

    def rivals_searched(self, best: Candidate, searched: set[LatticeSystem]) -> bool:
        """Whether no lattice system left could hold a cell that beats ``best`` on the lines it predicts: its
        predicted lines are seen as often as the detection model expects (``lines_seen_as_expected``), or every
        system whose cells have no more free parameters than its own is ``searched``.

        A cell that indexes the lines but predicts many more than are seen is a super-cell or a coincidence
        lattice: another lattice whose lines all fall on its lines, with fewer of them, scores more by
        ln(1 / (1 − p_obs)) for each line it does not predict. Such a lattice of lower symmetry pays the Occam factor
        of each parameter it adds; one with as many parameters pays nothing, and a system searched later in the
        order need not be a lower-symmetry one: a tetragonal cell with c/a = 3/2 has every line (q² a² =
        h² + k² + 4l²/9) on those of a rhombohedral cell of twice its a and c, 6.9 times its volume, which predicts
        half as many lines again and is found first."""
        if self.lines_seen_as_expected(best):
            return True
        n_free = best.bravais.lattice_system.n_free
        return {s for s in self.systems if s.n_free <= n_free} <= searched

    def lines_seen_as_expected(self, cand: Candidate) -> bool:
        """Whether the lines ``cand`` predicts but nobody saw are no more than its detection model allows: a
        binomial tail probability of at least ``LINES_UNSEEN_SIGNIFICANCE`` for that many of its predicted lines
        missed, each with probability 1 − p_obs."""
        n_lines = cand.n_lines_predicted
        # Each line is predicted once at one position: the distinct positions of the indexed peaks are the lines seen.
        n_unseen = n_lines - len(np.unique(cand.two_theta_calc[cand.indexed]))
        tail = binomial_tail(n_lines, n_unseen, 1 - self.model.detection_probability)
        logger.debug("%s: %s: %d of %d predicted lines unseen, tail probability %.3g", self.obs.source,
                     _summary(cand), n_unseen, n_lines, tail)
        return tail >= LINES_UNSEEN_SIGNIFICANCE

    def leads_clearly(self, ranked: list[Candidate]) -> bool:
        """Whether the best of ``ranked`` is a complete indexing, or one that leaves one line, that leads every
        other lattice clearly: the systems it needs searched aside (``would_settle``).

        Such a cell, as the true cell beside an impurity line, often scores less than a decisive one asks
        (0.1–1.1 per peak on ``benchmarks/index_bravais.py``), and wrong cells reached 0.79 there; so does a true
        cell with few lines or a rough polish that explains every line. Here its M_N must be that of a complete
        indexing, it must score ``lead_score_per_peak`` per peak and it must lead every other lattice found by
        ``stop_gap_per_peak`` per peak (super-cells that index the line too included): a lower-symmetry
        super-cell that predicts many more lines scores less than the cell.

        Calibration of the score asked: every leader with at most one line left and M_N ≥ ``stop_m`` that did
        not yet end the search, logged at each system's check (``benchmarks/index_calibration.py``'s lists, seed
        11: 42 synthetic lists with the hard faults, 14 lines each with an impurity line, and 92 lists of real
        structures). Leaving one line and leading by 0.3 per peak, 39 true cells scored −1.09 to 0.71 per peak,
        and six wrong ones −1.83 to −0.23, and 0.92 (NbO₂ as oC, a list whose search ended on a wrong cell
        anyway). From 0 per peak, true cells qualify on 12 lists (1 from 0.5), and no wrong cell more. Explaining
        every line and leading by 0.3 per peak from 0 per peak: 14 true cells (0.01–0.49 per peak: cI iron,
        niobium and BCC, cF copper, hR ruby, hP quartz, tP cristobalite, oP, mP and mC cells, most of them found
        in the first systems and then carried through every later one) and two wrong ones, 0.08 and 0.45 per
        peak, on two lists of JARVIS stackings whose searches ended on those same cells.
        """
        if not ranked:
            return False
        best = ranked[0]
        config = self.config
        n = len(best.indexed)
        runner_up = ranked[1].score if len(ranked) > 1 else -np.inf
        return (
            best.figures.n_unindexed <= 1
            and best.figures.m >= config.stop_m
            and best.score >= config.lead_score_per_peak * n
            and best.score - runner_up >= config.stop_gap_per_peak * n
        )

    def ends_system(self, new: list[Candidate]) -> bool:
        """Whether candidates ``new`` of one Bravais lattice end the search of its lattice system's others: one
        is decisive, or the best of all found is one of them and leads clearly (``leads_clearly``). A centred
        lattice missed then is a sub-lattice of that cell (a centred cell's lines are a subset of its primitive
        super-cell's, so it cannot index a line the cell leaves, and it predicts fewer lines where the cell
        explains every line), which the sub-cell check after the system finds: Bravais lattices come primitive
        first."""
        if any(self.decisive(c) for c in new):
            return True
        ranked = rank_candidates([*self.found, *new])
        return bool(ranked) and any(ranked[0] is c for c in new) and self.leads_clearly(ranked)

    def _stop_reason(self, ranked: list[Candidate], system: LatticeSystem, ahead: bool = False) -> str:
        best = ranked[0]
        where = (f"with the monoclinic and triclinic zone starts, before the {system.value} system's own search," if ahead
                 else f"after the {system.value} system")
        text = f"the search ended {where} on {_summary(best)}"
        if not self.lines_seen_as_expected(best):
            text += (", each lattice system of as many free parameters searched, since it predicts more lines than "
                     "are seen")
        if self.decisive(best):
            return text + " (decisive)"
        gap = (best.score - (ranked[1].score if len(ranked) > 1 else -np.inf)) / len(best.indexed)
        if best.figures.n_unindexed == 0:
            return text + (f": it explains every line, leads every other lattice by {gap:.2f} per peak, and no least "
                           "distortion of it found by a local search scores more")
        return (text + f": it leaves one line, leads every other lattice by {gap:.2f} per peak, and no least "
                "distortion of it found by a local search indexes that line better")

    def decisive(self, best: Candidate) -> bool:
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
        config = self.config
        n = len(best.indexed)
        unindexed = best.figures.n_unindexed
        return (
            unindexed <= 1
            and best.figures.m >= config.stop_m
            and best.score >= (config.stop_score_per_peak + unindexed * config.stop_score_per_unindexed) * n
        )

    def _with_space_groups(self, cand: Candidate) -> Candidate:
        obs, model = self.obs, self.model
        classes = suggest_space_groups(
            cand.bravais, cand.cell, obs.two_theta[cand.indexed] - cand.zero_shift, obs.wavelength,
            resolution=model.resolution, two_theta_error=model.two_theta_error,
            impurity_fraction=model.impurity_fraction, detection_probability=model.detection_probability,
        )
        return replace(cand, space_groups=classes)

    # -- sub-cells ----------------------------------------------------------------
    def subcells(self, cand: Candidate) -> list[Candidate]:
        """Candidates for the lattices that contain ``cand``'s with index 2 to ``max_subcell_index`` (its sub-cells).

        A random search often lands on a super-cell: a cell two or three times too
        large (a doubled axis, a missed C or R centring) that explains every line
        and more. A sub-cell keeps only the reflections h with h·H⁻¹ integral
        (``sublattice_bases``), so only the H that keep the indexed peaks are
        tried: each gives a lattice, spglib its Bravais lattice and conventional
        cell, and the polish and score of that lattice decide. This is the
        smaller-cell check of classical indexing programs.
        """
        config, obs = self.config, self.obs
        reduced = niggli_reduce(cand.cell, cand.bravais.centring)
        # Every reflection within the resolution of each indexed peak: a super-cell's
        # extra reflections can share a line with the one the sub-cell keeps.
        found = _reflections_at_peaks(reduced.cell, obs.two_theta[cand.indexed] - cand.zero_shift, obs.wavelength,
                                      self.model.resolution)
        if found is None:
            return []
        hkl, peak = found
        n_indexed = cand.n_indexed
        out = []
        for index in range(2, config.max_subcell_index + 1):
            for form in sublattice_bases(index):
                if self.deadline.expired():
                    return out
                inverse = np.linalg.inv(form)
                k = hkl @ inverse
                integral = np.all(np.abs(k - np.rint(k)) < 1e-6, axis=1)
                if n_indexed - len(np.unique(peak[integral])) > self.max_unindexed:
                    continue
                try:
                    basis = reduced.cell.transformed(inverse.T)
                    # A basis vector under min_length: the lattice has one (told by the polish's count otherwise).
                    if basis.parameters[:3].min() < self.model.min_length:
                        self._rejected_short += 1
                        continue
                except ValueError:
                    continue
                conventional = self._conventional(basis, "P", 2e-3)
                if conventional is None or conventional.bravais.lattice_system not in self.systems:
                    continue
                new = self.polished_cell(conventional, cand.zero_shift)
                if new is not None:
                    out.append(self.in_metric_symmetry(new))
        return out

    def decentred(self, cand: Candidate) -> Candidate | None:
        """``cand``'s conventional cell as a primitive cell on the same axes (its centring dropped: two to four times
        its primitive volume), polished; None for a primitive ``cand`` or where the polish fails.

        Atoms that nearly obey a centring (heavy atoms near x = 0, z = 0 fake an A-centring) make the reflections
        it forbids weak: the centred cell indexes every line but those few, and predicting half as many lines it
        outscores the true primitive cell, which the random starts of the primitive lattice rarely reach at that
        volume. The primitive cell is one polish away from the centred one; listed beside it, intensities (a
        whole-pattern fit) can decide between them."""
        if cand.bravais.centring == "P":
            return None
        primitive = next(b for b in BravaisLattice if b.axes is cand.bravais.axes and b.centring == "P")
        return self.polished_cell(ConventionalCell(primitive, cand.cell, primitive.space_group.number),
                                  cand.zero_shift)

    def _conventional(self, cell, centring: str, length_tolerance: float) -> ConventionalCell | None:
        """``conventional_cell``, None where spglib finds no symmetry, once per lattice: the sub-lattices of a
        symmetric cell come in sets that are one lattice in other bases (a cubic cell's three doubled axes), and
        each spglib call costs a millisecond."""
        try:
            key = (tuple(np.round(niggli_reduce(cell, centring).cell.parameters, 6)), length_tolerance)
            if key not in self._conventional_cells:
                self._conventional_cells[key] = conventional_cell(cell, centring, length_tolerance)
        except ValueError:
            return None
        return self._conventional_cells[key]

    def in_metric_symmetry(self, cand: Candidate, length_tolerance: float = 2e-4) -> Candidate:
        """``cand`` polished in the Bravais lattice its refined metric has within ``length_tolerance``, when that is
        a higher one (else ``cand`` itself).

        A sub-cell is named from a super-cell that was fitted, not exact, so spglib can
        see a lower symmetry than the polished cell has (an oC that refines to a = b
        is a tP lattice); the polish in the higher lattice is then the candidate.
        """
        conventional = self._conventional(cand.cell, cand.bravais.centring, length_tolerance)
        if conventional is None or conventional.bravais is cand.bravais or conventional.bravais.lattice_system not in self.systems:
            return cand
        return self.polished_cell(conventional, cand.zero_shift) or cand


def laboratory_error_scale(peaks: PeakList, obs: Observations) -> float:
    """The factor on a laboratory's 2θ error, resolution and zero-shift windows for this list: λ / λ(Cu Kα1), at
    least ``SMALLEST_ERROR_SCALE``, for a list without measured widths at a stated wavelength shorter than Cu Kα1
    that no X-ray tube emits (``tube_of_wavelength``), else 1. Measured widths set a pattern's own precision
    (``ScoringModel.for_peak_widths``); a wavelength only assumed (d or q² input) states the scale of the errors,
    not a source."""
    wavelength = peaks.wavelength
    if (obs.fwhm is not None or wavelength is None or peaks.wavelength_assumed or wavelength >= CU_KA1
            or tube_of_wavelength(float(wavelength)) is not None):
        return 1.0
    return max(float(wavelength) / CU_KA1, SMALLEST_ERROR_SCALE)


def _reflections_at_peaks(cell, two_theta: np.ndarray, wavelength: float,
                          window: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Miller indices (in ``cell``'s basis) within ``window`` ° 2θ of each peak, and which peak each is at;
    None where the grid to enumerate would pass ``MAX_SUBCELL_GRID``."""
    q2_max = float(two_theta_to_q2(min(two_theta.max() + window, 179.0), wavelength))
    if np.prod(2 * np.ceil(np.sqrt(q2_max) * cell.parameters[:3]) + 1) > MAX_SUBCELL_GRID:
        return None
    grid, q2 = cell.miller_indices_within(q2_max)
    close = np.abs(q2_to_two_theta(q2, wavelength)[None, :] - two_theta[:, None]) <= window  # (peaks, reflections)
    peak, reflection = np.nonzero(close)
    return grid[reflection].astype(float), peak


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X ≥ k) for X binomial with ``n`` trials of probability ``p`` (0 < p < 1), its terms summed from their
    logarithms: a large cell predicts thousands of lines, whose binomial coefficients overflow a float.
    (scipy.special's ``bdtrc`` gives the same; its import costs a third of a second of a one-pattern run.)"""
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = (math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q
             for j in range(max(k, 0), n + 1))
    return min(1.0, sum(math.exp(t) for t in terms))


def coincidence_probability(n_left: int, n_taken: int, own_lines: np.ndarray, other_lines: np.ndarray,
                            window: float, lo: float, hi: float) -> float:
    """The probability that ``n_taken`` or more of the ``n_left`` lines a cell leaves would fall by chance within
    ``window`` (° 2θ) of a line another cell has and it has not: a binomial tail, each left line (an impurity line,
    anywhere in [``lo``, ``hi``] off the cell's lines at ``own_lines``) landing there with probability the share of
    that range within ``window`` of ``other_lines`` and not of ``own_lines``. 1 when none is taken.

    The other cell is one whose lattice holds the cell's lattice (its primitive cell when the cell is centred; a
    super-cell), so its lines include the cell's: a small probability says the lines it takes are its own, not
    impurity lines it indexes by chance."""
    own_share = _covered_length(own_lines, window, lo, hi)
    p = (_covered_length(np.concatenate([own_lines, other_lines]), window, lo, hi) - own_share) / max(
        hi - lo - own_share, 1e-12)
    if n_taken == 0 or p >= 1:
        return 1.0
    return binomial_tail(n_left, n_taken, max(p, 1e-12))


def _covered_length(centres: np.ndarray, half_width: float, lo: float, hi: float) -> float:
    """The length of [``lo``, ``hi``] within ``half_width`` of a centre: the union of the intervals, overlaps once."""
    starts = np.clip(np.sort(centres) - half_width, lo, hi)
    ends = np.clip(np.sort(centres) + half_width, lo, hi)
    # Sorted by centre, the intervals (all of one width) are sorted by start and by end: each adds what passes the
    # furthest end before it.
    reached = np.maximum.accumulate(np.r_[lo, ends[:-1]]) if len(ends) else ends
    return float(np.sum(np.clip(ends - np.maximum(starts, reached), 0.0, None)))


def _summary(cand: Candidate) -> str:
    return (f"{cand.bravais.value} {_cell_text(cand)} M = {cand.figures.m:.1f} score {cand.score:.1f} "
            f"unindexed {cand.figures.n_unindexed}")


def _cell_text(cand: Candidate) -> str:
    c = cand.cell
    return f"{c.a:.4f} {c.b:.4f} {c.c:.4f} {c.alpha:.2f} {c.beta:.2f} {c.gamma:.2f}"


def _equivalent_sets(ranked: list[Candidate]) -> list[str]:
    """A note naming the candidates that predict the same lines as the best (derivative lattices whose extra
    reflections all coincide with its lines, or lie past the pattern): positions alone cannot decide between
    them; intensities (a whole-pattern fit) can."""
    if not ranked:
        return []
    first = ranked[0]
    same = [j for j in range(1, len(ranked)) if same_lines(first, ranked[j])]
    if not same:
        return []
    names = ", ".join(f"{j + 1} ({ranked[j].bravais.value} {_cell_text(ranked[j])})" for j in same)
    return [f"candidates 1 ({first.bravais.value} {_cell_text(first)}) and {names} index the same lines at the "
            "same positions: positions alone cannot decide between them, intensities can (a whole-pattern fit)"]


def rank_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Best score first, each lattice once, in its highest-symmetry description.

    Descriptions of one lattice (cP and its hR setting, oP and an mP with
    β = 90°) are merged: the lattice takes the best score of its descriptions
    and is shown in the most symmetric one. Between different lattices the
    score alone decides; it already charges a lower-symmetry description the
    Occam factor of the parameters it adds (``powdex.indexing.candidate``).
    """
    # A trial solution found again is the same candidate (the polish is computed once per solution): ranked once.
    order = sorted({id(c): c for c in candidates}.values(), key=lambda c: -c.score)
    # Lattices found so far, kept sorted by primitive volume so that each new
    # candidate is compared only with those of nearly its volume.
    volumes: list[float] = []
    lattices: list[list] = []  # [signature, best score, shown description]
    for cand in order:
        signature = cand.lattice_signature
        lo = bisect.bisect_left(volumes, signature.volume * (1 - 0.01))
        hi = bisect.bisect_right(volumes, signature.volume * (1 + 0.01))
        for entry in lattices[lo:hi]:
            if signature.matches(entry[0], rtol=SAME_LATTICE_RTOL):
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

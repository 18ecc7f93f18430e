"""Sequential refinement of a series of patterns, with ensembles where it fails.

Patterns are ordered (number in the file name, a metadata value such as
temperature or time, or a list of file names from a CSV) and each is refined
from its refined neighbour's parameters (forward or reverse).  A fit that
degrades — Rwp more than ``rwp_jump`` times the neighbour's, a freed parameter
held at a bound the neighbour was not held at (other than a profile term or a
parameter of a phase not found), or no convergence — is refitted as an ensemble: starts with
every cell length drawn uniformly within ±``cell_spread`` of the neighbour's
(from ``seed``), the lowest χ² kept.  Plain sequential seeding cannot cross a
jump of the cell larger than about a peak width (a phase transformation):
narrow peaks give no gradient toward lines that far.  A phase of the plan not
found in the neighbour (weight fraction within 3 esd of zero) starts from the
plan's cell, not the neighbour's, which the noise set.  Each phase of a Rietveld fit is then left out in turn and the fit of the
fewer phases kept where Schwarz's (1978) criterion prefers it: a phase absent from
the pattern, its cell free, otherwise fits the noise at a few esd.

Phases given by a CIF are refined by Rietveld's method; a plan whose one phase
is a cell and space group is refined by a Pawley or Le Bail fit
(``powdex.refine``), its reflection list regenerated for every pattern from
the neighbour's cell.  The Le Bail (and Pawley) intensities of the lines the
neighbour shares are carried over while the cell moves smoothly; when it jumps
(a length moves more than ``jump_fraction``) or lines that were one peak in the
neighbour stand apart (``lines_split``), the pattern is refitted from equal
intensities, because carried intensities hide a new splitting: a line that was
one peak keeps its partition between the reflections it now separates into;
when the fit degrades, from equal intensities as well.  A degraded fit's
ensemble that is still degraded is drawn again with twice the spread, up to
``ESCALATIONS`` times: a metrically cubic cell that turns tetragonal can split
its lengths by more than ``cell_spread``.  A Rietveld ensemble is drawn once:
its starts are uniform in each length, and a Rietveld fit is drawn in only from
a fraction of a peak width, so wider draws meet such a split no more often
(none of 7 starts within ±2, ±4 or ±8 % reached a 4 % split of c).

Workers (``chains``): sequential seeding is a chain, pattern k waiting for
k − 1.  With ``chains`` = s, pattern k is seeded from pattern k − s instead: s
interleaved chains that run on s workers at once (a cell that moves smoothly
moves little over s patterns).  Where a pattern fits worse than its neighbour
of another chain (Rwp above ``rwp_jump`` times its), it is refitted seeded from
that neighbour, and so is a pattern lacking a phase its neighbour of another
chain found (a phase appearing in one chain only: its small fraction raises Rwp
too little to tell); the fit with the lower Schwarz (1978) information
criterion is kept.  Chains run in segments of a few patterns and each refit
starts as soon as the results it is seeded from are known, on the same
workers: a worker whose chain ran ahead takes up refits meanwhile.  Which
pattern seeds which depends on ``chains`` only, so the results are the same
for any number of workers.

A Rietveld fit's fallback ensemble need not wait inside its chain: its starts
are independent fits.  A chain (or refit) task that reaches a pattern whose
ensemble is due ends there and hands back the fit from its neighbour and the starts
(``EnsembleRequest``); the driver hands each start out as a task of its own on
the same executor, so an idle worker takes them up while the other chains go on,
and once every start is in, queues the chain again, resumed at that pattern with
every candidate.  The chain then does exactly what it would have done with the
ensemble in place (the lowest χ² of the candidates, then the phase choice), so
the results are unchanged.  The starts go through the driver's one loop over the
executor (``submit`` and ``next_result`` of ``powdex.optim.Executor``), with the
chains and refits: a worker cannot submit tasks, a chain waiting in its task for
its starts would hold a worker idle, and ``parallel_map`` or ``run_ensemble``
would hold the executor until their own tasks end.  The starts are drawn from
the pattern's own random stream whoever draws them, and each fit is recorded as
it arrives, so a rerun fits only the starts not recorded.  With one chain the
chain runs in the calling process and its ensembles go to the executor through
``parallel_map``; a Pawley or Le Bail fit's ensemble (``powdex.refine`` on the
engine's ``run_ensemble``) runs within the task whose pattern needs it.

Every task (a chain, a rejoin refit, a new-phase search) reports the CPU and
wall seconds it took in the process that ran it (``TaskTiming``), so the
serial part of a series and the speed-up its tasks allow can be told apart
from the load on the machine.

Each pattern's result is recorded (``Journal``) as it finishes — by the worker
that refined it — so a rerun with the same plan and options refines only what
is not recorded.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
import re
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from powdex.crystal import PARAMETER_NAMES, Cell
from powdex.instrument.model import PROFILE_NAMES, Instrument
from powdex.optim.executors import Executor, InProcess
from powdex.optim.journal import Journal
from powdex.optim.parallel import call_indexed, parallel_map
from powdex.patterns import Pattern
from powdex.refinement.api import refine
from powdex.refinement.errors import RefinementError
from powdex.refinement.fit import Method
from powdex.refinement.plan import PhasePlan, RefinementPlan
from powdex.refinement.reflections import lattice_system_of, resolve_space_group
from powdex.refinement.result import RefinementResult
from powdex.refinement.rietveld import PhaseResult, RietveldPhase, RietveldResult, rietveld_refine
from powdex.series.continuity import make_continuous
from powdex.series.newphase import propose_new_phase

logger = logging.getLogger(__name__)

FLAGS = ("seeded", "ensemble", "at_bound", "phase_absent", "cell_jump", "intensities_reset", "rejoined",
         "axes_swapped", "phases_swapped", "new_phase")

FitResult = RietveldResult | RefinementResult

# Draws of a whole-pattern fit's ensemble after the first, each with twice the spread of the one before.
ESCALATIONS = 2
# Lines closer than this many FWHM are one peak: their Le Bail partition is the carried one, not measured.
SPLIT_FWHM = 0.5


@dataclass(frozen=True)
class SeriesSettings:
    """How each pattern is refined (see the module docstring); every setting enters the journal's fingerprint."""

    fallback: bool = True
    ensemble_starts: int = 8
    cell_spread: float = 0.02
    rwp_jump: float = 1.5
    jump_fraction: float = 0.005
    # A cold start (no neighbour) whose GoF exceeds this is poor: the fallback ensemble refits it.
    cold_gof: float = 1.5
    seed: int = 0


@dataclass
class SeriesEntry:
    """One pattern of the series: its refinement, its phases as reported, and flags (``seeded``
    from a neighbour, ``ensemble`` when the fallback chose the result, ``at_bound`` when a freed
    parameter is held at a bound, ``phase_absent`` when a phase's scale is held at zero,
    ``cell_jump`` when a cell length moved more than ``jump_fraction``, ``intensities_reset``
    when a Le Bail or Pawley fit from equal intensities was kept, ``rejoined`` when a pattern of
    one chain was refitted from its neighbour of another, ``axes_swapped`` and ``phases_swapped``
    when its reported phases were mapped onto the neighbour's branch: ``powdex.series.continuity``).
    ``seeded_from`` names the pattern whose result started this one; ``proposal`` is a new phase
    proposed from its unexplained peaks (``NewPhaseProposal.to_dict``, flag ``new_phase``)."""

    name: str
    position: int
    kind: str
    result: FitResult
    phases: list[PhaseResult]
    flags: list[str]
    sequential_rwp: float | None = None
    seeded_from: str | None = None
    proposal: dict | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "position": self.position, "kind": self.kind, "result": self.result.to_dict(),
                "phases": [vars(p) for p in self.phases], "flags": self.flags,
                "sequential_rwp": self.sequential_rwp, "seeded_from": self.seeded_from, "proposal": self.proposal}

    @classmethod
    def from_dict(cls, d: dict) -> SeriesEntry:
        result: FitResult = (RietveldResult.from_dict(d["result"]) if d["kind"] == "rietveld"
                             else RefinementResult.from_dict(d["result"]))
        return cls(d["name"], d["position"], d["kind"], result, [PhaseResult(**p) for p in d["phases"]],
                   d["flags"], d["sequential_rwp"], d["seeded_from"], d.get("proposal"))


@dataclass(frozen=True)
class TaskTiming:
    """What one task of a series cost: ``kind`` ``chain`` (a segment of the chain ``label`` names),
    ``rejoin``, ``ensemble`` (one start of a fallback ensemble), ``proposal`` (tasks that may run on
    workers) or ``driver`` (the series' own bookkeeping
    between them, in the calling process); ``stage`` counts the groups of tasks handed out together, in
    order (a stage waits for the one before it); ``depends``: the positions, within its stage, of the
    tasks whose results seeded it; the task's
    CPU and wall seconds in process ``process``, and that process's CPU seconds in all when the task
    ended (start-up and imports included); ``fitted`` the patterns it refined rather than read back;
    ``started`` the wall-clock time it started (seconds since the epoch, comparable across the processes
    of one machine: the gaps between one process's tasks are its wait for work)."""

    kind: str
    stage: int
    label: str
    process: int
    cpu_seconds: float
    wall_seconds: float
    process_cpu_seconds: float
    fitted: int
    depends: tuple[int, ...] = ()
    started: float = 0.0


class _Clock:
    """The CPU and wall seconds since it was made, as a ``TaskTiming``."""

    def __init__(self) -> None:
        self.cpu, self.wall, self.started = time.process_time(), time.perf_counter(), time.time()

    def timing(self, kind: str, label: str, fitted: int, stage: int = 0) -> TaskTiming:
        cpu = time.process_time()
        return TaskTiming(kind, stage, label, os.getpid(), cpu - self.cpu, time.perf_counter() - self.wall, cpu,
                          fitted, started=self.started)


class _Ledger:
    """The timings of a series' tasks, numbered by stage as each group of tasks that run at once arrives,
    and on ``close`` the driver's own: its CPU seconds less those of tasks it ran itself."""

    def __init__(self) -> None:
        self.timings: list[TaskTiming] = []
        self.stage = 0
        self.clock = _Clock()

    def add(self, timings: list[dict], depends: list[tuple[int, ...]] | None = None) -> None:
        if timings:
            self.timings += [replace(TaskTiming(**t), stage=self.stage, depends=tuple(after))
                             for t, after in zip(timings, depends or [()] * len(timings))]
            self.stage += 1

    def close(self) -> list[TaskTiming]:
        driver = self.clock.timing("driver", "driver", 0, self.stage)
        own = sum(t.cpu_seconds for t in self.timings if t.process == driver.process)
        return self.timings + [replace(driver, cpu_seconds=max(driver.cpu_seconds - own, 0.0))]


def makespan(seconds: list[float], workers: int, depends: list[tuple[int, ...]] | None = None) -> float:
    """The seconds ``workers`` take for tasks of these lengths: a free worker takes the first task, in this
    order, whose tasks in ``depends`` (positions in the list, each before it) have ended, as the series'
    scheduler hands them out; with none ready it waits for the next such end."""
    after = depends or [()] * len(seconds)
    free = [0.0] * max(workers, 1)
    ends: list[float | None] = [None] * len(seconds)
    pending = list(range(len(seconds)))
    while pending:
        worker = free.index(min(free))
        now = free[worker]
        ready = next((k for k in pending if all((ends[d] or math.inf) <= now for d in after[k])), None)
        if ready is None:
            # The first pending task's dependencies were all handed out before it: one of them ends later.
            free[worker] = min(end for k in pending for d in after[k] if (end := ends[d]) is not None and end > now)
            continue
        pending.remove(ready)
        ends[ready] = free[worker] = now + seconds[ready]
    return max((end for end in ends if end is not None), default=0.0)


@dataclass
class SeriesRefinementResult:
    """Every pattern's entry, in series order, and what each task of the run cost (``TaskTiming``; none
    for patterns read back from the journal)."""

    entries: list[SeriesEntry] = field(default_factory=list)
    timings: list[TaskTiming] = field(default_factory=list)

    def ideal_seconds(self, workers: int) -> float:
        """The critical path of this run on ``workers`` workers of a quiet machine: the driver's own CPU
        seconds, then each stage's tasks by their CPU seconds (``makespan``: in the order they arrived,
        none before the tasks that seeded it: an ensemble's starts after the task that handed them out,
        the chain resumed after its starts), one stage after another.  The total CPU seconds over
        this is the speed-up the series' structure allows."""
        driver = sum(t.cpu_seconds for t in self.timings if t.kind == "driver")
        seconds = 0.0
        for stage in sorted({t.stage for t in self.timings if t.kind != "driver"}):
            tasks = [t for t in self.timings if t.stage == stage and t.kind != "driver"]
            seconds += makespan([t.cpu_seconds for t in tasks], workers, [t.depends for t in tasks])
        return driver + seconds

    def table(self) -> list[dict]:
        """One row per pattern: Rwp, GoF, flags, the parameters held at a bound (no esd), then per
        phase cell ± esd, volume, weight fraction ± esd and R_Bragg."""
        rows = []
        for entry in self.entries:
            result = entry.result
            row = {"position": entry.position, "pattern": entry.name, "rwp": result.statistics.rwp,
                   "gof": result.statistics.gof, "flags": " ".join(entry.flags),
                   "at_bounds": " ".join(result.at_bounds),
                   "new_phase": "" if not entry.proposal or not entry.proposal["cell"] else
                   f"{entry.proposal['bravais']} " + " ".join(f"{v:.4f}" for v in entry.proposal["cell"])}
            for phase in entry.phases:
                for name, value, esd in zip(PARAMETER_NAMES, phase.cell, phase.cell_esd):
                    row[f"{phase.name}:{name}"] = value
                    row[f"{phase.name}:{name}_esd"] = esd
                row[f"{phase.name}:volume"] = phase.volume
                row[f"{phase.name}:weight_fraction"] = phase.weight_fraction
                row[f"{phase.name}:weight_fraction_esd"] = phase.weight_fraction_esd
                row[f"{phase.name}:r_bragg"] = phase.r_bragg
            rows.append(row)
        return rows


def pattern_name(pattern: Pattern) -> str:
    return Path(pattern.source).name


def order_patterns(patterns: list[Pattern], order: str | Path = "name") -> list[Pattern]:
    """``name``: by the last number in the file name; a metadata key (``temperature``,
    ``time``): by its value; a ``.csv`` path: by the file names of its first column."""
    if str(order).endswith(".csv"):
        path = Path(order)
        with path.open(newline="") as handle:
            listed = [row[0].strip() for row in csv.reader(handle) if row and row[0].strip()]
        rank = {Path(name).name: k for k, name in enumerate(listed)}
        missing = [pattern_name(p) for p in patterns if pattern_name(p) not in rank]
        if missing:
            raise RefinementError(f"{path}: does not list {', '.join(missing[:3])}")
        return sorted(patterns, key=lambda p: rank[pattern_name(p)])
    if order == "name":
        def number(pattern: Pattern) -> float:
            found = re.findall(r"\d+(?:\.\d+)?", Path(pattern.source).stem)
            if not found:
                raise RefinementError(f"{pattern.source}: no number in the file name to order the series by")
            return float(found[-1])
        return sorted(patterns, key=number)
    missing = [p.source for p in patterns if order not in p.metadata]
    if missing:
        raise RefinementError(f"{missing[0]}: no '{order}' in the file's metadata to order the series by")
    return sorted(patterns, key=lambda p: float(p.metadata[order]))


@dataclass(frozen=True)
class PatternData:
    """A pattern as arrays and plain values: it pickles to a worker (a ``Pattern``'s metadata does not)."""

    arrays: tuple[np.ndarray, np.ndarray, np.ndarray]
    source: str
    wavelengths: tuple[float, ...]
    ratio: float
    radiation: str

    @classmethod
    def of(cls, pattern: Pattern) -> PatternData:
        return cls((np.asarray(pattern.two_theta), np.asarray(pattern.intensity), np.asarray(pattern.sigma)),
                   pattern.source, tuple(pattern.wavelengths), pattern.ratio, pattern.radiation)

    def pattern(self) -> Pattern:
        return Pattern(*self.arrays, source=self.source, wavelengths=self.wavelengths, ratio=self.ratio,
                       radiation=self.radiation, sigma_from_file=True)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return Path(self.source).name


@dataclass(frozen=True)
class RietveldFits:
    """Rietveld fits of a plan's CIF phases."""

    phases: tuple[RietveldPhase, ...]
    options: dict
    kind: str = "rietveld"

    @property
    def instrument(self) -> Instrument | None:
        """The calibrated instrument the fits hold (the plan's), None where there is none."""
        return self.options["instrument"]

    def fit(self, data: PatternData, start: dict[str, float], held_out: tuple[str, ...] = ()) -> RietveldResult:
        return rietveld_refine(data.pattern(), list(self.phases), start=start, held_out=held_out, **self.options)

    def cold_start(self) -> dict[str, float]:
        """The free reciprocal cell parameters of every phase's CIF cell."""
        start = {}
        for phase in self.phases:
            system = lattice_system_of(phase.structure.space_group)
            for k, value in enumerate(system.free_reciprocal_parameters(phase.structure.cell)):
                start[f"{phase.label}:x{k}"] = float(value)
        return start


@dataclass(frozen=True)
class FitTask:
    """One start of a pattern's fallback ensemble: the Rietveld refinement from ``start``, the ensemble's
    ``index``-th."""

    fits: RietveldFits
    data: PatternData
    start: dict
    index: int


def run_fit(task: FitTask) -> dict:
    """The fit's ``document`` and what it cost (``timing``: ``TaskTiming`` as a dict)."""
    clock = _Clock()
    document = task.fits.fit(task.data, task.start).to_dict()
    return {"document": document, "timing": asdict(clock.timing("ensemble", f"{task.data.name} start {task.index}", 0))}


@dataclass(frozen=True)
class EnsembleRequest:
    """What a task that refines patterns hands back where a pattern's fallback ensemble is due and its
    starts are to run as tasks of their own (``hand_out``): the pattern's ``position``, the ensemble's
    ``candidates`` known so far (the result document of the fit from the neighbour first, then one per start: None where
    not fitted yet) and each start (None where its fit is known)."""

    position: int
    candidates: tuple[dict | None, ...]
    starts: tuple[dict | None, ...]

    @property
    def missing(self) -> list[int]:
        return [index for index, start in enumerate(self.starts) if start is not None]


@dataclass(frozen=True)
class WholePatternFits:
    """Pawley or Le Bail fits (``powdex.refine``) of a plan's one cell-and-space-group phase."""

    phase: PhasePlan
    background_terms: int
    profile: dict
    instrument: Instrument | None = None

    @property
    def kind(self) -> str:
        return self.phase.method

    def fit(self, data: PatternData, cell: Cell, neighbour: RefinementResult | None, *,
            method: Method | None = None, starts: int = 1, seed: int = 0, cell_error: float = 0.01,
            executor: Executor | None = None) -> RefinementResult:
        return refine(data.pattern(), cell, str(self.phase.space_group), method=method or self.phase.method,
                      neighbour=neighbour, background_terms=self.background_terms, profile=dict(self.profile),
                      starts=starts, seed=seed, cell_error=cell_error, executor=executor, instrument=self.instrument)

    def cold_cell(self) -> Cell:
        return Cell.from_parameters(np.array(self.phase.cell, float))

    def phase_result(self, result: RefinementResult) -> PhaseResult:
        return PhaseResult(self.phase.name, result.space_group, result.cell.parameters.tolist(),
                           [result.cell_esd.get(name) for name in PARAMETER_NAMES], float(result.cell.volume), 1.0,
                           None, float("nan"))


Fits = RietveldFits | WholePatternFits


def fits_of(plan: RefinementPlan) -> Fits:
    """The fits a plan asks for: Rietveld when every phase has a CIF; Pawley or Le Bail for one phase
    given by cell and space group."""
    by_cell = [phase for phase in plan.phases if phase.cif is None]
    if not by_cell:
        return RietveldFits(tuple(plan.rietveld_phases()), plan.refine_options())
    if len(plan.phases) > 1:
        raise RefinementError(f"phases {', '.join(p.name for p in plan.phases)}: a series refines either CIF "
                              "phases (Rietveld) or one phase given by cell and space group (Pawley or Le Bail)")
    phase = by_cell[0]
    # A space group the fits cannot take is refused now, not at the first pattern.
    lattice_system_of(resolve_space_group(str(phase.space_group)))
    return WholePatternFits(phase, plan.background_terms, dict(plan.profile), plan.calibrated_instrument())


def _seed(result: RietveldResult) -> dict[str, float]:
    return {p.name: p.value for p in result.parameters}


def cell_lengths(phases: list[PhaseResult]) -> np.ndarray:
    return np.array([length for phase in phases for length in phase.cell[:3]])


def _ensemble_starts(seed_values: dict[str, float], starts: int, spread: float, rng: np.random.Generator) -> list[dict]:
    """Starts with every reciprocal cell parameter (``<phase>:x<k>``) scaled by 1/f², f uniform in
    [1 − spread, 1 + spread] (a length scaled by f); the first start keeps the given values unchanged."""
    cell_names = [n for n in seed_values if re.fullmatch(r".+:x\d+", n)]
    out = [dict(seed_values)]
    for _ in range(starts - 1):
        start = dict(seed_values)
        for name in cell_names:
            start[name] = seed_values[name] / rng.uniform(1 - spread, 1 + spread) ** 2
        out.append(start)
    return out


def _pattern_rng(seed: int, position: int) -> np.random.Generator:
    """A pattern's own stream: the same whichever worker refines it, and whether or not the run resumed."""
    return np.random.default_rng([seed, position])


def refine_pattern(fits: Fits, settings: SeriesSettings, data: PatternData, position: int,
                   previous: SeriesEntry | None, executor: Executor | None = None, *,
                   ensemble: tuple[dict | None, ...] = (), hand_out: bool = False) -> SeriesEntry | EnsembleRequest:
    """Refine one pattern seeded from ``previous`` (a cold start from the plan when None).

    A Rietveld fit's fallback ensemble runs its starts on ``executor``; with ``hand_out``, the starts
    whose fits ``ensemble`` (``EnsembleRequest.candidates`` of an earlier call) does not hold are handed
    back instead, as an ``EnsembleRequest``, for the caller to run and call again with every candidate."""
    rng = _pattern_rng(settings.seed, position)
    if isinstance(fits, RietveldFits):
        outcome = _refine_rietveld(fits, settings, data, position, previous, rng, executor, ensemble, hand_out)
        if isinstance(outcome, EnsembleRequest):
            return outcome
        result, phases, flags, sequential_rwp = outcome
    else:
        result, phases, flags, sequential_rwp = _refine_whole_pattern(fits, settings, data, previous, rng, executor)
    if previous is not None:
        flags.insert(0, "seeded")
    return SeriesEntry(data.name, position, fits.kind, result, phases, flags, sequential_rwp,
                       previous.name if previous is not None else None)


def _jumped(before: list[PhaseResult], after: list[PhaseResult], settings: SeriesSettings) -> bool:
    """Whether a cell length moved more than ``jump_fraction`` (relative)."""
    old, new = cell_lengths(before), cell_lengths(after)
    return bool(np.any(np.abs(new - old) > settings.jump_fraction * old))


def _degraded(result: FitResult, previous: SeriesEntry | None, settings: SeriesSettings, held: set[str]) -> bool:
    # A parameter the neighbour already held at the same bound (a profile term at zero, say) is no
    # new failure, and an ensemble of cell starts cannot move it.
    # Nor is a profile term at its physical limit (U, X or Y at zero: a width the noise cannot resolve).
    before = set(previous.result.at_bounds) if previous is not None else set()
    # Le Bail cycles that run out while χ² still creeps by ~1e-4 of itself (lines that overlap by accident
    # share a peak whose partition drifts) are no failed fit; cycles that diverged are.
    failed = result.diverged if isinstance(result, RefinementResult) and result.method == "lebail" \
        else not result.converged
    if set(result.at_bounds) - held - before - set(PROFILE_NAMES) or failed:
        return True
    if previous is None:
        return result.statistics.gof > settings.cold_gof
    return result.statistics.rwp > settings.rwp_jump * previous.result.statistics.rwp


def _refine_rietveld(fits: RietveldFits, settings: SeriesSettings, data: PatternData, position: int,
                     previous: SeriesEntry | None, rng: np.random.Generator, executor: Executor | None,
                     ensemble: tuple[dict | None, ...], hand_out: bool):
    seed_values = _seed(previous.result) if previous is not None and isinstance(previous.result, RietveldResult) else {}
    if seed_values:
        # The cell of a phase not found in the neighbour is undetermined there (it wanders with the
        # noise): start it from the plan's cell instead, where a phase about to appear is sought.
        cold = fits.cold_start()
        for phase in previous.result.phases:
            if not phase_found(phase, previous.result):
                seed_values |= {name: value for name, value in cold.items() if name.startswith(f"{phase.name}:x")}
    seeded = ensemble[0] if ensemble else None
    result = RietveldResult.from_dict(seeded) if seeded is not None else fits.fit(data, seed_values)
    flags: list[str] = []
    sequential_rwp = result.statistics.rwp
    absent = _absent(result)
    if settings.fallback and _degraded(result, previous, settings, absent | _of_phases_not_found(result)):
        around = seed_values if seed_values else fits.cold_start()
        # The first start is that of the fit from the neighbour; every start is drawn whether or not its fit is known, so
        # the same starts come from the pattern's stream on every call.
        starts = _ensemble_starts(around, settings.ensemble_starts, settings.cell_spread, rng)
        known = list(ensemble) + [None] * (len(starts) - len(ensemble))
        known[0] = result.to_dict() if seeded is None else seeded
        missing = [index for index in range(1, len(starts)) if known[index] is None]
        if missing and hand_out:
            return EnsembleRequest(position, tuple(known), tuple(start if index in missing else None
                                                                 for index, start in enumerate(starts)))
        tasks = [FitTask(fits, data, starts[index], index) for index in missing]
        for task, outcome in parallel_map(run_fit, tasks, executor=executor):
            known[task.index] = outcome["document"]
        candidates = [result] + [RietveldResult.from_dict(document) for document in known[1:] if document is not None]
        best = min(candidates, key=lambda r: r.statistics.reduced_chi2)
        if best is not result:
            flags.append("ensemble")
        result = best
        logger.info("%s: Rwp %.4f degraded; ensemble of %d starts: Rwp %.4f", data.source, sequential_rwp,
                    len(candidates), result.statistics.rwp)
    result = _choose_phases(fits, settings, data, result, previous)
    absent = _absent(result)
    if set(result.at_bounds) - absent:
        flags.append("at_bound")
    if absent:
        flags.append("phase_absent")
    return result, result.phases, flags, sequential_rwp


# Kass & Raftery (1995): a difference of Schwarz's criterion below 2 is "not worth more than a bare mention".
BIC_TIE = 2.0
# The Wald statistic (weight fraction / esd)² approximates the rise of χ² that leaving a phase out costs: a
# phase whose statistic exceeds this many times the Schwarz penalty of its parameters is not refitted
# without it (the linearisation would have to be off by that factor for the refit to be preferred).
WALD_MARGIN = 4.0


def _choose_phases(fits: RietveldFits, settings: SeriesSettings, data: PatternData, result: RietveldResult,
                   previous: SeriesEntry | None) -> RietveldResult:
    """The fit of ``result``'s phases or of those less one, whichever Schwarz's (1978) criterion prefers.

    A phase absent from the pattern whose cell is refined finds the noise where it fits best: its scale
    is the largest of many nearly independent trials over the cell's range, and its weight fraction
    comes out a few esd above zero (2 % at 3 esd, say) with no phase there; a phase whose cell can take
    the metric of another (a tetragonal cell with c = a) shares that one's lines and takes a share of its
    fraction.  Dropping each phase in turn and weighing the χ² it saved against ln N per parameter it
    adds (its scale and cell at least) removes both; ``_preferred`` chooses among the fits.  A phase
    whose Wald statistic is far above its penalty (``WALD_MARGIN``) is not refitted without it: the
    refit could not win but where another phase takes its lines over, and then only a tie."""
    present = [phase for phase in result.phases if f"{phase.name}:scale" not in _absent(result)]
    if len(present) < 2:
        return result
    held = tuple(sorted(name.split(":")[0] for name in _absent(result)))
    start = _seed(result)
    points = math.log(result.statistics.points)
    candidates = [result]
    for phase in present:
        varied = sum(p.esd is not None for p in result.parameters if p.name.startswith(f"{phase.name}:"))
        esd = phase.weight_fraction_esd
        if esd and (phase.weight_fraction / esd) ** 2 > WALD_MARGIN * varied * points:
            continue
        candidates.append(fits.fit(data, start, held + (phase.name,)))
    chosen = _preferred(candidates, previous, settings)
    if chosen is not result:
        logger.info("%s: %s left out (Schwarz criterion %.1f against %.1f with every phase)", data.source,
                    ", ".join(p.name for p in chosen.phases if f"{p.name}:scale" in _absent(chosen)
                              and f"{p.name}:scale" not in _absent(result)),
                    chosen.statistics.information_criterion(), result.statistics.information_criterion())
    return chosen


def _preferred(candidates: list[RietveldResult], previous: SeriesEntry | None,
               settings: SeriesSettings) -> RietveldResult:
    """Of fits of one pattern with different phase sets, the lowest Schwarz criterion; among those within
    ``BIC_TIE`` of it, which the data cannot tell apart, the fewest phases, then the set closest to the
    phases the neighbour found (a phase persists along a series), then the one whose cells did not jump
    from the neighbour's."""
    best = min(c.statistics.information_criterion() for c in candidates)
    near = [c for c in candidates if c.statistics.information_criterion() <= best + BIC_TIE]
    before = ({phase.name: phase for phase in previous.result.phases if phase_found(phase, previous.result)}
              if previous is not None and isinstance(previous.result, RietveldResult) else {})

    def departure(candidate: RietveldResult) -> tuple[int, int, bool, float]:
        found = [phase for phase in candidate.phases if phase_found(phase, candidate)]
        kept = [phase for phase in found if phase.name in before]
        return (len(candidate.phases) - len(_absent(candidate)), len(set(before) ^ {phase.name for phase in found}),
                _jumped([before[phase.name] for phase in kept], kept, settings),
                candidate.statistics.information_criterion())
    return min(near, key=departure)


def _absent(result: RietveldResult) -> set[str]:
    """The scales held at their bound, zero (a held parameter sits within a small fraction of its
    range of the bound, not on it), or left out of the fit at zero (``_choose_phases``): phases absent
    from this pattern, a result, not a failed fit."""
    return {p.name for p in result.parameters if p.name.endswith(":scale")
            and (p.at_bound or (not p.refined and p.value == 0.0))}


def _of_phases_not_found(result: RietveldResult) -> set[str]:
    """The parameters at a bound of the phases ``result`` did not find: a cell or B of a phase with no
    intensity is undetermined, and wandering to its bound is no failed fit."""
    lost = {phase.name for phase in result.phases if not phase_found(phase, result)}
    return {name for name in result.at_bounds if ":" in name and name.split(":")[0] in lost}


def phase_found(phase: PhaseResult, result: RietveldResult) -> bool:
    """Whether the phase's scale is free of its bound and its weight fraction exceeds 3 esd."""
    return (f"{phase.name}:scale" not in result.at_bounds and phase.weight_fraction_esd is not None
            and phase.weight_fraction > 3 * phase.weight_fraction_esd)


def without_intensities(result: RefinementResult) -> RefinementResult:
    """``result`` with its line intensities unknown: as a neighbour it seeds the profile, zero and
    background, and every line starts from the same intensity."""
    return replace(result, line_intensity=np.full(len(result.line_intensity), np.nan))


def line_fwhm(result: RefinementResult) -> np.ndarray:
    """The Thompson–Cox–Hastings (1987) FWHM (degrees 2θ) of each of ``result``'s lines."""
    from powdex.refinement.profile import tch_widths

    values = {parameter.name: parameter.value for parameter in result.parameters}
    # Z, GSAS-II's constant Lorentzian term, is listed only where it is refined or not zero.
    gamma, *_ = tch_widths(np.radians(result.line_two_theta / 2), *(values[name] for name in "UVWXY"),
                           values.get("Z", 0.0), derivatives=False)
    return gamma


def lines_split(neighbour: RefinementResult, result: RefinementResult, *, fwhm: float = SPLIT_FWHM) -> bool:
    """Whether two lines of ``neighbour`` that were one peak (closer than ``fwhm`` FWHM) stand apart in
    ``result`` (farther than that): the partition of that peak between them was carried, not measured."""
    before = {tuple(hkl): position for hkl, position in zip(neighbour.hkl.tolist(), neighbour.line_two_theta)}
    shared = [k for k, hkl in enumerate(result.hkl.tolist()) if tuple(hkl) in before]
    if len(shared) < 2:
        return False
    old = np.array([before[tuple(result.hkl[k].tolist())] for k in shared])
    new, width = result.line_two_theta[shared], line_fwhm(result)[shared]
    order = np.argsort(old)
    old, new, width = old[order], new[order], width[order]
    # Neighbours in the old order: any pair that was one peak is adjacent there.
    was_one = np.diff(old) < fwhm * width[1:]
    apart = np.abs(np.diff(new)) > fwhm * width[1:]
    return bool(np.any(was_one & apart))


def _refine_whole_pattern(fits: WholePatternFits, settings: SeriesSettings, data: PatternData,
                          previous: SeriesEntry | None, rng: np.random.Generator, executor: Executor | None):
    neighbour = previous.result if previous is not None and isinstance(previous.result, RefinementResult) else None
    cell = neighbour.cell if neighbour is not None else fits.cold_cell()
    # The reflection list is regenerated from the neighbour's cell; its intensities are carried.
    result = fits.fit(data, cell, neighbour)
    flags: list[str] = []
    sequential_rwp = result.statistics.rwp
    candidates = [(result, [])]
    jumped = neighbour is not None and (
        _jumped([fits.phase_result(neighbour)], [fits.phase_result(result)], settings) or lines_split(neighbour, result))
    degraded = _degraded(result, previous, settings, set())
    if jumped:
        # The carried partition of a line that now splits is wrong however well the sum fits: start over.
        candidates = [(fits.fit(data, cell, without_intensities(neighbour)), ["intensities_reset"])]
        degraded = _degraded(candidates[0][0], previous, settings, set())
    elif degraded and neighbour is not None:
        candidates.append((fits.fit(data, cell, without_intensities(neighbour)), ["intensities_reset"]))
        degraded = all(_degraded(r, previous, settings, set()) for r, _ in candidates)
    if settings.fallback and degraded:
        reset = without_intensities(neighbour) if neighbour is not None else None
        spread = settings.cell_spread
        for _ in range(1 + ESCALATIONS):
            # The engine's ensemble of Pawley fits finds the basin; Le Bail refines from the best of them.
            pawley = fits.fit(data, cell, reset, method="pawley", starts=settings.ensemble_starts,
                              seed=int(rng.integers(2 ** 31)), cell_error=spread, executor=executor)
            found = pawley if fits.phase.method == "pawley" else fits.fit(data, pawley.cell, pawley)
            candidates.append((found, ["ensemble"] + (["intensities_reset"] if neighbour is not None else [])))
            if not _degraded(found, previous, settings, set()):
                break
            logger.info("%s: ensemble within ±%.3g still degraded (Rwp %.4f); drawn again within ±%.3g",
                        data.source, spread, found.statistics.rwp, 2 * spread)
            spread *= 2
    result, chosen = min(candidates, key=lambda pair: pair[0].statistics.reduced_chi2)
    flags += chosen
    if result.at_bounds:
        flags.append("at_bound")
    if chosen:
        logger.info("%s: carried-intensity fit Rwp %.4f; kept Rwp %.4f (%s)", data.source, sequential_rwp,
                    result.statistics.rwp, " ".join(chosen))
    return result, [fits.phase_result(result)], flags, sequential_rwp


@dataclass(frozen=True)
class ChainTask:
    """Patterns refined in a chain, each from the one before it in the chain, the first from ``previous``
    (the chain's pattern before them; the plan when None); ``done`` holds those already recorded.
    ``ensemble``: the fallback ensemble's candidates known for the first pattern not done
    (``refine_pattern``); ``hand_out``: a pattern whose ensemble has starts left to fit ends the task
    (``EnsembleRequest``)."""

    fits: Fits
    settings: SeriesSettings
    patterns: tuple[PatternData, ...]
    positions: tuple[int, ...]
    done: tuple[dict | None, ...]
    journal: Journal | None
    chain: int = 0
    previous: SeriesEntry | None = None
    ensemble: tuple[dict | None, ...] = ()
    hand_out: bool = False


def run_chain(task: ChainTask, executor: Executor | None = None) -> dict:
    """Refine the task's patterns in order, recording each as it finishes — in the worker, so that a
    driver killed mid-chain loses nothing finished.  Returns their ``documents`` and the chain's ``timing``
    (``TaskTiming`` as a dict); with ``hand_out``, the patterns before the first whose ensemble is due,
    and its ``EnsembleRequest`` as ``ensemble``."""
    clock = _Clock()
    previous = task.previous
    documents = []
    fitted = 0
    ensemble = task.ensemble
    for data, position, done in zip(task.patterns, task.positions, task.done):
        if done is not None:
            entry = SeriesEntry.from_dict(done)
        else:
            outcome = refine_pattern(task.fits, task.settings, data, position, previous, executor, ensemble=ensemble,
                                     hand_out=task.hand_out)
            ensemble = ()
            if isinstance(outcome, EnsembleRequest):
                return {"documents": documents, "ensemble": outcome,
                        "timing": asdict(clock.timing("chain", f"chain {task.chain}", fitted))}
            entry = outcome
            fitted += 1
            if task.journal is not None:
                task.journal.record(entry.name, entry.to_dict())
            logger.info("%s: Rwp %.4f, GoF %.3f %s", entry.name, entry.result.statistics.rwp,
                        entry.result.statistics.gof, " ".join(entry.flags))
        documents.append(entry.to_dict())
        previous = entry
    return {"documents": documents, "timing": asdict(clock.timing("chain", f"chain {task.chain}", fitted))}


def refine_series(patterns: list[Pattern], plan: RefinementPlan, *, out: str | Path | None = None,
                  order: str | Path = "name", reverse: bool = False, fallback: bool = True, ensemble_starts: int = 8,
                  cell_spread: float = 0.02, rwp_jump: float = 1.5, jump_fraction: float = 0.005,
                  cold_gof: float = 1.5, seed: int = 0, chains: int = 1, new_phase_peaks: int | None = 15,
                  executor: Executor | None = None, restart: bool = False) -> SeriesRefinementResult:
    """Refine ``patterns`` in order, each seeded from its refined neighbour; with ``fallback``,
    a degraded fit is refitted as an ensemble of ``ensemble_starts``.  With ``chains`` = 1 the
    series is one chain, run here, its ensembles on ``executor``; with more, pattern k is seeded
    from pattern k − ``chains`` and the interleaved chains run on ``executor`` at once, then a
    pattern that fits worse than its neighbour in the series, or lacks a phase the neighbour found,
    is refitted from it (``rejoined``).
    A pattern still fitting poorly (GoF above ``cold_gof``) with at least ``new_phase_peaks`` peaks
    that no phase explains gets a new phase proposed from them (``powdex.series.newphase``; None: never).
    With ``out``, each pattern's result is recorded there as it finishes and a rerun resumes.
    The executor is held open from the first task to the last, so its workers start, and import the
    refinement code, once."""
    if not patterns:
        raise RefinementError("a series needs at least one pattern")
    if chains < 1:
        raise RefinementError(f"chains {chains}: a series needs at least one chain")
    ledger = _Ledger()
    ordered = order_patterns(list(patterns), order)
    if reverse:
        ordered.reverse()
    fits = fits_of(plan)
    settings = SeriesSettings(fallback, ensemble_starts, cell_spread, rwp_jump, jump_fraction, cold_gof, seed)
    # The instrument by a digest of its values, not its path: a rerun resumes wherever the file now lies, and not
    # after it changed.
    instrument = fits.instrument
    digest = (hashlib.sha256(instrument.with_values(source="", notes=()).to_toml().encode()).hexdigest()[:16]
              if instrument is not None else None)
    fingerprinted = {"plan": plan.model_dump(exclude={"folder", "instrument"}), "order": str(order), "reverse": reverse,
                     "instrument": digest,
                     **vars(settings), "chains": chains, "new_phase_peaks": new_phase_peaks}
    journal = Journal(Path(out) / "journal", fingerprinted, restart=restart) if out is not None else None
    finished = journal.finished() if journal is not None else {}
    data = [PatternData.of(p) for p in ordered]
    with executor if executor is not None else nullcontext():
        if chains == 1 or len(data) == 1:
            outcome = run_chain(ChainTask(fits, settings, tuple(data), tuple(range(len(data))),
                                          tuple(finished.get(d.name) for d in data), journal), executor)
            entries = [SeriesEntry.from_dict(d) for d in outcome["documents"]]
            ledger.add([outcome["timing"]])
        else:
            entries = _Chains(data, fits, settings, chains, finished, journal).run(executor or InProcess(), ledger)
        make_continuous(entries, jump_fraction)
        if new_phase_peaks is not None:
            _propose_new_phases(entries, data, settings, new_phase_peaks, finished, journal, executor, ledger)
    series = SeriesRefinementResult(entries, ledger.close())
    workers = executor.workers if executor is not None else 1
    logger.info("%d patterns: %.1f CPU s in all; on %d workers of a quiet machine at best %.1f s",
                len(entries), sum(t.cpu_seconds for t in series.timings), workers, series.ideal_seconds(workers))
    return series


@dataclass(frozen=True)
class ProposalTask:
    """A pattern's unexplained peaks to index (``powdex.series.newphase``)."""

    data: PatternData
    calculated: np.ndarray
    background: np.ndarray
    min_peaks: int
    seed: int


def run_proposal(task: ProposalTask) -> dict:
    clock = _Clock()
    found = propose_new_phase(task.data.pattern(), task.calculated, task.background, min_peaks=task.min_peaks,
                              seed=task.seed)
    return {"document": {"proposal": None if found is None else found.to_dict()},
            "timing": asdict(clock.timing("proposal", task.data.name, 0))}


def _propose_new_phases(entries: list[SeriesEntry], data: list[PatternData], settings: SeriesSettings,
                        min_peaks: int, finished: dict, journal: Journal | None, executor: Executor | None,
                        ledger: _Ledger) -> None:
    """Each pattern's search is independent of the others': all run on the executor at once."""
    poor = [k for k, entry in enumerate(entries) if entry.result.statistics.gof > settings.cold_gof]
    documents = {k: finished[f"proposal:{data[k].name}"] for k in poor if f"proposal:{data[k].name}" in finished}
    tasks = [ProposalTask(data[k], entries[k].result.calculated, entries[k].result.background, min_peaks,
                          settings.seed) for k in poor if k not in documents]
    position = {data[k].name: k for k in poor}
    arrived = []
    for task, outcome in parallel_map(run_proposal, tasks, executor=executor):
        k = position[task.data.name]
        documents[k] = outcome["document"]
        arrived.append(outcome["timing"])
        if journal is not None:
            journal.record(f"proposal:{data[k].name}", documents[k])
    ledger.add(arrived)
    for k in poor:
        if documents[k]["proposal"] is not None:
            entries[k].proposal = documents[k]["proposal"]
            entries[k].flags.append("new_phase")


def lacks_a_phase_of(entry: SeriesEntry, neighbour: SeriesEntry) -> list[str]:
    """The phases ``neighbour``'s fit found (``phase_found``) that ``entry``'s did not."""
    if not (isinstance(entry.result, RietveldResult) and isinstance(neighbour.result, RietveldResult)):
        return []
    own = {phase.name for phase in entry.result.phases if phase_found(phase, entry.result)}
    return [phase.name for phase in neighbour.result.phases
            if phase.name not in own and phase_found(phase, neighbour.result)]


def wants_rejoin(entry: SeriesEntry, neighbour: SeriesEntry, settings: SeriesSettings) -> bool:
    """Whether ``entry`` (of one chain) is refitted seeded from ``neighbour`` (the pattern before it, of
    another chain): its Rwp exceeds ``rwp_jump`` times the neighbour's, or it lacks a phase the neighbour
    found."""
    return (entry.result.statistics.rwp > settings.rwp_jump * neighbour.result.statistics.rwp
            or bool(lacks_a_phase_of(entry, neighbour)))


@dataclass(frozen=True)
class RejoinTask:
    """A pattern refitted seeded from its neighbour of another chain; ``ensemble`` and ``hand_out`` as a
    ``ChainTask``'s."""

    fits: Fits
    settings: SeriesSettings
    data: PatternData
    position: int
    neighbour: SeriesEntry
    ensemble: tuple[dict | None, ...] = ()
    hand_out: bool = False


def run_rejoin(task: RejoinTask) -> dict:
    """The refit's document, with the neighbour's Rwp that tells which state of the neighbour seeded it;
    with ``hand_out``, its ``EnsembleRequest`` as ``ensemble`` where its ensemble has starts left to fit."""
    clock = _Clock()
    refit = refine_pattern(task.fits, task.settings, task.data, task.position, task.neighbour,
                           ensemble=task.ensemble, hand_out=task.hand_out)
    if isinstance(refit, EnsembleRequest):
        return {"ensemble": refit, "timing": asdict(clock.timing("rejoin", task.data.name, 0))}
    refit.flags.append("rejoined")
    return {"document": refit.to_dict() | {"neighbour_rwp": task.neighbour.result.statistics.rwp},
            "timing": asdict(clock.timing("rejoin", task.data.name, 1))}


# Patterns of a chain per task: short enough that a worker whose chain ran ahead takes up refits meanwhile.
SEGMENT = 3


class _Chains:
    """Interleaved chains and their rejoin refits on one executor, each task handed out as soon as what it
    depends on is known.  A chain runs in segments of ``SEGMENT`` patterns, each task seeded from the
    chain's last result.  Pattern k is judged, in series order, against its neighbour's final result (its
    chain result, or the refit that replaced it): refitted from it where it fits worse than it or lacks
    a phase it found (``wants_rejoin``), the fit of lower ``Statistics.information_criterion`` kept.  A refit the
    chains' own results call for starts as soon as both are known, before the neighbour's judgement: the
    neighbour is rarely replaced, and where it is, the pattern is refitted again from the replacement.
    Refits are recorded apart from the chains' records, which a resumed chain continues from; every
    task is a function of the results it is seeded from, so the results do not depend on the workers.

    A task (chain segment or refit) whose pattern needs its fallback ensemble hands it back
    (``EnsembleRequest``): each start becomes a task (``run_fit``), its fit recorded as it arrives, and
    once all are in the task is queued again, resumed at that pattern with every candidate."""

    def __init__(self, data: list[PatternData], fits: Fits, settings: SeriesSettings, chains: int, finished: dict,
                 journal: Journal | None):
        self.data, self.fits, self.settings, self.chains, self.journal = data, fits, settings, chains, journal
        self.known = dict(finished)
        self.own: dict[int, SeriesEntry] = {}  # each pattern's result in its chain
        self.final: list[SeriesEntry] = []  # judged, in series order
        self.handed: dict[int, int] = {chain: chain for chain in range(chains)}  # next position of each chain
        self.asked: set[str] = set()
        self.ready: list[tuple[int, Any, Any]] = []
        self.in_flight: dict[int, Any] = {}
        self.tickets = 0
        # What each result came from, for the timings: the ticket of the segment that refined each
        # position, of the refit behind each rejoin key, and the tickets each task was seeded from.
        self.segment_of: dict[int, int] = {}
        self.refit_of: dict[str, int] = {}
        self.depends: dict[int, tuple[int, ...]] = {}
        # Ensembles whose starts are out, by the ticket of each start's task.
        self.starts: dict[int, tuple[_Ensemble, int]] = {}

    def ensemble_key(self, position: int, refit: RejoinTask | None = None) -> str:
        """The journal key of the candidates of pattern ``position``'s ensemble in its chain, or in ``refit``,
        less the candidate's index."""
        return f"{self.key(refit)}:ensemble" if refit is not None else f"ensemble:{self.data[position].name}"

    def candidates(self, key: str) -> tuple[dict | None, ...]:
        """An ensemble's candidates the journal holds (an empty tuple where none)."""
        known = tuple(self.known.get(f"{key}:{index}") for index in range(self.settings.ensemble_starts))
        return known if any(document is not None for document in known) else ()

    def key(self, task: RejoinTask) -> str:
        # A refit from a neighbour that was itself refitted is kept apart from the one from the neighbour's
        # chain result: a rerun finds both and refits neither.
        return f"rejoin:{task.data.name}" + (":after-rejoin" if "rejoined" in task.neighbour.flags else "")

    def recorded(self, k: int, neighbour: SeriesEntry) -> dict | None:
        document = self.known.get(self.key(RejoinTask(self.fits, self.settings, self.data[k], k, neighbour)))
        if document is None or document["seeded_from"] != neighbour.name or \
                document.get("neighbour_rwp") != neighbour.result.statistics.rwp:
            return None
        return document

    def queue(self, fn, task, depends: tuple[int | None, ...]) -> int:
        """Queue a task, seeded from the tasks ``depends`` names; ``dispatch`` hands it out."""
        self.ready.append((self.tickets, fn, task))
        self.depends[self.tickets] = tuple(d for d in depends if d is not None)
        self.tickets += 1
        return self.tickets - 1

    def dispatch(self, executor: Executor) -> None:
        """Hand out queued tasks while a worker is free: ensemble starts first, then chain segments, then
        refits.  The chains are the series' critical path, and a chain waiting for its ensemble is the one
        behind (its pattern took the fit from its neighbour and will take the phase choice besides); a refit that takes a
        worker from a chain delays everything after it."""
        self.ready.sort(key=lambda queued: (not isinstance(queued[2], FitTask), isinstance(queued[2], RejoinTask),
                                            queued[0]))
        while self.ready and len(self.in_flight) < executor.workers:
            ticket, fn, task = self.ready.pop(0)
            executor.submit(call_indexed, (fn, ticket, task))
            self.in_flight[ticket] = task

    def next_segment(self, chain: int) -> None:
        positions = tuple(range(self.handed[chain], len(self.data), self.chains))[:SEGMENT]
        if not positions:
            return
        self.handed[chain] = positions[-1] + self.chains
        self.segment(chain, positions, (self.segment_of.get(positions[0] - self.chains),))

    def segment(self, chain: int, positions: tuple[int, ...], depends: tuple[int | None, ...],
                ensemble: tuple[dict | None, ...] | None = None) -> None:
        """Queue the chain's task of ``positions``; ``ensemble``: the candidates of its first pattern not
        done (by default those the journal holds)."""
        done = tuple(self.known.get(self.data[k].name) for k in positions)
        if ensemble is None:
            first = next((k for k, document in zip(positions, done) if document is None), None)
            ensemble = self.candidates(self.ensemble_key(first)) if first is not None else ()
        ticket = self.queue(run_chain, ChainTask(
            self.fits, self.settings, tuple(self.data[k] for k in positions), positions, done, self.journal, chain,
            self.own.get(positions[0] - self.chains), ensemble, hand_out=True), depends)
        self.segment_of |= {k: ticket for k in positions}

    def refit(self, k: int, neighbour: SeriesEntry) -> None:
        task = RejoinTask(self.fits, self.settings, self.data[k], k, neighbour, hand_out=True)
        task = replace(task, ensemble=self.candidates(self.ensemble_key(k, task)))
        if self.key(task) not in self.asked:
            self.asked.add(self.key(task))
            seeded_by = self.refit_of.get(self.key(RejoinTask(self.fits, self.settings, self.data[k - 1], k - 1,
                                                              self.final[k - 2]))) \
                if "rejoined" in neighbour.flags and k >= 2 else self.segment_of.get(k - 1)
            self.refit_of[self.key(task)] = self.queue(run_rejoin, task, (self.segment_of[k], seeded_by))

    def judge(self) -> None:
        """Judge the patterns whose chain result and neighbour's final result are known, in series order;
        ask for the refits they need, and for those the chains' own results call for."""
        while len(self.final) < len(self.data) and len(self.final) in self.own:
            k = len(self.final)
            own = self.own[k]
            if k == 0 or not wants_rejoin(own, self.final[k - 1], self.settings):
                self.final.append(own)
                continue
            neighbour = self.final[k - 1]
            document = self.recorded(k, neighbour)
            if document is None:
                self.refit(k, neighbour)
                break
            refit = SeriesEntry.from_dict(document)
            if refit.result.statistics.information_criterion() < own.result.statistics.information_criterion():
                logger.info("%s: Rwp %.4f in its chain; %.4f seeded from %s", self.data[k].name,
                            own.result.statistics.rwp, refit.result.statistics.rwp, neighbour.name)
                self.final.append(refit)
            else:
                self.final.append(own)
        for k in range(len(self.final), len(self.data)):
            if k in self.own and k - 1 in self.own and wants_rejoin(self.own[k], self.own[k - 1], self.settings) \
                    and self.recorded(k, self.own[k - 1]) is None:
                self.refit(k, self.own[k - 1])

    def record(self, key: str, document: dict) -> None:
        self.known[key] = document
        if self.journal is not None:
            self.journal.record(key, document)

    def hand_out(self, ticket: int, task: ChainTask | RejoinTask, request: EnsembleRequest) -> None:
        """Queue each start of the ensemble that ``task`` (ticket ``ticket``) handed back, seeded by it."""
        assert isinstance(self.fits, RietveldFits), "only a Rietveld fit hands out its ensemble"
        ensemble = _Ensemble(task, ticket, request.position, list(request.candidates),
                             self.ensemble_key(request.position, task if isinstance(task, RejoinTask) else None))
        seeded = request.candidates[0]
        assert seeded is not None, "a handed-out ensemble carries the fit from the neighbour"
        if f"{ensemble.key}:0" not in self.known:
            self.record(f"{ensemble.key}:0", seeded)
        data = self.data[request.position]
        for index in request.missing:
            start = request.starts[index]
            assert start is not None
            fit = self.queue(run_fit, FitTask(self.fits, data, start, index), (ticket,))
            self.starts[fit] = (ensemble, index)
            ensemble.out.append(fit)

    def start_arrived(self, ticket: int, document: dict) -> None:
        """Record a start's fit; with the ensemble's last, queue its task again, resumed with every candidate."""
        ensemble, index = self.starts.pop(ticket)
        ensemble.candidates[index] = document
        self.record(f"{ensemble.key}:{index}", document)
        if any(candidate is None for candidate in ensemble.candidates):
            return
        depends = (ensemble.ticket, *ensemble.out)
        task, candidates = ensemble.task, tuple(ensemble.candidates)
        if isinstance(task, RejoinTask):
            self.refit_of[self.key(task)] = self.queue(run_rejoin, replace(task, ensemble=candidates), depends)
        else:
            positions = task.positions[task.positions.index(ensemble.position):]
            self.segment(task.chain, positions, depends, candidates)

    def run(self, executor: Executor, ledger: _Ledger) -> list[SeriesEntry]:
        arrived, order = [], []
        with executor:
            try:
                for chain in range(min(self.chains, len(self.data))):
                    self.next_segment(chain)
                self.dispatch(executor)
                while self.in_flight:
                    ticket, outcome = executor.next_result()
                    task = self.in_flight.pop(ticket)
                    arrived.append(outcome["timing"])
                    order.append(ticket)
                    if isinstance(task, FitTask):
                        self.start_arrived(ticket, outcome["document"])
                    elif isinstance(task, ChainTask):
                        for position, document in zip(task.positions, outcome["documents"]):
                            self.own[position] = SeriesEntry.from_dict(document)
                        if "ensemble" in outcome:
                            self.hand_out(ticket, task, outcome["ensemble"])
                        else:
                            self.next_segment(task.chain)
                    elif "ensemble" in outcome:
                        self.hand_out(ticket, task, outcome["ensemble"])
                    else:
                        self.record(self.key(task), outcome["document"])
                    self.judge()
                    self.dispatch(executor)
            finally:
                executor.discard()
        place = {ticket: k for k, ticket in enumerate(order)}
        ledger.add(arrived, [tuple(place[d] for d in self.depends[ticket] if d in place) for ticket in order])
        return self.final


@dataclass
class _Ensemble:
    """A fallback ensemble whose starts run as tasks of their own: the task that handed it back (and its
    ticket) to resume once every candidate is known, the pattern's position, the candidates so far, the
    journal key they are recorded under (less the index), and the tickets of the start tasks."""

    task: ChainTask | RejoinTask
    ticket: int
    position: int
    candidates: list[dict | None]
    key: str
    out: list[int] = field(default_factory=list)

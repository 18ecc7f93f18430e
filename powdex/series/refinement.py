"""Sequential Rietveld refinement of a series of patterns, with ensembles where it fails.

Patterns are ordered (number in the file name, a metadata value such as
temperature or time, or a list of file names from a CSV) and each is refined
from its refined neighbour's parameters (forward or reverse).  A fit that
degrades — Rwp more than ``rwp_jump`` times the neighbour's, a freed parameter
held at a bound, or no convergence — is refitted as an ensemble: starts with
every cell length drawn uniformly within ±``cell_spread`` of the neighbour's
(from ``seed``), run on the executor, the lowest χ² kept.  Plain sequential
seeding cannot cross a jump of the cell larger than about a peak width (a
phase transformation): narrow peaks give no gradient toward lines that far.

Each pattern's result is recorded (``Journal``) as it finishes, so a rerun with
the same plan and options resumes after the last finished pattern.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from powdex.optim.executors import Executor
from powdex.optim.journal import Journal
from powdex.optim.parallel import parallel_map
from powdex.patterns import Pattern
from powdex.refinement.errors import RefinementError
from powdex.refinement.plan import RefinementPlan
from powdex.refinement.rietveld import RietveldPhase, RietveldResult, rietveld_refine

logger = logging.getLogger(__name__)

FLAGS = ("seeded", "ensemble", "at_bound", "phase_absent", "cell_jump")


@dataclass
class SeriesEntry:
    """One pattern of the series: its refinement and flags (``seeded`` from a neighbour,
    ``ensemble`` when the fallback chose the result, ``at_bound`` when a freed parameter
    is held at a bound, ``phase_absent`` when a phase's scale is held at zero, ``cell_jump`` when a cell length moved more than ``jump_fraction``)."""

    name: str
    position: int
    result: RietveldResult
    flags: list[str]
    sequential_rwp: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "position": self.position, "result": self.result.to_dict(),
                "flags": self.flags, "sequential_rwp": self.sequential_rwp}

    @classmethod
    def from_dict(cls, d: dict) -> SeriesEntry:
        return cls(d["name"], d["position"], RietveldResult.from_dict(d["result"]), d["flags"], d["sequential_rwp"])


@dataclass
class SeriesRefinementResult:
    entries: list[SeriesEntry] = field(default_factory=list)

    def table(self) -> list[dict]:
        """One row per pattern: Rwp, GoF, flags, the parameters held at a bound (no esd), then per
        phase cell ± esd, volume, weight fraction ± esd and R_Bragg."""
        rows = []
        for entry in self.entries:
            result = entry.result
            row = {"position": entry.position, "pattern": entry.name, "rwp": result.statistics.rwp,
                   "gof": result.statistics.gof, "flags": " ".join(entry.flags),
                   "at_bounds": " ".join(result.at_bounds)}
            for phase in result.phases:
                for name, value, esd in zip(("a", "b", "c", "alpha", "beta", "gamma"), phase.cell, phase.cell_esd):
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
class FitTask:
    """One refinement for a worker (the pattern as arrays: everything pickles)."""

    arrays: tuple[np.ndarray, np.ndarray, np.ndarray]
    source: str
    wavelengths: tuple[float, ...]
    ratio: float
    radiation: str
    phases: tuple[RietveldPhase, ...]
    options: dict
    start: dict


def run_fit(task: FitTask) -> dict:
    pattern = Pattern(*task.arrays, source=task.source, wavelengths=task.wavelengths, ratio=task.ratio,
                      radiation=task.radiation, sigma_from_file=True)
    return rietveld_refine(pattern, list(task.phases), start=task.start, **task.options).to_dict()


def _task(pattern: Pattern, phases, options: dict, start: dict) -> FitTask:
    return FitTask((np.asarray(pattern.two_theta), np.asarray(pattern.intensity), np.asarray(pattern.sigma)),
                   pattern.source, tuple(pattern.wavelengths), pattern.ratio, pattern.radiation, tuple(phases),
                   options, start)


def _seed(result: RietveldResult) -> dict[str, float]:
    return {p.name: p.value for p in result.parameters}


def _cell_lengths(result: RietveldResult) -> np.ndarray:
    return np.array([length for phase in result.phases for length in phase.cell[:3]])


def _ensemble_starts(seed_values: dict[str, float], starts: int, spread: float, rng: np.random.Generator) -> list[dict]:
    """Starts with every reciprocal cell parameter (``<phase>:x<k>``) scaled by 1/f², f uniform in
    [1 − spread, 1 + spread] (a length scaled by f); the first start keeps the neighbour's values unchanged."""
    cell_names = [n for n in seed_values if re.fullmatch(r".+:x\d+", n)]
    out = [dict(seed_values)]
    for _ in range(starts - 1):
        start = dict(seed_values)
        for name in cell_names:
            start[name] = seed_values[name] / rng.uniform(1 - spread, 1 + spread) ** 2
        out.append(start)
    return out


def refine_series(patterns: list[Pattern], plan: RefinementPlan, *, out: str | Path | None = None,
                  order: str | Path = "name", reverse: bool = False, fallback: bool = True, ensemble_starts: int = 8,
                  cell_spread: float = 0.02, rwp_jump: float = 1.5, jump_fraction: float = 0.005, seed: int = 0,
                  executor: Executor | None = None, restart: bool = False) -> SeriesRefinementResult:
    """Refine ``patterns`` in order, each seeded from its refined neighbour; with ``fallback``,
    a degraded fit is refitted as an ensemble of ``ensemble_starts`` on ``executor``.  With
    ``out``, each pattern's result is recorded there as it finishes and a rerun resumes."""
    if not patterns:
        raise RefinementError("a series needs at least one pattern")
    ordered = order_patterns(list(patterns), order)
    if reverse:
        ordered.reverse()
    phases = plan.rietveld_phases()
    options = plan.refine_options()
    settings = {"plan": plan.model_dump(exclude={"folder"}), "order": str(order), "reverse": reverse,
                "fallback": fallback, "ensemble_starts": ensemble_starts, "cell_spread": cell_spread,
                "rwp_jump": rwp_jump, "seed": seed}
    journal = Journal(Path(out) / "journal", settings, restart=restart) if out is not None else None
    finished = journal.finished() if journal is not None else {}
    rng = np.random.default_rng(seed)
    series = SeriesRefinementResult()
    previous: RietveldResult | None = None
    for position, pattern in enumerate(ordered):
        name = pattern_name(pattern)
        # One draw per pattern whether it is refitted or resumed: a resumed run draws as the first did.
        pattern_rng = np.random.default_rng(rng.integers(2 ** 63))
        if name in finished:
            entry = SeriesEntry.from_dict(finished[name])
        else:
            entry = _refine_one(pattern, position, previous, phases, options, fallback, ensemble_starts, cell_spread,
                                rwp_jump, jump_fraction, pattern_rng, executor)
            if journal is not None:
                journal.record(name, entry.to_dict())
        logger.info("%s: Rwp %.4f, GoF %.3f %s", name, entry.result.statistics.rwp, entry.result.statistics.gof,
                    " ".join(entry.flags))
        series.entries.append(entry)
        previous = entry.result
    return series


def _refine_one(pattern, position, previous, phases, options, fallback, ensemble_starts, cell_spread, rwp_jump,
                jump_fraction, rng, executor) -> SeriesEntry:
    seed_values = _seed(previous) if previous is not None else {}
    result = RietveldResult.from_dict(run_fit(_task(pattern, phases, options, seed_values)))
    flags = ["seeded"] if previous is not None else []
    sequential_rwp = result.statistics.rwp
    # A scale held at zero is a phase absent from this pattern: a result, not a failed fit.
    absent = [name for name in result.at_bounds if name.endswith(":scale") and result.parameter(name).value <= 0]
    degraded = bool(set(result.at_bounds) - set(absent)) or not result.converged or (
        previous is not None and result.statistics.rwp > rwp_jump * previous.statistics.rwp)
    if fallback and degraded and previous is not None:
        starts = _ensemble_starts(seed_values, ensemble_starts, cell_spread, rng)
        tasks = [_task(pattern, phases, options, start) for start in starts[1:]]
        candidates = [result] + [RietveldResult.from_dict(document)
                                 for _, document in parallel_map(run_fit, tasks, executor=executor)]
        best = min(candidates, key=lambda r: r.statistics.reduced_chi2)
        if best is not result:
            flags.append("ensemble")
        result = best
        logger.info("%s: sequential Rwp %.4f degraded; ensemble of %d starts: Rwp %.4f", pattern.source,
                    sequential_rwp, len(candidates), result.statistics.rwp)
    if set(result.at_bounds) - set(absent):
        flags.append("at_bound")
    if absent:
        flags.append("phase_absent")
    if previous is not None:
        before, after = _cell_lengths(previous), _cell_lengths(result)
        if np.any(np.abs(after - before) > jump_fraction * before):
            flags.append("cell_jump")
    return SeriesEntry(pattern_name(pattern), position, result, flags, sequential_rwp)

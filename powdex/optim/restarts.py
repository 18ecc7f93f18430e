"""Restart strategies: where the local runs of an ensemble start.

Every starting point and every minimizer seed derives only from
``(seed, run index)``, so the set of results does not depend on which
executor runs them or in what order they finish.  A new strategy subclasses
``Strategy`` (see its docstring for what the engine calls when) and registers
with ``powdex.optim.registry.register_strategy``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, Strict
from scipy.stats import qmc

from powdex.optim.errors import ConfigError
from powdex.optim.minimizers import Minimizer
from powdex.optim.objective import Objective
from powdex.optim.registry import kinds_of, minimizer_classes, register_strategy, registered_union
from powdex.optim.resources import available_memory, format_bytes
from powdex.optim.result import Sense


@dataclass(frozen=True)
class Run:
    """One local run to do: the unit sent to executors and keyed in the store."""

    index: int
    start: np.ndarray
    sense: Sense
    seed: np.random.SeedSequence


# What the driver holds per run, at least: the planned run (start, seeds) and its
# result without its path (measured with tracemalloc: about 0.6 kB and 1 kB).
BYTES_PER_RUN = 1600


def check_ensemble_size(runs: int, dim: int) -> None:
    """Refuse, before any work, an ensemble whose runs cannot fit in memory."""
    need = runs * (BYTES_PER_RUN + 16 * dim)
    available = available_memory()
    if need > available:
        raise ConfigError(
            f"fitting.minimizer: {runs} runs need at least {format_bytes(need)} of memory "
            f"(about {format_bytes(need / runs)} per run, more with long paths), and {format_bytes(available)} "
            "are available; ask for fewer runs, or split the ensemble over several studies"
        )


def run_seed(seed: int, index: int, stream: int) -> np.random.SeedSequence:
    # stream 0 draws the starting point, stream 1 feeds the minimizer (NLopt):
    # independent streams, so one never shifts the other.
    return np.random.SeedSequence(seed, spawn_key=(index, stream))


class Strategy(BaseModel):
    """Base of every restart strategy: where the local runs of an ensemble start.

    A subclass declares ``kind: Literal["name"] = "name"`` and its options,
    implements ``starts``, and registers with ``register_strategy``.  The
    engine (``run_ensemble``) calls, in the driver:

    1. ``plan(objective)``: ``check(objective)`` (optional hook; the default
       asks the minimizer's ``check``), then ``starts(objective)`` (required:
       an array of shape (runs, dim), a pure function of the options and the
       objective, drawing random numbers only from ``run_seed(seed, i, 0)``),
       giving one ``Run`` per row with its sense and minimizer seed;
    2. ``fingerprint(objective)`` to key the runs in a results store;
    3. ``count`` and ``with_count(n)`` when the user asks for n runs.

    ``count_field`` names the option holding the number of runs (None: always
    one), ``uses_start`` whether the runs start from the objective's own start
    point, and ``prefix_stable()`` (optional; default True) whether the first n
    runs of a larger ensemble are this ensemble's n runs, so that a stored
    study may grow.
    """

    # Strict: a TOML string "25" or a float 1.0 is no count, and no setting is inf or NaN.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    kind: str
    # Typed as the union of the registered minimizers (in each subclass, below).
    minimizer: Minimizer
    seed: int = Field(default=0, ge=0)
    sense: Literal["min", "max", "both"] = "min"

    count_field: ClassVar[str | None] = None
    uses_start: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # pydantic copies the field into each subclass: each follows the registry too.
        registered_union(cls, "minimizer", minimizer_classes)

    @classmethod
    def examples(cls, minimizer: Minimizer) -> list[Strategy]:
        """Instances wrapping ``minimizer`` that the contract checks (``powdex.optim.testing``)
        run on two-parameter objectives: one per kind with default options; override where an
        option has no default."""
        return [cls(kind=kind, minimizer=minimizer) for kind in kinds_of(cls)]

    @property
    def count(self) -> int:
        return 1 if self.count_field is None else getattr(self, self.count_field)

    def with_count(self, count: int) -> Strategy:
        if self.count_field is None:
            if count != 1:
                raise ConfigError("fitting.minimizer: a bare minimizer makes one run; wrap it in spa or a design for more")
            return self
        return self.model_copy(update={self.count_field: count})

    def prefix_stable(self) -> bool:
        """Whether the first n runs of a larger ensemble are this ensemble's n runs."""
        return True

    def _sense(self, index: int) -> Sense:
        if self.sense == "both":
            # Alternate, so any prefix of the ensemble has as many minimum as
            # maximum searches (the Spotlight maps use 8+8, 16+16, 64+64).
            return "min" if index % 2 == 0 else "max"
        return self.sense

    def check(self, objective: Objective) -> None:
        self.minimizer.check(objective)

    def starts(self, objective: Objective) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement starts()")

    def plan(self, objective: Objective) -> list[Run]:
        self.check(objective)
        check_ensemble_size(self.count, objective.dim)
        return [
            Run(i, start, self._sense(i), run_seed(self.seed, i, 1))
            for i, start in enumerate(self.starts(objective))
        ]

    def fingerprint(self, objective: Objective) -> str:
        """Identifies the runs of this ensemble on ``objective`` (its name, key,
        bounds and, where used, start) up to the ensemble's size where a
        larger ensemble keeps the smaller one's runs, so a stored study can be
        extended but never resumed with runs made another way."""
        grows = self.count_field is not None and self.prefix_stable()
        identity = {
            "strategy": self.model_dump(mode="json", exclude={self.count_field} if grows else None),
            "objective": objective.identity(with_start=self.uses_start),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@register_strategy
class SingleRun(Strategy):
    """One run from the objective's own starting point: a bare minimizer."""

    kind: Literal["single"] = "single"

    uses_start: ClassVar[bool] = True

    def starts(self, objective: Objective) -> np.ndarray:
        if objective.x0 is None:
            raise ConfigError(f"objective '{objective.name}' has no starting point for a single run")
        return objective.x0[None, :]


class BoundedStrategy(Strategy):
    """A strategy drawing starts within the bounds: refuses objectives without finite bounds."""

    def check(self, objective: Objective) -> None:
        if not objective.bounds.finite:
            raise ConfigError(
                f"fitting.minimizer: {self.kind} draws starts within bounds and needs finite bounds on every "
                f"parameter; objective '{objective.name}' is unbounded in parameters "
                f"{objective.bounds.unbounded_parameters()}"
            )
        super().check(objective)


@register_strategy
class Spa(BoundedStrategy):
    """atomicrex's Spa: ``max_iter`` uniformly random starts within the bounds."""

    kind: Literal["spa"] = "spa"
    max_iter: PositiveInt = 25

    count_field: ClassVar[str] = "max_iter"

    def starts(self, objective: Objective) -> np.ndarray:
        lower, upper = objective.bounds.lower, objective.bounds.upper
        unit = np.array([
            np.random.default_rng(run_seed(self.seed, i, 0)).random(objective.dim) for i in range(self.max_iter)
        ])
        return lower + (upper - lower) * unit


@register_strategy
class Design(BoundedStrategy):
    """Starts on a space-filling design: scrambled Sobol or Latin hypercube
    (mystic's lattice and buckshot solvers, with better coverage)."""

    kind: Literal["sobol", "lhs"]
    runs: PositiveInt

    count_field: ClassVar[str] = "runs"

    @classmethod
    def examples(cls, minimizer: Minimizer) -> list[Design]:
        return [cls(kind=kind, runs=6, minimizer=minimizer) for kind in kinds_of(cls)]

    def starts(self, objective: Objective) -> np.ndarray:
        rng = np.random.default_rng(run_seed(self.seed, 0, 0))
        if self.kind == "sobol":
            # Drawing a power of two keeps Sobol's balance and makes the first n
            # points the same for any larger design.
            unit = qmc.Sobol(objective.dim, rng=rng).random_base2(int(np.ceil(np.log2(self.runs))))[: self.runs]
        else:
            unit = qmc.LatinHypercube(objective.dim, rng=rng).random(self.runs)
        return qmc.scale(unit, objective.bounds.lower, objective.bounds.upper)

    def prefix_stable(self) -> bool:
        # A Latin hypercube of another size is a different design altogether.
        return self.kind == "sobol"


@register_strategy
class Points(Strategy):
    """Runs from given starting points, in order: starts that another method
    proposes (the indexer's learned candidate cells)."""

    kind: Literal["points"] = "points"
    # TOML gives lists: the tuples are lax, the numbers in them strict (finite numbers, not strings).
    points: Annotated[tuple[Annotated[tuple[Annotated[float, Strict()], ...], Strict(False)], ...], Strict(False)] = Field(
        min_length=1)

    @classmethod
    def examples(cls, minimizer: Minimizer) -> list[Points]:
        return [cls(points=((0.5, 0.5), (-0.5, 0.25), (0.0, -0.75)), minimizer=minimizer)]

    @property
    def count(self) -> int:
        return len(self.points)

    def with_count(self, count: int) -> Strategy:
        if count > len(self.points):
            raise ConfigError(f"fitting.minimizer: {len(self.points)} starting points given, {count} runs asked for")
        return self.model_copy(update={"points": self.points[:count]})

    def starts(self, objective: Objective) -> np.ndarray:
        lengths = sorted({len(point) for point in self.points})
        if lengths != [objective.dim]:
            raise ConfigError(f"fitting.minimizer: starting points of {', '.join(map(str, lengths))} values for "
                              f"objective '{objective.name}' of {objective.dim} parameters")
        return np.array(self.points, dtype=float)


def as_strategy(search: Strategy | Minimizer) -> Strategy:
    """An ensemble strategy as given, or a bare minimizer as a single run from
    the objective's start."""
    if isinstance(search, Strategy):
        return search
    if isinstance(search, Minimizer):
        return SingleRun(minimizer=search)
    raise ConfigError(f"expected a strategy (Spa, Design, Points, SingleRun...) or a minimizer (LBFGS, NLopt...), got {type(search).__name__}")

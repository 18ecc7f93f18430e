"""Restart strategies: where the local runs of an ensemble start.

Every starting point and every minimizer seed derives only from
``(seed, run index)``, so the set of results does not depend on which
executor runs them or in what order they finish.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from scipy.stats import qmc

from powdex.optim.errors import ConfigError
from powdex.optim.minimizers import LBFGS, MetropolisChain, Minimizer, NLopt, TrustRegion
from powdex.optim.objective import Objective
from powdex.optim.result import Sense


@dataclass(frozen=True)
class Run:
    """One local run to do: the unit sent to executors and keyed in the store."""

    index: int
    start: np.ndarray
    sense: Sense
    seed: np.random.SeedSequence


def _run_seed(seed: int, index: int, stream: int) -> np.random.SeedSequence:
    # stream 0 draws the starting point, stream 1 feeds the minimizer (NLopt):
    # independent streams, so one never shifts the other.
    return np.random.SeedSequence(seed, spawn_key=(index, stream))


class _Strategy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    minimizer: Minimizer
    seed: int = Field(default=0, ge=0)
    sense: Literal["min", "max", "both"] = "min"

    # The field holding the number of runs (None: always one run).
    _count_field: ClassVar[str | None] = None
    # Whether the runs start from the objective's own starting point.
    _uses_start: ClassVar[bool] = False

    @property
    def count(self) -> int:
        return 1 if self._count_field is None else getattr(self, self._count_field)

    def with_count(self, count: int) -> _Strategy:
        if self._count_field is None:
            if count != 1:
                raise ConfigError("fitting.minimizer: a bare minimizer makes one run; wrap it in spa or a design for more")
            return self
        return self.model_copy(update={self._count_field: count})

    def _prefix_stable(self) -> bool:
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

    def _starts(self, objective: Objective) -> np.ndarray:
        raise NotImplementedError

    def plan(self, objective: Objective) -> list[Run]:
        self.check(objective)
        return [
            Run(i, start, self._sense(i), _run_seed(self.seed, i, 1))
            for i, start in enumerate(self._starts(objective))
        ]

    def fingerprint(self, objective: Objective) -> str:
        """Identifies the runs of this ensemble on ``objective`` (its name, key,
        bounds and, where used, start) up to the ensemble's size where a
        larger ensemble keeps the smaller one's runs, so a stored study can be
        extended but never resumed with runs made another way."""
        grows = self._count_field is not None and self._prefix_stable()
        identity = {
            "strategy": self.model_dump(mode="json", exclude={self._count_field} if grows else None),
            "objective": objective.identity(with_start=self._uses_start),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class SingleRun(_Strategy):
    """One run from the objective's own starting point: a bare minimizer."""

    kind: Literal["single"] = "single"

    _uses_start: ClassVar[bool] = True

    def _starts(self, objective: Objective) -> np.ndarray:
        if objective.x0 is None:
            raise ConfigError(f"objective '{objective.name}' has no starting point for a single run")
        return objective.x0[None, :]


class _BoundedStrategy(_Strategy):
    def check(self, objective: Objective) -> None:
        if not objective.bounds.finite:
            raise ConfigError(
                f"fitting.minimizer: {self.kind} draws starts within bounds and needs finite bounds on every "
                f"parameter; objective '{objective.name}' is unbounded in parameters "
                f"{objective.bounds.unbounded_parameters()}"
            )
        super().check(objective)


class Spa(_BoundedStrategy):
    """atomicrex's Spa: ``max_iter`` uniformly random starts within the bounds."""

    kind: Literal["spa"] = "spa"
    max_iter: PositiveInt = 25

    _count_field: ClassVar[str] = "max_iter"

    def _starts(self, objective: Objective) -> np.ndarray:
        lower, upper = objective.bounds.lower, objective.bounds.upper
        unit = np.array([
            np.random.default_rng(_run_seed(self.seed, i, 0)).random(objective.dim) for i in range(self.max_iter)
        ])
        return lower + (upper - lower) * unit


class Design(_BoundedStrategy):
    """Starts on a space-filling design: scrambled Sobol or Latin hypercube
    (mystic's lattice and buckshot solvers, with better coverage)."""

    kind: Literal["sobol", "lhs"]
    runs: PositiveInt

    _count_field: ClassVar[str] = "runs"

    def _starts(self, objective: Objective) -> np.ndarray:
        rng = np.random.default_rng(_run_seed(self.seed, 0, 0))
        if self.kind == "sobol":
            # Drawing a power of two keeps Sobol's balance and makes the first n
            # points the same for any larger design.
            unit = qmc.Sobol(objective.dim, rng=rng).random_base2(int(np.ceil(np.log2(self.runs))))[: self.runs]
        else:
            unit = qmc.LatinHypercube(objective.dim, rng=rng).random(self.runs)
        return qmc.scale(unit, objective.bounds.lower, objective.bounds.upper)

    def _prefix_stable(self) -> bool:
        # A Latin hypercube of another size is a different design altogether.
        return self.kind == "sobol"


class Points(_Strategy):
    """Runs from given starting points, in order: starts that another method
    proposes (the indexer's learned candidate cells)."""

    kind: Literal["points"] = "points"
    points: tuple[tuple[float, ...], ...] = Field(min_length=1)

    @property
    def count(self) -> int:
        return len(self.points)

    def with_count(self, count: int) -> _Strategy:
        if count > len(self.points):
            raise ConfigError(f"fitting.minimizer: {len(self.points)} starting points given, {count} runs asked for")
        return self.model_copy(update={"points": self.points[:count]})

    def _starts(self, objective: Objective) -> np.ndarray:
        lengths = sorted({len(point) for point in self.points})
        if lengths != [objective.dim]:
            raise ConfigError(f"fitting.minimizer: starting points of {', '.join(map(str, lengths))} values for "
                              f"objective '{objective.name}' of {objective.dim} parameters")
        return np.array(self.points, dtype=float)


Strategy = Annotated[SingleRun | Spa | Design | Points, Field(discriminator="kind")]


def as_strategy(search: Strategy | LBFGS | TrustRegion | NLopt | MetropolisChain) -> Strategy:
    """An ensemble strategy as given, or a bare minimizer as a single run from
    the objective's start."""
    if isinstance(search, _Strategy):
        return search
    if isinstance(search, (LBFGS, TrustRegion, NLopt, MetropolisChain)):
        return SingleRun(minimizer=search)
    raise ConfigError(
        f"expected a strategy (Spa, Design, Points, SingleRun) or a minimizer (LBFGS, TrustRegion, NLopt, "
        f"MetropolisChain), "
        f"got {type(search).__name__}"
    )

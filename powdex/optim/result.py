"""The record every local run produces, in the spirit of scipy's OptimizeResult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Sense = Literal["min", "max"]


@dataclass
class LocalResult:
    """One local optimization.

    ``value`` is always the objective as given (not negated for a maximum
    search).  ``path`` holds the visited points as rows ``(x..., value)``: the
    start and each iterate, or every evaluation for NLopt; response surfaces
    are mapped from them.
    """

    start: np.ndarray
    x: np.ndarray
    value: float
    grad_norm: float
    nit: int
    nfev: int
    status: int
    success: bool
    message: str
    wall_time: float
    path: np.ndarray = field(repr=False)
    run_index: int = -1
    sense: Sense = "min"

    def is_better_than(self, other: LocalResult | None) -> bool:
        """Better for the sense of this run; a NaN value is never better."""
        if other is None:
            return not np.isnan(self.value)
        return self.value < other.value if self.sense == "min" else self.value > other.value

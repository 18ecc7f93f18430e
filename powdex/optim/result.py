"""The record every local run produces, in the spirit of scipy's OptimizeResult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Sense = Literal["min", "max"]


def format_point(x) -> str:
    """Parameters in status lines: short, but enough digits to tell iterates apart."""
    return "[" + ", ".join(f"{v:.6g}" for v in x) + "]"

# Status codes the engine assigns itself, apart from the ranges scipy (0..9)
# and NLopt (-5..6) use, so a stored status always says who ended the run.
STATUS_RAISED = -100
"""The objective or the algorithm raised; ``message`` names the error."""
STATUS_OUT_OF_BOUNDS = -101
"""The run ended outside the bounds (trust regions are unconstrained)."""
STATUS_TIME_LIMIT = -102
"""The run was stopped at its wall-clock deadline; ``x`` and ``value`` are the best point it had evaluated."""


@dataclass
class LocalResult:
    """One local optimization.

    ``value`` is always the objective as given (not negated for a maximum
    search).  ``grad_norm`` is the norm of the projected gradient (components
    pushing against an active bound count as zero), NaN where no gradient is
    known without extra evaluations.  ``path`` holds the visited points as
    rows ``(x..., value)``: the start and each iterate, or every evaluation
    for NLopt; response surfaces are mapped from them.
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

    @property
    def admissible(self) -> bool:
        """Whether this run can be an answer: a finite value within the bounds."""
        return not np.isnan(self.value) and self.status != STATUS_OUT_OF_BOUNDS

    def is_better_than(self, other: LocalResult | None) -> bool:
        """Better for the sense of this run; an inadmissible run never is."""
        if not self.admissible:
            return False
        if other is None:
            return True
        if self.value == other.value:
            # Ties go to the lower run index, so the best does not depend on arrival order.
            return self.run_index < other.run_index
        return self.value < other.value if self.sense == "min" else self.value > other.value

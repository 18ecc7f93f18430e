"""Indexing candidates re-ranked by a whole-pattern fit of the measured pattern.

Peak positions alone cannot tell a cell from a sub-cell that misses a few weak
lines, nor from a pseudo-symmetric cell of lower symmetry that places its
split lines on the same peaks.  A Le Bail (or Pawley) fit of each candidate
(with each of its best extinction classes) against the whole pattern can, but
not by its raw agreement: a decomposition fit only improves with more lines,
so Rwp alone favours lower symmetry and super-cells.  The candidates are
ranked by the Bayesian information criterion (Schwarz 1978) of their fits,

    BIC = χ² / ĉ + k ln N,

k the refined parameters plus one per line (each line's intensity is a free
parameter of the decomposition), N the points, and ĉ the lowest reduced χ²
among the fits: patterns with systematic misfit (χ²/(N − k) well above 1)
would otherwise let χ² outweigh every charge for a line, the quasi-likelihood
scaling of Burnham and Anderson (2002).  The lowest BIC ranks first.

A candidate is not fitted by Le Bail when even a perfect fit could not rank
first: its criterion is at least k ln N (χ² ≥ 0, k at least its lines, each
one's intensity charged), and the best
fit's at most χ²_best + k_best ln N (ĉ ≥ 1), whatever the fits still to come.
Super-cells with hundreds of lines, the slowest fits by far, are the ones
this skips.

A fit that diverged (its χ² rose on the way; ``RefinementResult.diverged``)
ended at its state of lowest χ², which is no fit of the cell: it ranks below
every fit that did not, as a failed fit, and takes no part in ĉ.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from powdex.crystal import Cell
from powdex.patterns import Pattern
from powdex.refinement.api import fit_size, refine
from powdex.refinement.errors import RefinementError
from powdex.refinement.fit import Method
from powdex.refinement.result import RefinementResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedFit:
    """One candidate cell in one space group, fitted: ``candidate`` is its index in
    the list given to ``rerank``; ``criterion`` the information criterion (lower
    is better); ``lines`` the reflection lines the fit placed."""

    candidate: int
    space_group: str
    cell: Cell
    lines: int
    parameters: int
    criterion: float
    fit: RefinementResult

    @property
    def diverged(self) -> bool:
        """The fit diverged: ranked below every fit that did not, whatever its criterion."""
        return self.fit.diverged

    @property
    def rwp(self) -> float:
        return self.fit.statistics.rwp

    @property
    def rexp(self) -> float:
        return self.fit.statistics.rexp


@dataclass(frozen=True)
class Reranking:
    """The fits, best first (those that diverged last), the candidates (with a
    space group) that could not be fitted, and those not fitted because no fit
    of theirs could rank first."""

    fits: tuple[RankedFit, ...]
    failed: tuple[tuple[int, str, str], ...]  # (candidate, space group, message)
    skipped: tuple[tuple[int, str, str], ...] = ()  # (candidate, space group, why)


def rerank(pattern: Pattern, candidates: Sequence, *, top: int = 5, classes: int = 2, method: Method = "lebail",
           **refine_options) -> Reranking:
    """Fit the first ``top`` ``candidates`` (objects with ``cell``, ``zero_shift`` and
    ``space_groups``, extinction classes best first, as ``powdex.index`` returns
    them) in the first space group of each of their best ``classes`` extinction
    classes to ``pattern`` by ``method`` (``powdex.refine``, with
    ``refine_options``), and rank the fits by the information criterion of the
    module's docstring.  A candidate without extinction classes is fitted in the
    symmorphic group of lowest symmetry on its Bravais lattice."""
    if top < 1 or classes < 1:
        raise RefinementError(f"rerank: top ({top}) and classes ({classes}) must be at least 1")
    fitted: list[tuple[int, str, RefinementResult]] = []
    failed: list[tuple[int, str, str]] = []
    skipped: list[tuple[int, str, str]] = []
    window = {name: refine_options[name] for name in ("two_theta_range", "excluded") if name in refine_options}
    # The best criterion any fit so far guarantees, whatever ĉ the later fits set: its χ² with ĉ = 1.
    bound, leader = math.inf, -1
    for number, candidate in enumerate(list(candidates)[:top]):
        for group in _space_groups(candidate, classes):
            try:
                points, lines = fit_size(pattern, candidate.cell, group, **window)
                if method == "lebail" and lines * math.log(points) > bound:
                    why = (f"{lines} lines: even a perfect fit (criterion at least {lines * math.log(points):.0f}) "
                           f"ranks below candidate {leader + 1}'s (at most {bound:.0f})")
                    logger.info("candidate %d in %s not fitted: %s", number + 1, group, why)
                    skipped.append((number, group, why))
                    continue
                result = refine(pattern, candidate.cell, group, method=method,
                                zero=float(getattr(candidate, "zero_shift", 0.0) or 0.0), **refine_options)
            except RefinementError as error:
                logger.info("candidate %d in %s not fitted: %s", number + 1, group, error)
                failed.append((number, group, str(error)))
                continue
            fitted.append((number, group, result))
            if not result.diverged:
                stats = result.statistics
                guaranteed = stats.reduced_chi2 * max(stats.points - stats.parameters, 1) + \
                    stats.parameters * math.log(stats.points)
                if guaranteed < bound:
                    bound, leader = guaranteed, number
    if not fitted:
        return Reranking((), tuple(failed), tuple(skipped))
    sound = [r.statistics.reduced_chi2 for _, _, r in fitted if not r.diverged]
    scale = max(min(sound or [r.statistics.reduced_chi2 for _, _, r in fitted]), 1.0)
    fits = []
    for number, group, result in fitted:
        stats = result.statistics
        # The fit's parameter count holds every line's intensity (refined by Pawley, partitioned by Le Bail).
        fits.append(RankedFit(number, group, result.cell, len(result.hkl), stats.parameters,
                              stats.information_criterion(scale), result))
    fits.sort(key=lambda f: (f.diverged, f.criterion))
    return Reranking(tuple(fits), tuple(failed), tuple(skipped))


def _space_groups(candidate, classes: int) -> list[str]:
    ranked = [c.space_groups[0] for c in getattr(candidate, "space_groups", ())[:classes] if c.space_groups]
    if ranked:
        return ranked
    bravais = getattr(candidate, "bravais", None)
    if bravais is None:
        raise RefinementError("rerank: a candidate has neither extinction classes nor a Bravais lattice to fit it in")
    return [bravais.space_group.xhm()]

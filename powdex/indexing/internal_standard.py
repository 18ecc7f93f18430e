"""Indexing a measured pattern's picks again without the lines of an internal standard seen among them, when the
search of all the picks finds nothing decisive.

A certified standard mixed into a sample (``powdex.crystal.standards``) and not named puts the lines of a second
phase among the picks. With 5 of 20 picks silicon's (APS 11-BM's scan of NIST SRM 676a corundum with SRM 640
silicon), corundum leaves more lines than a candidate may (``IndexingConfig.max_unindexed``), and a small
triclinic cell that fits every pick loosely comes first. Reading the pattern recognises such a standard and
reads the picks again with its lines set aside and the zero offset they show taken off
(``PeakList.standard_set_aside``); they are searched when the first search's best cell is not decisive
(``IndexingSearch.decisive``). Setting the lines aside is not the first choice: a sample whose lattice is a
super-cell of the standard's explains them itself, and would lose lines.

One footing decides which search's candidates are kept, the search's own ranking evidence (the score of
``powdex.indexing.candidate``): each search's best cell is polished and scored against all the picks of the
first list, their positions corrected by the standard's zero offset, and with no limit on the lines a cell
leaves. A cell that leaves the standard's lines pays for each as an impurity line; a cell that indexes them too
(a super-cell of the standard's lattice, as the sample may be) is credited for them. The second search's
candidates replace the first's only when its best cell scores more on that footing.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from powdex.indexing.candidate import Candidate, CandidateEvaluator
from powdex.indexing.config import IndexingConfig
from powdex.indexing.observations import Observations
from powdex.indexing.result import IndexingResult
from powdex.indexing.search import SAME_LATTICE_RTOL, IndexingSearch, ProgressCallback
from powdex.instrument import Instrument
from powdex.peaks import PeakList

logger = logging.getLogger(__name__)

# The share of the time limit the search of all the picks may take, so that the search without a standard's lines
# has time left; a sample whose cell explains the standard's lines too is mostly decisive well within it.
FIRST_SEARCH_SHARE = 0.5
# Below this many seconds left of the time limit a second search could not cover the lattice systems.
MIN_SECOND_SEARCH_SECONDS = 1.0


def index_with_standard_set_aside(peaks: PeakList, *, config: IndexingConfig | None = None, executor=None,
                                  store=None, progress: ProgressCallback | None = None,
                                  instrument: Instrument | None = None) -> IndexingResult:
    """The result of searching ``peaks``, or, where they hold a standard's lines (``peaks.standard_set_aside``)
    and the best cell is not decisive, of searching them again without those lines when that search's best cell
    scores more on all the picks (see the module docstring); either with a note saying which and why. The
    first search has ``FIRST_SEARCH_SHARE`` of the time limit, the second the time the first left. The keywords
    are those of :func:`powdex.index`."""
    config = config or IndexingConfig()
    first = IndexingSearch(peaks, config.model_copy(update={"time_limit": config.time_limit * FIRST_SEARCH_SHARE}),
                           executor=executor, store=store, progress=progress, instrument=instrument)
    result = first.run()
    set_aside = peaks.standard_set_aside
    if set_aside is None:
        return result
    picks = f"{set_aside.n_set_aside} of the {first.obs.n} picks are lines of the certified standard {set_aside.standard}"
    best = result.best
    if best is not None and first.decisive(best):
        return replace(result, details=(*result.details, f"{picks}: not searched again without them, the best cell "
                                        "being decisive"))
    # The user's time limit holds for both searches together: the second gets what the first left.
    remaining = config.time_limit - result.elapsed
    if remaining < MIN_SECOND_SEARCH_SECONDS:
        return replace(result, details=(*result.details, f"{picks}: not searched again without them, "
                                        f"{max(remaining, 0.0):.1f} s of the time limit being left"))
    second = IndexingSearch(set_aside.peaks, config.model_copy(update={"time_limit": remaining}),
                            executor=executor, store=store, progress=progress, instrument=instrument)
    other = second.run()
    # Both best cells on one footing: the first list's picks, its zero corrected as the second list's was.
    corrected = _shifted(first.peaks, set_aside.zero_offset)
    footing = Observations.from_peaks(corrected, instrument)
    mine = None if best is None else _scored(first, footing, best, best.zero_shift - set_aside.zero_offset)
    theirs = None if other.best is None else _scored(first, footing, other.best, other.best.zero_shift)
    searched = (f"{picks} and the search of all of them found "
                + (f"nothing decisive (best {_summary(best)})" if best else "no cell")
                + f"; the search of the picks without them (the zero offset they show, {set_aside.zero_offset:+.4f}° "
                "2θ, taken off) found " + (_summary(other.best) if other.best else "no cell"))
    elapsed, trials = result.elapsed + other.elapsed, result.trials + other.trials
    if theirs is None:
        why = "that cell does not polish on all the picks"
    # The same lattice found again is no reason to drop the lines the first list explains.
    elif mine is not None and theirs.lattice_signature.matches(mine.lattice_signature, rtol=SAME_LATTICE_RTOL):
        why = "it is the first search's lattice"
    elif mine is not None and theirs.score <= mine.score:
        why = (f"on all {first.obs.n} picks, zero corrected, that cell scores {theirs.score:.1f} "
               f"({theirs.figures.n_unindexed} unindexed) against {mine.score:.1f} for the first search's best")
    else:
        note = (f"{searched}. On all {first.obs.n} picks, zero corrected, that cell scores {theirs.score:.1f} "
                f"({theirs.figures.n_unindexed} unindexed)"
                + (f" against {mine.score:.1f} for the first search's best" if mine is not None else "")
                + f": these are the candidates of the picks without {set_aside.standard}'s lines")
        logger.info("%s: %s", first.obs.source, note)
        return replace(other, notes=(note, *other.notes), elapsed=elapsed, trials=trials,
                       details=(*other.details, *(f"the search of all picks: {d}" for d in result.details)))
    note = f"{searched}. {why[0].upper()}{why[1:]}: the candidates of all the picks are kept"
    logger.info("%s: %s", first.obs.source, note)
    return replace(result, notes=(*result.notes, note), elapsed=elapsed, trials=trials,
                   details=(*result.details, *(f"the search without {set_aside.standard}'s lines: {d}"
                                               for d in other.details)))


def _shifted(peaks: PeakList, zero_offset: float) -> PeakList:
    """``peaks`` (measured in 2θ) with ``zero_offset`` taken off their positions."""
    if peaks.two_theta is None:
        raise ValueError(f"{peaks.source}: no 2θ positions to take a zero offset off")
    shifted = PeakList.from_values(peaks.two_theta - zero_offset, units="2theta", wavelength=peaks.wavelength,
                                   intensity=peaks.intensity, source=peaks.source)
    return replace(shifted, fwhm=peaks.fwhm)


def _scored(search: IndexingSearch, footing: Observations, cand: Candidate, zero_shift: float) -> Candidate | None:
    """``cand`` polished in its Bravais lattice from ``zero_shift`` and scored against ``footing`` with
    ``search``'s scoring model, whatever the lines it leaves; None where the polish fails."""
    evaluator = CandidateEvaluator(cand.bravais, footing, search.model, search.zero_shift)
    return evaluator.evaluate(cand.bravais.axes.free_reciprocal_parameters(cand.cell), zero_shift)


def _summary(cand: Candidate) -> str:
    return (f"{cand.bravais.value} {cand.cell}, M{cand.figures.n} {cand.figures.m:.1f}, score "
            f"{cand.score:.1f}, {cand.figures.n_unindexed} unindexed")

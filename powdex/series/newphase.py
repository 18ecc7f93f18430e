"""A new phase proposed from the peaks a refinement leaves unexplained.

The peaks of the observed pattern are searched (``powdex.patterns.search_peaks``,
which sets aside the tube's Kβ and tungsten Lα1 replicas of strong lines and
strips Kα2).  A peak is unexplained when the refined pattern's calculated net
intensity at its position is below ``explained_fraction`` of the peak's height:
no phase of the plan has a line there.  With at least ``min_peaks`` such peaks,
enough to decide a cell, they are indexed (``powdex.index``) and the best cell
is the proposal.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from powdex.indexing.config import IndexingConfig
from powdex.indexing.search import index
from powdex.patterns import Pattern
from powdex.patterns.search import search_peaks
from powdex.peaks import PeakInputError, PeakList

logger = logging.getLogger(__name__)


@dataclass
class NewPhaseProposal:
    """The unexplained peaks (2θ, degrees) and the best cell that indexes them (None when none did)."""

    peaks: list[float]
    bravais: str | None
    cell: list[float] | None
    m20: float | None
    indexed: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def unexplained_peaks(pattern: Pattern, calculated: np.ndarray, background: np.ndarray, *,
                      explained_fraction: float = 0.5) -> np.ndarray:
    """2θ of the peaks of ``pattern`` where the calculated net intensity is below ``explained_fraction``
    of the peak's height."""
    try:
        found = search_peaks(pattern)
    except PeakInputError:
        return np.empty(0)
    net = np.interp(found.two_theta, pattern.two_theta, calculated - background)
    return found.two_theta[net < explained_fraction * found.height]


def propose_new_phase(pattern: Pattern, calculated: np.ndarray, background: np.ndarray, *, min_peaks: int = 15,
                      time_limit: float = 20.0, seed: int = 0) -> NewPhaseProposal | None:
    """Index the unexplained peaks when there are at least ``min_peaks``; None when there are fewer."""
    peaks = unexplained_peaks(pattern, calculated, background)
    if peaks.size < min_peaks or not pattern.wavelengths:
        return None
    listed = PeakList.from_values(peaks, units="2theta", wavelength=pattern.wavelengths[0],
                                  source=f"{pattern.source} (unexplained peaks)")
    result = index(listed, config=IndexingConfig(time_limit=time_limit, seed=seed))
    best = result.best
    logger.info("%s: %d unexplained peaks; best cell %s", pattern.source, peaks.size,
                None if best is None else best.cell)
    if best is None:
        return NewPhaseProposal(peaks.tolist(), None, None, None, None)
    return NewPhaseProposal(peaks.tolist(), best.bravais.value, best.cell.parameters.tolist(),
                            float(best.figures.m), int(best.n_indexed))

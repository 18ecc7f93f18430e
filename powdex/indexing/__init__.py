"""The indexing pipeline: SVD-Index (Coelho 2003) and learned trial cells, polish, figures of merit and ranking.

``index(peaks)`` runs one search (``powdex.indexing.search.IndexingSearch``) and
returns an ``IndexingResult``. Names are imported on first use, so that
``import powdex.indexing`` costs nothing until a search runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from powdex import lazy_attributes

_WHERE = {
    "Candidate": "powdex.indexing.candidate",
    "ScoringModel": "powdex.indexing.candidate",
    "IndexingConfig": "powdex.indexing.config",
    "settings_fingerprint": "powdex.indexing.config",
    "Deadline": "powdex.indexing.deadline",
    "IndexingResult": "powdex.indexing.result",
    "IndexingSearch": "powdex.indexing.search",
    "index": "powdex.indexing.search",
    "rank_candidates": "powdex.indexing.search",
    "register_method": "powdex.indexing.methods",
    "PeakListFaults": "powdex.indexing.synthetic",
    "synthetic_peaks": "powdex.indexing.synthetic",
}

# A name that is also a submodule's must be bound here: importing the submodule would rebind it to the module.
from powdex.indexing.figures_of_merit import (  # noqa: E402  (numpy only)
    FiguresOfMerit,
    figures_of_merit,
)

__all__ = [
    "Candidate", "Deadline", "FiguresOfMerit", "IndexingConfig", "IndexingResult", "IndexingSearch", "PeakListFaults",
    "ScoringModel", "figures_of_merit", "index", "rank_candidates", "register_method", "settings_fingerprint",
    "synthetic_peaks",
]

if TYPE_CHECKING:
    from powdex.indexing.candidate import Candidate, ScoringModel
    from powdex.indexing.config import IndexingConfig, settings_fingerprint
    from powdex.indexing.deadline import Deadline
    from powdex.indexing.methods import register_method
    from powdex.indexing.result import IndexingResult
    from powdex.indexing.search import IndexingSearch, index, rank_candidates
    from powdex.indexing.synthetic import PeakListFaults, synthetic_peaks


__getattr__ = lazy_attributes(__name__, _WHERE)

"""The indexing pipeline: SVD-Index trial cells, polish, figures of merit and ranking."""

from powdex.indexing.candidate import Candidate, ScoringModel
from powdex.indexing.figures_of_merit import FiguresOfMerit, figures_of_merit
from powdex.indexing.indexer import IndexingConfig, IndexingResult, index_peaks, rank_candidates
from powdex.indexing.synthetic import PeakListFaults, synthetic_peaks

__all__ = [
    "Candidate",
    "FiguresOfMerit",
    "IndexingConfig",
    "IndexingResult",
    "PeakListFaults",
    "ScoringModel",
    "figures_of_merit",
    "index_peaks",
    "rank_candidates",
    "synthetic_peaks",
]

"""Whole-pattern fitting of a found cell: Pawley and Le Bail refinement.

A layer above ``crystal``, ``peaks`` and ``patterns`` that runs its least
squares on ``powdex.optim`` (the ``LeastSquares`` minimizer and the executors),
which in turn knows nothing of crystals.
"""

from powdex.refinement.api import DEFAULT_PROFILE, refine, start_from_index
from powdex.refinement.errors import RefinementError
from powdex.refinement.profile import ProfileModel
from powdex.refinement.rerank import RankedFit, Reranking, rerank
from powdex.refinement.result import SCHEMA_VERSION, Parameter, RefinementResult, Statistics
from powdex.refinement.surface import chi2_map, write_chi2_map

__all__ = ["DEFAULT_PROFILE", "SCHEMA_VERSION", "Parameter", "ProfileModel", "RankedFit", "RefinementError",
           "RefinementResult", "Reranking", "Statistics", "chi2_map", "refine", "rerank", "start_from_index",
           "write_chi2_map"]

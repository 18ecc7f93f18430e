"""Generic ensemble optimization: local minimizers, restart strategies, executors,
a results store and response-surface maps.  Knows nothing about crystals."""

from powdex.optim.config import ConfigError, FittingConfig, load_config
from powdex.optim.ensemble import EnsembleResult, run_ensemble
from powdex.optim.executors import Dask, InProcess, LocalProcesses
from powdex.optim.minimizers import LBFGS, NLopt, TrustRegion
from powdex.optim.objective import Bounds, Objective
from powdex.optim.progress import RichProgress
from powdex.optim.restarts import Design, Spa
from powdex.optim.result import LocalResult
from powdex.optim.store import ResultsStore

__all__ = [
    "Bounds", "ConfigError", "Dask", "Design", "EnsembleResult", "FittingConfig",
    "InProcess", "LBFGS", "LocalProcesses", "LocalResult", "NLopt", "Objective",
    "ResultsStore", "RichProgress", "Spa", "TrustRegion", "load_config", "run_ensemble",
]

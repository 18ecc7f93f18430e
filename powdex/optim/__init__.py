"""Generic ensemble optimization: local minimizers, restart strategies, executors,
a results store and response-surface maps, and one resumable parallel map
(``parallel_map`` with a ``Journal``) for any other batch of work on the same
executors.  Knows nothing about crystals.

Extension points: subclass ``Minimizer``, ``Strategy`` or ``Executor`` and
register it (``register_minimizer``...; see ``powdex.optim.registry``); every
registered one must pass the checks of ``powdex.optim.testing``.

The names below load on first use (PEP 562): the store and the executors pull in
SQLAlchemy and dask.distributed, which a command that only indexes should not
pay for at start-up.
"""

from importlib import import_module

_EXPORTS = {
    "local_dask_cluster": "cluster",
    "ConfigError": "config", "FittingConfig": "config", "load_config": "config", "parse_config": "config",
    "EnsembleResult": "ensemble", "run_ensemble": "ensemble",
    "Dask": "executors", "Executor": "executors", "InProcess": "executors", "LocalProcesses": "executors",
    "Iterate": "minimizers", "LBFGS": "minimizers", "LeastSquares": "least_squares", "Minimizer": "minimizers", "SearchEnd": "minimizers", "Tracker": "minimizers", "MetropolisChain": "minimizers", "NLOPT_ALGORITHMS": "minimizers", "NLopt": "minimizers", "TrustRegion": "minimizers",
    "Bounds": "objective", "Objective": "objective", "WeightedLeastSquares": "objective", "load_objective": "loading", "UserCodeError": "errors",
    "Journal": "journal", "JournalError": "journal", "parallel_map": "parallel",
    "RichProgress": "progress",
    "Design": "restarts", "Points": "restarts", "SingleRun": "restarts", "Spa": "restarts", "Strategy": "restarts",
    "executor_from_name": "registry", "register_executor": "registry", "register_minimizer": "registry",
    "register_strategy": "registry",
    "LocalResult": "result", "STATUS_OUT_OF_BOUNDS": "result", "STATUS_RAISED": "result",
    "ResultsStore": "store",
    "SurfaceMap": "surface", "evaluate_on_grid": "surface", "map_surface": "surface", "plot_maps": "surface",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'powdex.optim' has no attribute {name!r}")
    return getattr(import_module(f"powdex.optim.{_EXPORTS[name]}"), name)

"""powdex: powder diffraction indexing and ensemble refinement.

Layers, lowest first (a layer never imports one above it):

- ``powdex.crystal``  cells, lattice systems, forward models, Bravais lattices,
  systematic absences, reduction.
- ``powdex.peaks``    peak lists: reading, unit conversion.
- ``powdex.patterns`` measured patterns: instrument file readers, background,
  Kα2-aware peak search.
- ``powdex.optim``    the generic ensemble-optimization engine (knows nothing
  about crystals).
- ``powdex.models`` / ``powdex.training``  the learned indexing models and
  their training data.
- ``powdex.indexing`` the indexing pipeline (SVD-Index, learned starts and
  chains, figures of merit, ranking).
- ``powdex.refinement`` Pawley and Le Bail whole-pattern fits of a cell.
- ``powdex.series``   many patterns indexed into one folder, resumable.
- ``powdex.cli``      the ``powdex`` command.

The public API, imported on first use so that ``import powdex`` stays fast::

    import powdex
    peaks = powdex.read_peaks("silicon.txt")
    result = powdex.index(peaks, config=powdex.IndexingConfig(time_limit=10))
    result.best.cell, result.best.figures.m
    result.save("silicon.json")
    series = powdex.index_series(["a.txt", "b.txt"], "out/")   # resumes what is in out/
    fit = powdex.refine(powdex.read_pattern("scan.xye"), result.best.cell, "Fd-3m")
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_PUBLIC = {
    "index": "powdex.indexing.search",
    "IndexingConfig": "powdex.indexing.config",
    "IndexingResult": "powdex.indexing.result",
    "index_series": "powdex.series",
    "SeriesResult": "powdex.series",
    "read_peaks": "powdex.peaks",
    "PeakList": "powdex.peaks",
    "read_pattern": "powdex.patterns",
    "Pattern": "powdex.patterns",
    "refine": "powdex.refinement",
    "RefinementResult": "powdex.refinement",
    "calibrate": "powdex.refinement.calibrate",
    "Instrument": "powdex.instrument",
    "refine_series": "powdex.series.refinement",
    "SeriesRefinementResult": "powdex.series.refinement",
    "parametric_refine": "powdex.series.parametric",
    "RefinementPlan": "powdex.refinement.plan",
}

__all__ = ["IndexingConfig", "IndexingResult", "Instrument", "Pattern", "PeakList", "RefinementPlan", "RefinementResult",
           "SeriesRefinementResult", "SeriesResult", "__version__", "calibrate", "index", "index_series",
           "parametric_refine", "read_pattern", "read_peaks", "refine", "refine_series"]

if TYPE_CHECKING:
    from powdex.indexing.config import IndexingConfig
    from powdex.indexing.result import IndexingResult
    from powdex.indexing.search import index
    from powdex.instrument import Instrument
    from powdex.patterns import Pattern, read_pattern
    from powdex.peaks import PeakList, read_peaks
    from powdex.refinement import RefinementResult, refine
    from powdex.refinement.calibrate import calibrate
    from powdex.refinement.plan import RefinementPlan
    from powdex.series import SeriesResult, index_series
    from powdex.series.parametric import parametric_refine
    from powdex.series.refinement import SeriesRefinementResult, refine_series


def lazy_attributes(package: str, where: dict[str, str]):
    """A module ``__getattr__`` (PEP 562) that imports each name of ``where`` from its module when first asked
    for and keeps it in ``package``'s namespace."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


__getattr__ = lazy_attributes(__name__, _PUBLIC)

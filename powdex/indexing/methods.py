"""Search methods: the ways an indexing search proposes candidate cells, by name.

A method searches one lattice system in one pass of an ``IndexingSearch``
(``powdex.indexing.search``) and returns the candidates it found; the search
owns everything shared (observations, scoring, random streams, deadline,
evaluators, executor, store) and hands itself to the method. Adding a method
is one module with a class that has ``search`` and one line in ``_BUILT_IN``
(or a call to ``register_method``). Built-in methods are named by import path
so that naming one does not import the others: the learned ones load the
shipped models, which ``import powdex`` must not pay for.

``IndexingConfig.method`` names one method or one of the ``PRESETS``, lists of
methods run in turn for each lattice system.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from powdex.crystal import LatticeSystem
    from powdex.indexing.candidate import Candidate
    from powdex.indexing.search import IndexingSearch


class SearchMethod(Protocol):
    """One way of finding candidate cells."""

    def search(self, search: IndexingSearch, system: LatticeSystem, search_pass: int) -> list[Candidate]:
        """Candidates of ``system`` for pass ``search_pass`` (0 first; a later pass runs when an earlier one
        settled nothing). Trials are counted with ``search.count_trials``; ``search.deadline`` is respected."""
        ...


_BUILT_IN: dict[str, str] = {
    # SVD-Index (Coelho 2003) from random cells at growing trial volumes.
    "svd-index": "powdex.indexing.svd_index:RandomStarts",
    # SVD-Index from the cells the shipped regression models predict (monoclinic and triclinic lattices).
    "learned-starts": "powdex.indexing.learned_starts:LearnedStarts",
    # SVD-Index from cells built of two Ito zones of the first lines (monoclinic and triclinic lattices, run ahead of
    # the orthorhombic system by the search).
    "zone-starts": "powdex.indexing.zone_starts:ZoneStarts",
    # Model draws, Miller indices from the assignment network and Metropolis chains on the ensemble engine.
    "learned-chains": "powdex.indexing.learned:LearnedChains",
}
_registered: dict[str, SearchMethod] = {}

PRESETS: dict[str, tuple[str, ...]] = {
    "classical": ("svd-index",),
    "learned": ("learned-chains",),
    "both": ("zone-starts", "learned-starts", "svd-index"),
}


def register_method(name: str, method: SearchMethod) -> None:
    """Make ``method`` available as ``IndexingConfig(method=name)``."""
    if name in PRESETS or name in _BUILT_IN:
        raise ValueError(f"search method {name!r} exists already")
    _registered[name] = method


def unregister_method(name: str) -> None:
    _registered.pop(name, None)


def method_names() -> list[str]:
    """Every name ``IndexingConfig.method`` accepts."""
    return [*PRESETS, *_BUILT_IN, *_registered]


def methods_of(name: str) -> list[tuple[str, SearchMethod]]:
    """The methods a preset or method name runs, in order."""
    names = PRESETS.get(name, (name,))
    return [(n, method_named(n)) for n in names]


def method_named(name: str) -> SearchMethod:
    if name in _registered:
        return _registered[name]
    if name not in _BUILT_IN:
        raise ValueError(f"unknown search method {name!r}; choose from {', '.join(method_names())}")
    module, attribute = _BUILT_IN[name].split(":")
    return getattr(importlib.import_module(module), attribute)()

"""Minimizers, strategies and executors by name: the engine's extension points.

A new minimizer is one module holding a ``Minimizer`` subclass and one line
registering it::

    @register_minimizer
    class Annealing(Minimizer):
        kind: Literal["annealing"] = "annealing"
        ...

Registering makes the ``kind`` valid in the ``[fitting]`` TOML table, inside
every strategy (``spa``, ``sobol``...) and, where ``usable_in_chains``, as the
local minimizer of a Metropolis chain: the pydantic unions of those fields are
rebuilt from this registry.  A built-in module is also named once in
``BUILT_IN_MODULES`` so that it is loaded whenever the registry is consulted
for its kind of extension (executors alone load no minimizer, for a fast CLI).
Executors register a name: ``executor_from_name(name, workers=..., scheduler=...)``.

This module imports nothing heavy and nothing else of powdex: the modules that
define the built-ins import it, never the reverse (they are loaded by name).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from importlib import import_module
from typing import Any, Union

BUILT_IN_MODULES = {
    "minimizer": ("powdex.optim.minimizers", "powdex.optim.least_squares"),
    "strategy": ("powdex.optim.restarts",),
    "executor": ("powdex.optim.executors",),
}

MINIMIZERS: dict[str, type] = {}
STRATEGIES: dict[str, type] = {}
EXECUTORS: dict[str, type] = {}

# (model, field, choices): pydantic fields whose type is the union of registered classes.
_UNION_FIELDS: list[tuple[type, str, Callable[[], list[type]]]] = []


def load_built_ins(*extensions: str) -> None:
    """Import the modules whose classes register themselves (each once): those
    of ``extensions`` ("minimizer", "strategy", "executor"), or all."""
    for extension in extensions or tuple(BUILT_IN_MODULES):
        for name in BUILT_IN_MODULES[extension]:
            import_module(name)


def kinds_of(cls: type) -> tuple[str, ...]:
    """The ``kind`` values a pydantic class accepts: the arguments of its ``Literal``."""
    field = cls.model_fields.get("kind")
    kinds = typing.get_args(field.annotation) if field is not None else ()
    if not kinds or not all(isinstance(kind, str) for kind in kinds):
        raise TypeError(f"{cls.__name__} needs a field kind: Literal[\"name\", ...] = \"name\" to be registered")
    return kinds


def _register(table: dict[str, type], cls: type, what: str) -> type:
    for kind in kinds_of(cls):
        if kind in table and table[kind] is not cls:
            raise ValueError(f"{what} kind {kind!r} is taken by {table[kind].__module__}.{table[kind].__name__}")
        table[kind] = cls
    _rebuild_unions()
    return cls


def register_minimizer(cls: type) -> type:
    """Make a ``Minimizer`` subclass known by its ``kind`` (a class decorator)."""
    return _register(MINIMIZERS, cls, "minimizer")


def register_strategy(cls: type) -> type:
    """Make a ``Strategy`` subclass known by its ``kind`` (a class decorator)."""
    return _register(STRATEGIES, cls, "strategy")


def register_executor(name: str) -> Callable[[type], type]:
    """Make an ``Executor`` subclass known as ``name`` (a class decorator); it is
    built by its ``from_options(workers=..., scheduler=...)``."""

    def register(cls: type) -> type:
        if name in EXECUTORS and EXECUTORS[name] is not cls:
            raise ValueError(f"executor name {name!r} is taken by {EXECUTORS[name].__name__}")
        EXECUTORS[name] = cls
        return cls

    return register


def _distinct(table: dict[str, type]) -> list[type]:
    return list(dict.fromkeys(table.values()))


def minimizer_classes() -> list[type]:
    return _distinct(MINIMIZERS)


def chain_minimizer_classes() -> list[type]:
    return [cls for cls in _distinct(MINIMIZERS) if cls.usable_in_chains]


def strategy_classes() -> list[type]:
    return _distinct(STRATEGIES)


def minimizer_or_strategy_classes() -> list[type]:
    return _distinct(MINIMIZERS) + _distinct(STRATEGIES)


def configurable_kinds() -> list[str]:
    """Every ``kind`` a ``[fitting.minimizer]`` table may name, minimizers first."""
    load_built_ins("minimizer", "strategy")
    return [*MINIMIZERS, *STRATEGIES]


def executor_names() -> list[str]:
    load_built_ins("executor")
    return list(EXECUTORS)


def executor_from_name(name: str, *, workers: int | None = None, scheduler: str | None = None) -> Any:
    """The registered executor ``name`` (``inprocess``, ``processes``, ``dask``...)."""
    load_built_ins("executor")
    if name not in EXECUTORS:
        from powdex.optim.errors import ConfigError

        raise ConfigError(f"executor: unknown name {name!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[name].from_options(workers=workers, scheduler=scheduler)


def union_field_names() -> set[str]:
    """Names of the fields typed as a registered union (where pydantic puts the ``kind`` in error locations)."""
    return {field for _, field, _ in _UNION_FIELDS}


def registered_union(model: type, field: str, choices: Callable[[], list[type]]) -> None:
    """Keep ``model.field`` typed as the discriminated union of ``choices()``,
    rebuilt whenever a class registers (subclasses of ``model`` that inherit
    the field must be given too: pydantic copies fields at class creation)."""
    _UNION_FIELDS.append((model, field, choices))
    _rebuild(model, field, choices)


def _rebuild(model: type, field: str, choices: Callable[[], list[type]]) -> None:
    classes = choices()
    if not classes:
        return
    info = model.model_fields[field]
    if len(classes) == 1:
        info.annotation, info.discriminator = classes[0], None
    else:
        info.annotation, info.discriminator = Union[tuple(classes)], "kind"  # noqa: UP007 (built at run time)
    model.model_rebuild(force=True)


def _rebuild_unions() -> None:
    for model, field, choices in _UNION_FIELDS:
        _rebuild(model, field, choices)


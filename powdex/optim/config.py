"""The ``[fitting]`` section of a TOML file, atomicrex's ``<fitting>`` block:

    [fitting]
    enabled = true
    output_interval = 100        # status line every 100 iterations of a local run

    [fitting.minimizer]          # spa wrapping another minimizer
    kind = "spa"
    max_iter = 25
    seed = 120815

    [fitting.minimizer.minimizer]
    kind = "lbfgs"
    conv_threshold = 1e-10
    max_iter = 50

``kind`` is one of the registered minimizers (lbfgs, dogleg, trust-exact,
nlopt, metropolis...: a bare minimizer is one run from the objective's start;
metropolis needs an objective that resamples itself) or strategies (spa,
sobol, lhs, points...: ensembles wrapping a minimizer; points lists the
starts: ``points = [[1.0, 2.0], [0.5, 3.0]]``); ``powdex.optim.registry``
holds them, and the union of this table is built from it.
Option names may also be written with hyphens, as in atomicrex
(``conv-threshold``, ``max-iter``, ``gradient-epsilon``, ``output-interval``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from powdex.optim import registry
from powdex.optim.errors import ConfigError
from powdex.optim.minimizers import Minimizer
from powdex.optim.restarts import Strategy, as_strategy

registry.load_built_ins("minimizer", "strategy")


class FittingConfig(BaseModel):
    # Strict: a TOML string "25" or a float 1.0 is no count, and no setting is inf or NaN.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    enabled: bool = True
    output_interval: PositiveInt | None = None
    # Typed as the union of every registered minimizer and strategy (registered_union below).
    minimizer: Minimizer | Strategy

    def strategy(self) -> Strategy:
        return as_strategy(self.minimizer)


registry.registered_union(FittingConfig, "minimizer", registry.minimizer_or_strategy_classes)


def _one_line(error: ValidationError) -> str:
    parts = []
    kinds, unions = registry.configurable_kinds(), registry.union_field_names()
    for item in error.errors():
        # Drop the union tags pydantic puts after a union field ("minimizer.spa.seed"), not an
        # option that happens to share a kind's name (points.points.0).
        location, after_union = ["fitting"], False
        for part in item["loc"]:
            if after_union and part in kinds:
                after_union = False
                continue
            location.append(str(part))
            after_union = part in unions
        location = ".".join(location)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown option"
        elif item["type"] == "union_tag_invalid":
            message = f"unknown kind {item['input'].get('kind')!r}; known: {', '.join(kinds)}"
        elif item["type"] == "union_tag_not_found":
            message = f"missing 'kind'; one of {', '.join(kinds)}"
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


def _underscored(table: dict, location: str) -> dict:
    """Option names with atomicrex's hyphens as the underscores pydantic knows
    (values such as ``kind = "trust-exact"`` are left alone)."""
    renamed = {}
    for name, value in table.items():
        key = name.replace("-", "_")
        if key in renamed:
            raise ConfigError(f"{location}.{key}: given twice (as {key.replace('_', '-')} and {key})")
        renamed[key] = _underscored(value, f"{location}.{key}") if isinstance(value, dict) else value
    return renamed


def parse_config(document: dict) -> FittingConfig:
    """Validate a parsed TOML document that has a ``[fitting]`` table."""
    if "fitting" not in document:
        raise ConfigError("fitting: section missing")
    if not isinstance(document["fitting"], dict):
        raise ConfigError("fitting: must be a table ([fitting])")
    try:
        return FittingConfig.model_validate(_underscored(document["fitting"], "fitting"))
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


def load_config(path: str | Path) -> FittingConfig:
    """Read a TOML file with a ``[fitting]`` table; a UTF-8 byte-order mark
    (which editors on Windows write) is skipped."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.loads(handle.read().decode("utf-8-sig"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not valid UTF-8)") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a configuration file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    return parse_config(document)

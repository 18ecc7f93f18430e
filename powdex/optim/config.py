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

``kind`` is one of lbfgs, dogleg, trust-exact, nlopt, metropolis (a bare
minimizer: one run from the objective's start; metropolis needs an objective
that resamples itself) or spa, sobol, lhs, points (ensembles wrapping one;
points lists the starts: ``points = [[1.0, 2.0], [0.5, 3.0]]``).
Option names may also be written with hyphens, as in atomicrex
(``conv-threshold``, ``max-iter``, ``gradient-epsilon``, ``output-interval``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from powdex.optim.errors import ConfigError
from powdex.optim.minimizers import LBFGS, MetropolisChain, NLopt, TrustRegion
from powdex.optim.restarts import Design, Points, Spa, Strategy, as_strategy

_KINDS = ("lbfgs", "dogleg", "trust-exact", "nlopt", "metropolis", "spa", "sobol", "lhs", "points")


class FittingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    output_interval: PositiveInt | None = None
    minimizer: Annotated[LBFGS | TrustRegion | NLopt | MetropolisChain | Spa | Design | Points,
                         Field(discriminator="kind")]

    def strategy(self) -> Strategy:
        return as_strategy(self.minimizer)


def _one_line(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        # Drop the union tags pydantic puts in locations ("minimizer.spa.seed").
        location = ".".join(["fitting", *(str(p) for p in item["loc"] if p not in _KINDS)])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown option"
        elif item["type"] == "union_tag_invalid":
            message = f"unknown kind {item['input'].get('kind')!r}; known: {', '.join(_KINDS)}"
        elif item["type"] == "union_tag_not_found":
            message = f"missing 'kind'; one of {', '.join(_KINDS)}"
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
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
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

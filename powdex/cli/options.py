"""Option types that several commands share, kept in a light module: a command imports only what its
own options need at start-up."""

from __future__ import annotations

from enum import Enum

from powdex.optim.registry import executor_names

# Every registered executor (powdex.optim.registry) is a choice: the members are known only at run time.
ExecutorName = Enum("ExecutorName", [(name, name) for name in executor_names()], type=str)  # type: ignore[misc]

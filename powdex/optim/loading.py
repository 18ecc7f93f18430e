"""Naming an objective: a test function (``rosenbrock``...) or ``module:name``
of the user's own code.

The user's module runs here, so what fails in it is theirs to see: an error
at import, a syntax error or a factory that raises becomes one
``UserCodeError`` line, carrying their traceback trimmed to the frames in
their own files (not powdex's, the standard library's or installed packages').
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import sysconfig
import traceback
from pathlib import Path

from powdex.optim.errors import ConfigError, UserCodeError
from powdex.optim.objective import Objective
from powdex.optim.testfunctions import TEST_FUNCTIONS


def load_objective(spec: str) -> Objective:
    """The objective ``spec`` names: a test function (``rosenbrock``...) or
    ``module:name``, an ``Objective`` or a function of no arguments returning
    one (which carries the gradient, Hessian, bounds and start a bare f(x)
    lacks).  The module is imported as from the current directory; worker
    processes import it the same way, so it must be importable there too."""
    if ":" not in spec:
        if spec not in TEST_FUNCTIONS:
            raise ConfigError(
                f"objective: unknown test function '{spec}'; known: {', '.join(TEST_FUNCTIONS)}, "
                "or module:name for your own"
            )
        return TEST_FUNCTIONS[spec]()
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (module_name == error.name or module_name.startswith(f"{error.name}.")):
            raise ConfigError(f"objective: cannot import module '{module_name}' of '{spec}': {error}") from None
        raise _user_error(f"objective: module '{module_name}' of '{spec}' failed at import", error) from None
    except Exception as error:  # whatever the user's module raises at import, SyntaxError included
        raise _user_error(f"objective: module '{module_name}' of '{spec}' failed at import", error) from None
    if not hasattr(module, attribute):
        raise ConfigError(f"objective: module '{module_name}' has no attribute '{attribute}'")
    found = getattr(module, attribute)
    if isinstance(found, Objective):
        return found
    objective = None
    if _callable_without_arguments(found):
        try:
            objective = found()
        except Exception as error:
            raise _user_error(f"objective: '{spec}' raised", error) from None
    if not isinstance(objective, Objective):
        raise ConfigError(
            f"objective: '{spec}' is not an Objective or a function returning one; wrap f(x) as "
            "Objective(f, dim, grad=..., bounds=..., x0=...) in a function of no arguments"
        )
    return objective


def _callable_without_arguments(candidate) -> bool:
    try:
        inspect.signature(candidate).bind()
    except (TypeError, ValueError):  # not callable, needs arguments, or no signature to read
        return False
    return True


def _not_users(filename: str) -> bool:
    """Whether a frame's file is powdex's, the interpreter's or an installed package's."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>...
        return True
    path = str(Path(filename).resolve())
    roots = {str(Path(__file__).resolve().parent.parent)}
    roots.update(str(Path(p).resolve()) for key, p in sysconfig.get_paths().items()
                 if key in ("stdlib", "platstdlib", "purelib", "platlib"))
    return any(path.startswith(root + os.sep) for root in roots)


def _user_error(context: str, error: BaseException) -> UserCodeError:
    """One line naming the error, with the user's frames of its traceback."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if not _not_users(frame.filename)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" ({Path(error.filename).name}:{error.lineno})"
    summary = traceback.format_exception_only(type(error), error)[-1].strip()
    return UserCodeError(f"{context}{where}: {summary}", "".join(lines).rstrip("\n"))

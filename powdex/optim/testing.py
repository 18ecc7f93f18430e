"""Contract checks that every registered minimizer, strategy and executor must
pass, in the manner of scikit-learn's ``check_estimator`` and Optuna's
``testing`` package: a new extension runs the same checks as the built-ins.

    from powdex.optim.testing import check_minimizer
    check_minimizer(MyMinimizer())          # raises AssertionError naming the broken promise

Each ``check_*`` function tests one promise and raises ``AssertionError``
with a message saying which; ``MINIMIZER_CHECKS``, ``STRATEGY_CHECKS`` and
``EXECUTOR_CHECKS`` list them, and ``registered_*_examples()`` give an
instance of every registered extension (their ``examples()``).  The
objectives are two-parameter bowls f(x) = Σ (x − c)² on [−1, 1]², with
analytic gradient and Hessian and a ``resample`` (a reweighted bowl with the
same minimum) so that Metropolis chains run on them too.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from powdex.optim import registry
from powdex.optim.errors import ConfigError
from powdex.optim.objective import Objective, WeightedLeastSquares
from powdex.optim.result import STATUS_OUT_OF_BOUNDS, STATUS_RAISED

BOWL_CENTRE = np.array([0.3, -0.2])
BOWL_TOLERANCE = 1e-3
SEED = 20260107


def bowl_value(x: np.ndarray) -> float:
    d = np.asarray(x, dtype=float) - BOWL_CENTRE
    return float(d @ d)


def bowl_gradient(x: np.ndarray) -> np.ndarray:
    return 2.0 * (np.asarray(x, dtype=float) - BOWL_CENTRE)


def bowl_hessian(x: np.ndarray) -> np.ndarray:
    return 2.0 * np.eye(BOWL_CENTRE.size)


def bowl_residuals(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float) - BOWL_CENTRE


def identity_jacobian(x: np.ndarray) -> np.ndarray:
    return np.eye(np.size(x))


def bowl_resample(x: np.ndarray, step: int, rng: np.random.Generator) -> Objective:
    """The bowl with random positive weights per parameter: the same minimum, another shape."""
    weights = rng.uniform(0.5, 1.5, BOWL_CENTRE.size)
    return WeightedLeastSquares(np.eye(BOWL_CENTRE.size), BOWL_CENTRE, weights).objective("bowl_model")


def bowl(name: str = "bowl") -> Objective:
    return Objective(bowl_value, 2, grad=bowl_gradient, hess=bowl_hessian, bounds=[(-1.0, 1.0)] * 2,
                     x0=[-0.7, 0.6], name=name, resample=bowl_resample, residuals=bowl_residuals,
                     jacobian=identity_jacobian)


def corner_bowl_value(x: np.ndarray) -> float:
    """A bowl centred outside the box, at (2, −2): the box minimum is the corner (1, −1)."""
    d = np.asarray(x, dtype=float) - np.array([2.0, -2.0])
    return float(d @ d)


def corner_bowl_gradient(x: np.ndarray) -> np.ndarray:
    return 2.0 * (np.asarray(x, dtype=float) - np.array([2.0, -2.0]))


def corner_bowl_residuals(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float) - np.array([2.0, -2.0])


def corner_bowl_resample(x: np.ndarray, step: int, rng: np.random.Generator) -> Objective:
    weights = rng.uniform(0.5, 1.5, 2)
    return WeightedLeastSquares(np.eye(2), np.array([2.0, -2.0]), weights).objective("corner_bowl_model")


def corner_bowl() -> Objective:
    return Objective(corner_bowl_value, 2, grad=corner_bowl_gradient, hess=bowl_hessian, bounds=[(-1.0, 1.0)] * 2,
                     x0=[0.0, 0.0], name="corner_bowl", resample=corner_bowl_resample,
                     residuals=corner_bowl_residuals, jacobian=identity_jacobian)


def raising_value(x: np.ndarray) -> float:
    raise RuntimeError("evaluation failed on purpose")


def raising_resample(x: np.ndarray, step: int, rng: np.random.Generator) -> Objective:
    return raising_objective()


def raising_objective() -> Objective:
    return Objective(raising_value, 2, grad=raising_value, hess=raising_value, bounds=[(-1.0, 1.0)] * 2,
                     x0=[0.5, 0.5], name="raising", resample=raising_resample, residuals=raising_value,
                     jacobian=raising_value)


def _seed(index: int = 0) -> np.random.SeedSequence:
    return np.random.SeedSequence(SEED, spawn_key=(index, 1))


def _usable(minimizer, objective: Objective) -> bool:
    try:
        minimizer.check(objective)
    except ConfigError:
        return False
    return True


# -- minimizers ---------------------------------------------------------------

def check_minimizer_finds_the_bowl_minimum(minimizer) -> None:
    result = minimizer.minimize(bowl(), [-0.7, 0.6], _seed())
    assert result.success, f"{minimizer!r} did not succeed on the bowl: {result.message}"
    assert np.allclose(result.x, BOWL_CENTRE, atol=BOWL_TOLERANCE), (
        f"{minimizer!r} ended at {result.x}, not at the bowl's minimum {BOWL_CENTRE}")
    assert result.nfev >= 1 and result.path.shape[1] == 3, f"{minimizer!r} counted no evaluation or recorded no path"


def check_minimizer_maximizes_with_sense_max(minimizer) -> None:
    objective = bowl()
    negated = Objective(_negated_bowl, 2, grad=_negated_bowl_gradient, hess=_negated_bowl_hessian,
                        bounds=objective.bounds, x0=objective.x0, name="negated_bowl", resample=_negated_resample)
    if not _usable(minimizer, negated):
        return  # refused before any evaluation, as the contract allows: a sum of squares has no maximum
    result = minimizer.minimize(negated, [-0.7, 0.6], _seed(), sense="max")
    assert np.allclose(result.x, BOWL_CENTRE, atol=BOWL_TOLERANCE), (
        f"{minimizer!r} with sense='max' ended at {result.x}, not at the maximum {BOWL_CENTRE} of −bowl")
    assert result.value == -bowl_value(result.x), "a maximum search must report the objective's own value"


def _negated_bowl(x: np.ndarray) -> float:
    return -bowl_value(x)


def _negated_bowl_gradient(x: np.ndarray) -> np.ndarray:
    return -bowl_gradient(x)


def _negated_bowl_hessian(x: np.ndarray) -> np.ndarray:
    return -bowl_hessian(x)


def _negated_resample(x: np.ndarray, step: int, rng: np.random.Generator) -> Objective:
    model = bowl_resample(x, step, rng)
    return Objective(_Negated(model.fun), 2, grad=_Negated(model.grad), hess=_Negated(model.hess), name="negated_model")


class _Negated:
    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, x: np.ndarray):
        return -np.asarray(self.fn(x))


def check_minimizer_is_deterministic_given_its_seed(minimizer) -> None:
    first = minimizer.minimize(bowl(), [-0.7, 0.6], _seed(3))
    again = minimizer.minimize(bowl(), [-0.7, 0.6], _seed(3))
    assert np.array_equal(first.x, again.x) and first.nfev == again.nfev and np.array_equal(first.path, again.path), (
        f"{minimizer!r} gave two different runs for the same start and seed")


def check_minimizer_respects_the_bounds(minimizer) -> None:
    """A run ends within the bounds, or is marked failed (STATUS_OUT_OF_BOUNDS): never an answer outside."""
    objective = corner_bowl()
    if not _usable(minimizer, objective):
        return
    result = minimizer.minimize(objective, [0.0, 0.0], _seed())
    inside = bool(np.all((result.x >= -1.0) & (result.x <= 1.0)))
    assert inside or (result.status == STATUS_OUT_OF_BOUNDS and not result.admissible), (
        f"{minimizer!r} ended outside the bounds at {result.x} without being marked STATUS_OUT_OF_BOUNDS")
    if inside and result.success:
        assert np.allclose(result.x, [1.0, -1.0], atol=BOWL_TOLERANCE), (
            f"{minimizer!r} succeeded at {result.x}, not at the box minimum (1, -1)")


def check_minimizer_turns_a_failed_evaluation_into_a_failed_result(minimizer) -> None:
    result = minimizer.minimize(raising_objective(), [0.5, 0.5], _seed())
    assert not result.success and result.status == STATUS_RAISED, (
        f"{minimizer!r}: an objective that raises must end the run as a failed result (STATUS_RAISED), "
        f"got status {result.status}")
    assert "evaluation failed on purpose" in result.message, f"{minimizer!r}: the message must name the error"


def check_minimizer_pickles(minimizer) -> None:
    """It travels to worker processes: a copy is equal and makes the same run."""
    copy = pickle.loads(pickle.dumps(minimizer))
    assert copy == minimizer, f"{minimizer!r} is not equal to its pickled copy"
    assert np.array_equal(copy.minimize(bowl(), [-0.7, 0.6], _seed()).x, minimizer.minimize(bowl(), [-0.7, 0.6], _seed()).x)


def check_minimizer_round_trips_its_configuration(minimizer) -> None:
    """``kind`` selects it in a ``[fitting]`` table: its options read back are the same minimizer."""
    from powdex.optim.config import parse_config

    table = minimizer.model_dump(mode="json", exclude_defaults=True) | {"kind": minimizer.kind}
    assert parse_config({"fitting": {"minimizer": table}}).minimizer == minimizer, (
        f"{minimizer!r} does not read back from its own configuration {table}")


MINIMIZER_CHECKS = [
    check_minimizer_finds_the_bowl_minimum,
    check_minimizer_maximizes_with_sense_max,
    check_minimizer_is_deterministic_given_its_seed,
    check_minimizer_respects_the_bounds,
    check_minimizer_turns_a_failed_evaluation_into_a_failed_result,
    check_minimizer_pickles,
    check_minimizer_round_trips_its_configuration,
]


def check_minimizer(minimizer) -> None:
    """Every minimizer check."""
    for check in MINIMIZER_CHECKS:
        check(minimizer)


# -- strategies ---------------------------------------------------------------

def check_strategy_plans_the_same_runs_for_the_same_seed(strategy) -> None:
    first, again = strategy.plan(bowl()), strategy.plan(bowl())
    assert len(first) == strategy.count, f"{strategy!r} planned {len(first)} runs, not its count {strategy.count}"
    assert all(np.array_equal(a.start, b.start) and a.sense == b.sense for a, b in zip(first, again)), (
        f"{strategy!r} planned different starts for the same seed")
    assert [run.index for run in first] == list(range(len(first))), "runs must be indexed 0, 1, ..."


def check_strategy_starts_are_finite_points_of_the_objective(strategy) -> None:
    for run in strategy.plan(bowl()):
        assert run.start.shape == (2,) and np.all(np.isfinite(run.start)), (
            f"{strategy!r}: run {run.index} starts at {run.start}, not a finite point of two parameters")


def check_strategy_ensemble_finds_the_bowl_minimum(strategy) -> None:
    from powdex.optim.ensemble import run_ensemble

    ensemble = run_ensemble(bowl(), strategy)
    assert ensemble.best is not None and np.allclose(ensemble.best.x, BOWL_CENTRE, atol=BOWL_TOLERANCE), (
        f"{strategy!r}: the ensemble's best is not the bowl's minimum")


def check_strategy_grows_keeping_its_first_runs(strategy) -> None:
    """Where ``prefix_stable()``, the first runs of a larger ensemble are the smaller one's, and
    both have the same fingerprint (a stored study may grow)."""
    if strategy.count_field is None or not strategy.prefix_stable():
        return
    larger = strategy.with_count(strategy.count + 3)
    small, large = strategy.plan(bowl()), larger.plan(bowl())
    assert all(np.array_equal(a.start, b.start) for a, b in zip(small, large)), (
        f"{strategy!r}: a larger ensemble does not begin with the smaller one's runs")
    assert strategy.fingerprint(bowl()) == larger.fingerprint(bowl())


def check_strategy_pickles(strategy) -> None:
    copy = pickle.loads(pickle.dumps(strategy))
    assert copy == strategy, f"{strategy!r} is not equal to its pickled copy"


def check_strategy_round_trips_its_configuration(strategy) -> None:
    from powdex.optim.config import parse_config

    table = strategy.model_dump(mode="json", exclude_defaults=True) | {"kind": strategy.kind}
    table["minimizer"] = strategy.minimizer.model_dump(mode="json", exclude_defaults=True) | {"kind": strategy.minimizer.kind}
    assert parse_config({"fitting": {"minimizer": table}}).strategy() == strategy, (
        f"{strategy!r} does not read back from its own configuration {table}")


STRATEGY_CHECKS = [
    check_strategy_plans_the_same_runs_for_the_same_seed,
    check_strategy_starts_are_finite_points_of_the_objective,
    check_strategy_ensemble_finds_the_bowl_minimum,
    check_strategy_grows_keeping_its_first_runs,
    check_strategy_pickles,
    check_strategy_round_trips_its_configuration,
]


def check_strategy(strategy) -> None:
    """Every strategy check."""
    for check in STRATEGY_CHECKS:
        check(strategy)


# -- executors ----------------------------------------------------------------

def square(value: float) -> float:
    return value * value


def fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("task 3 failed on purpose")
    return value


def check_executor_gives_the_in_process_results(executor) -> None:
    """An ensemble gives the same runs, bit for bit, on this executor as in process."""
    from powdex.optim.ensemble import run_ensemble
    from powdex.optim.executors import InProcess
    from powdex.optim.minimizers import LBFGS
    from powdex.optim.restarts import Spa

    strategy = Spa(max_iter=12, seed=SEED, minimizer=LBFGS())
    here = run_ensemble(bowl(), strategy, executor=InProcess())
    there = run_ensemble(bowl(), strategy, executor=executor)
    assert [r.run_index for r in there.results] == list(range(12))
    assert all(np.array_equal(a.x, b.x) and a.value == b.value and a.nfev == b.nfev
               for a, b in zip(here.results, there.results)), f"{executor!r} gave other runs than in process"


def check_executor_returns_every_result_once(executor) -> None:
    with executor:
        for value in range(7):
            executor.submit(square, value)
        results = sorted(executor.next_result() for _ in range(7))
    assert results == [value * value for value in range(7)], f"{executor!r} returned {results}"


def check_executor_raises_a_failed_task_in_the_driver(executor) -> None:
    """A task that raises gives its exception from ``next_result``, and the executor goes on."""
    with executor:
        for value in (1, 3):
            executor.submit(fail_on_three, value)
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(executor.next_result())
            except ValueError as error:
                outcomes.append(str(error))
        executor.submit(fail_on_three, 5)
        outcomes.append(executor.next_result())
    assert sorted(map(str, outcomes)) == ["1", "5", "task 3 failed on purpose"], f"{executor!r}: {outcomes}"


def check_executor_discards_what_is_in_flight(executor) -> None:
    with executor:
        for value in range(4):
            executor.submit(square, value)
        executor.discard()
        executor.submit(square, 9)
        result = executor.next_result()
    assert result == 81, f"{executor!r} returned {result} after discard(), not the next task's 81"


def check_executor_maps_in_parallel(executor) -> None:
    from powdex.optim.parallel import parallel_map

    results = dict(parallel_map(square, range(9), executor=executor))
    assert results == {value: value * value for value in range(9)}, f"{executor!r}: parallel_map gave {results}"


EXECUTOR_CHECKS = [
    check_executor_gives_the_in_process_results,
    check_executor_returns_every_result_once,
    check_executor_raises_a_failed_task_in_the_driver,
    check_executor_discards_what_is_in_flight,
    check_executor_maps_in_parallel,
]


def check_executor(executor) -> None:
    """Every executor check, on one start of the executor (a cluster starts once)."""
    with executor:
        for check in EXECUTOR_CHECKS:
            check(executor)


# -- every registered extension -------------------------------------------------

def registered_minimizer_examples() -> list[Any]:
    registry.load_built_ins()
    return [example for cls in registry.minimizer_classes() for example in cls.examples()]


def registered_strategy_examples(minimizer=None) -> list[Any]:
    from powdex.optim.minimizers import LBFGS

    registry.load_built_ins()
    minimizer = minimizer or LBFGS()
    return [example for cls in registry.strategy_classes() for example in cls.examples(minimizer)]


def registered_executor_examples() -> list[Any]:
    registry.load_built_ins()
    return [example for cls in dict.fromkeys(registry.EXECUTORS.values()) for example in cls.examples()]

"""Every registered minimizer, strategy and executor passes the contract checks of
powdex.optim.testing; an extension from outside is one module plus one registry line."""

import numpy as np
import pytest

import tests.optim.toy_extensions as toy  # registers CompassSearch and Threads: they must pass the checks too
from powdex.optim import ConfigError, parse_config, registry, run_ensemble, testing
from powdex.optim.minimizers import MetropolisChain
from powdex.optim.registry import executor_from_name
from powdex.optim.testfunctions import LINE_TRUTH, cauchy_line

MINIMIZERS = testing.registered_minimizer_examples()
STRATEGIES = testing.registered_strategy_examples()
EXECUTORS = testing.registered_executor_examples()


def name(example) -> str:
    return "-".join(str(part) for part in (type(example).__name__, getattr(example, "kind", ""),
                                           getattr(example, "algorithm", "")) if part)


def test_every_built_in_and_the_toy_extensions_are_checked():
    assert {"lbfgs", "dogleg", "trust-exact", "nlopt", "metropolis", "compass"} <= {m.kind for m in MINIMIZERS}
    assert any(isinstance(m, MetropolisChain) for m in MINIMIZERS)
    assert {"single", "spa", "sobol", "lhs", "points"} <= {s.kind for s in STRATEGIES}
    assert set(registry.EXECUTORS) >= {"inprocess", "processes", "dask", "threads"}
    assert {type(e).__name__ for e in EXECUTORS} >= {"InProcess", "LocalProcesses", "Dask", "Threads"}


@pytest.mark.parametrize("check", testing.MINIMIZER_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("minimizer", MINIMIZERS, ids=name)
def test_minimizer_contract(minimizer, check):
    check(minimizer)


@pytest.mark.parametrize("check", testing.STRATEGY_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("strategy", STRATEGIES, ids=name)
def test_strategy_contract(strategy, check):
    check(strategy)


@pytest.mark.parametrize("executor", EXECUTORS, ids=name)
def test_executor_contract(executor):
    testing.check_executor(executor)


def test_the_checks_catch_a_broken_minimizer():
    """A minimizer that draws unseeded random numbers, or hides a failed evaluation, is caught with the promise it broke."""
    from typing import Literal

    class Wanderer(toy.CompassSearch):
        kind: Literal["wanderer"] = "wanderer"

        def search(self, tracker, start, seed):
            # Unseeded and unclipped: clipping to a box let two runs land on the same corner now and then.
            x = start + np.random.default_rng().normal(size=start.size)
            return wandered_end(x, tracker.value(x))

    class Swallower(toy.CompassSearch):
        kind: Literal["swallower"] = "swallower"

        def search(self, tracker, start, seed):
            try:
                return wandered_end(start, tracker.value(start))
            except Exception:
                return wandered_end(start, 0.0)

    with pytest.raises(AssertionError, match="gave two different runs for the same start and seed"):
        testing.check_minimizer_is_deterministic_given_its_seed(Wanderer())
    with pytest.raises(AssertionError, match="must end the run as a failed result"):
        testing.check_minimizer_turns_a_failed_evaluation_into_a_failed_result(Swallower())


def wandered_end(x, value):
    from powdex.optim import SearchEnd

    return SearchEnd(x, value, None, 0, True, "wandered")


def test_a_toy_minimizer_and_executor_run_through_the_configuration_and_the_ensemble():
    config = parse_config({"fitting": {"minimizer": {"kind": "spa", "max_iter": 6, "seed": 4,
                                                     "minimizer": {"kind": "compass", "step": 0.5}}}})
    assert config.strategy().minimizer == toy.CompassSearch(step=0.5)
    with pytest.raises(ConfigError, match="fitting.minimizer.step: Input should be greater than 0"):
        parse_config({"fitting": {"minimizer": {"kind": "compass", "step": -1.0}}})
    ensemble = run_ensemble(testing.bowl(), config.strategy(), executor=executor_from_name("threads", workers=2))
    assert len(ensemble.results) == 6 and all(result.success for result in ensemble.results)
    np.testing.assert_allclose(ensemble.best.x, testing.BOWL_CENTRE, atol=1e-6)
    # The toy minimizer is also a chain's local minimizer: a Metropolis chain on a resampling objective.
    chain = parse_config({"fitting": {"minimizer": {"kind": "metropolis", "local": {"kind": "compass"}}}}).strategy()
    assert chain.minimizer.local == toy.CompassSearch()
    fit = run_ensemble(cauchy_line(), chain, executor=executor_from_name("threads"))
    np.testing.assert_allclose(fit.best.x, LINE_TRUTH, atol=0.05)


def test_registering_a_taken_kind_is_refused():
    from typing import Literal

    class Impostor(toy.CompassSearch):
        kind: Literal["lbfgs"] = "lbfgs"

    with pytest.raises(ValueError, match="minimizer kind 'lbfgs' is taken by powdex.optim.minimizers.LBFGS"):
        registry.register_minimizer(Impostor)


def test_an_unknown_executor_name_is_a_one_line_config_error():
    from powdex.optim import ConfigError

    with pytest.raises(ConfigError, match="executor: unknown name 'gpu'; known: inprocess, processes, dask"):
        executor_from_name("gpu")

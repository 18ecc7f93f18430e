"""Metropolis chains of local minimizations on resampled objectives (``MetropolisChain``) and ensembles
from given starting points (``Points``): convergence, the acceptance rule, determinism across executors."""

import numpy as np
import pytest

from powdex.optim import LBFGS, InProcess, LocalProcesses, MetropolisChain, Points, ResultsStore, run_ensemble
from powdex.optim.errors import ConfigError
from powdex.optim.result import STATUS_TIME_LIMIT
from powdex.optim.testfunctions import LINE_TRUTH, cauchy_line, rosenbrock


def test_a_chain_on_subsampled_reweighted_models_reaches_the_robust_fit():
    objective = cauchy_line()
    chain = MetropolisChain(steps=40, patience=10).minimize(objective, [-5.0, 8.0], seed=1)
    np.testing.assert_allclose(chain.x, LINE_TRUTH, atol=0.01)
    assert chain.value <= LBFGS().minimize(objective, [-5.0, 8.0]).value + 0.01
    assert chain.path[0, 2] > 300 and chain.path[-1, 2] < 106  # started far, each row an accepted state


def test_a_cold_chain_never_moves_uphill_and_a_hot_one_accepts_every_step():
    objective = cauchy_line()
    cold = MetropolisChain(steps=30, patience=30, temperature=1e-9).minimize(objective, [-5.0, 8.0], seed=1)
    assert np.all(np.diff(cold.path[:, 2]) <= 0)
    hot = MetropolisChain(steps=30, patience=30, temperature=1e6).minimize(objective, [-5.0, 8.0], seed=1)
    assert hot.message == "30 steps, 30 accepted"
    assert np.any(np.diff(hot.path[:, 2]) > 0)
    assert hot.value == hot.path[:, 2].min()  # the answer is the best state visited, not the last


def test_patience_ends_a_chain_that_stopped_improving():
    chain = MetropolisChain(steps=500, patience=3, temperature=1e-9).minimize(cauchy_line(), [-5.0, 8.0], seed=1)
    assert chain.nit < 500
    assert chain.message.startswith(f"{chain.nit} steps")


def test_chains_are_the_same_for_a_seed_on_any_executor_and_resume_from_the_store(tmp_path):
    objective = cauchy_line()
    strategy = Points(points=[(-5.0, 8.0), (5.0, 5.0), (0.0, 0.0), (3.0, -2.0)], seed=7,
                      minimizer=MetropolisChain(steps=15))
    here = run_ensemble(objective, strategy, executor=InProcess())
    processes = run_ensemble(objective, strategy, executor=LocalProcesses(2))
    for a, b in zip(here.results, processes.results):
        np.testing.assert_array_equal(a.start, b.start)
        np.testing.assert_array_equal(a.path, b.path)
    np.testing.assert_array_equal([r.start for r in here.results], np.array(strategy.points))
    other_seed = run_ensemble(objective, strategy.model_copy(update={"seed": 8}))
    assert any(not np.array_equal(a.path, b.path) for a, b in zip(here.results, other_seed.results))
    store = ResultsStore(tmp_path / "chains.db")
    first = run_ensemble(objective, strategy, store=store)
    again = run_ensemble(objective, strategy, store=store)
    assert first.executed == 4 and again.executed == 0
    np.testing.assert_array_equal([r.x for r in again.results], [r.x for r in here.results])


def test_a_chain_refuses_an_objective_that_cannot_resample_and_points_must_fit_the_objective():
    with pytest.raises(ConfigError, match="metropolis needs an objective that can resample itself"):
        MetropolisChain().minimize(rosenbrock(), [0.0, 0.0])
    with pytest.raises(ConfigError, match="starting points of 3 values for objective 'cauchy_line' of 2"):
        run_ensemble(cauchy_line(), Points(points=[(1.0, 2.0, 3.0)], minimizer=LBFGS()))


def test_chains_from_given_points_are_configured_in_toml():
    from powdex.optim import parse_config

    config = parse_config({"fitting": {"minimizer": {
        "kind": "points", "points": [[-5.0, 8.0], [0.0, 0.0]], "seed": 3,
        "minimizer": {"kind": "metropolis", "steps": 40, "patience": 10, "local": {"kind": "trust-exact"}},
    }}})
    ensemble = run_ensemble(cauchy_line(), config.strategy())
    assert [r.start.tolist() for r in ensemble.results] == [[-5.0, 8.0], [0.0, 0.0]]
    np.testing.assert_allclose(ensemble.best.x, LINE_TRUTH, atol=0.01)


def test_a_chain_in_progress_stops_at_its_time_limit_and_says_so():
    """A chain that would run for hours (a million steps, never out of patience) ends at its time limit at the
    best state it had reached, its status saying why."""
    endless = MetropolisChain(steps=10**6, patience=10**6, temperature=1e6)
    chain = endless.minimize(cauchy_line(), [-5.0, 8.0], seed=1, time_limit=0.2)
    assert chain.status == STATUS_TIME_LIMIT and not chain.success
    assert chain.message.startswith("stopped at its time limit after")
    assert chain.value == chain.path[:, 2].min() < chain.path[0, 2]  # the best point reached, not the start


def test_an_ensemble_of_chains_at_its_time_limit_keeps_truncated_runs_out_of_the_store(tmp_path):
    objective = cauchy_line()
    endless = Points(points=[(-5.0, 8.0), (5.0, 5.0)], seed=7,
                     minimizer=MetropolisChain(steps=10**6, patience=10**6, temperature=1e6))
    store = ResultsStore(tmp_path / "chains.db")
    cut = run_ensemble(objective, endless, store=store, time_limit=0.2)
    assert cut.truncated + cut.unfinished == 2
    assert all(r.status == STATUS_TIME_LIMIT for r in cut.results)
    assert store.results(cut.study) == []  # a rerun redoes them in full


def test_chains_that_end_before_the_time_limit_are_the_same_as_without_one():
    strategy = Points(points=[(-5.0, 8.0), (5.0, 5.0)], seed=7, minimizer=MetropolisChain(steps=15))
    free = run_ensemble(cauchy_line(), strategy)
    limited = run_ensemble(cauchy_line(), strategy, time_limit=600)
    assert limited.truncated == 0
    for a, b in zip(free.results, limited.results):
        np.testing.assert_array_equal(a.path, b.path)

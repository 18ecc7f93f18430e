"""Restart strategies, executors and the driver: global minima, determinism
across executors, maxima searches, and a real dask cluster."""

import numpy as np
import pytest
from scipy.stats import qmc
from threadpoolctl import threadpool_info

import powdex.optim.ensemble as ensemble_module
from powdex.optim import (
    LBFGS,
    STATUS_OUT_OF_BOUNDS,
    STATUS_RAISED,
    Dask,
    Design,
    InProcess,
    LocalProcesses,
    NLopt,
    Objective,
    SingleRun,
    Spa,
    TrustRegion,
    run_ensemble,
)
from powdex.optim.ensemble import Chunk, run_chunk
from powdex.optim.errors import ConfigError
from powdex.optim.testfunctions import (
    HARTMANN6_MINIMUM,
    hartmann6,
    hartmann6_gradient,
    hartmann6_hessian,
    hartmann6_value,
    rastrigin,
    rosenbrock,
    volcano,
)

BOBYQA = NLopt(algorithm="LN_BOBYQA")


def _signature(ensemble):
    return [(r.run_index, r.sense, r.start.tobytes(), r.x.tobytes(), r.nfev) for r in ensemble.results]


def test_spa_finds_the_global_minimum_where_a_single_local_run_does_not():
    objective = rastrigin(2)  # a local minimum near every integer point in [-5.12, 5.12]^2
    single = run_ensemble(objective, SingleRun(minimizer=BOBYQA))
    spa = run_ensemble(objective, Spa(max_iter=100, seed=3, minimizer=BOBYQA))
    assert single.best.value > 1.0
    assert spa.best.value < 1e-10
    np.testing.assert_allclose(spa.best.x, 0.0, atol=1e-5)
    assert len({round(r.value, 3) for r in spa.results}) > 10  # it really visited many minima


def test_spa_starts_are_uniform_within_bounds_and_depend_only_on_seed_and_index():
    objective = rastrigin(3)
    runs = Spa(max_iter=400, seed=11, minimizer=BOBYQA).plan(objective)
    starts = np.array([run.start for run in runs])
    assert np.all(starts >= -5.12) and np.all(starts <= 5.12)
    assert abs(starts.mean()) < 0.5 and starts.std() == pytest.approx(10.24 / np.sqrt(12), rel=0.1)
    prefix = Spa(max_iter=10, seed=11, minimizer=BOBYQA).plan(objective)
    np.testing.assert_array_equal([run.start for run in prefix], starts[:10])
    other_seed = Spa(max_iter=10, seed=12, minimizer=BOBYQA).plan(objective)
    assert not np.allclose([run.start for run in other_seed], starts[:10])


def test_design_starts_fill_space():
    objective = hartmann6()
    lhs = np.array([run.start for run in Design(kind="lhs", runs=16, minimizer=BOBYQA).plan(objective)])
    # A Latin hypercube has exactly one point in each of the 16 strata per axis.
    for column in lhs.T:
        assert sorted(np.floor(column * 16).astype(int)) == list(range(16))
    sobol = np.array([run.start for run in Design(kind="sobol", runs=32, minimizer=BOBYQA).plan(objective)])
    randoms = np.array([run.start for run in Spa(max_iter=32, minimizer=BOBYQA).plan(objective)])
    assert qmc.discrepancy(sobol) < qmc.discrepancy(randoms)
    shorter = Design(kind="sobol", runs=10, minimizer=BOBYQA).plan(objective)
    np.testing.assert_array_equal([run.start for run in shorter], sobol[:10])


def test_design_ensemble_finds_hartmann6_global_minimum():
    ensemble = run_ensemble(hartmann6(), Design(kind="sobol", runs=16, seed=2, minimizer=LBFGS(conv_threshold=1e7)))
    assert ensemble.best.value == pytest.approx(HARTMANN6_MINIMUM[0], abs=1e-5)


def test_maximize_and_both_senses():
    maxima = run_ensemble(volcano(), Spa(max_iter=6, seed=1, sense="max", minimizer=LBFGS(conv_threshold=1e7)))
    # The rim's highest point: radius ~2 on the +x side, value ~1.5.
    assert maxima.best.sense == "max" and maxima.best.value == pytest.approx(1.505, abs=1e-3)
    assert all(r.path[-1, -1] == pytest.approx(r.value) for r in maxima.results)  # path holds f, not -f
    both = run_ensemble(volcano(), Spa(max_iter=20, seed=1, sense="both", minimizer=LBFGS(conv_threshold=1e7)))
    assert [r.sense for r in both.results] == ["min", "max"] * 10
    assert both.best.sense == "min" and both.best.value == pytest.approx(-0.5997, abs=1e-3)
    assert max(r.value for r in both.results if r.sense == "max") == pytest.approx(1.505, abs=1e-3)


def test_restart_strategies_refuse_unbounded_objectives_before_running():
    with pytest.raises(ConfigError, match="spa draws starts within bounds.*'rosenbrock' is unbounded in parameters \\[0, 1\\]"):
        run_ensemble(rosenbrock(2), Spa(max_iter=5, minimizer=BOBYQA))


def test_same_seed_same_results_in_process_and_in_local_processes(monkeypatch):
    strategy = Spa(max_iter=24, seed=5, sense="both", minimizer=NLopt(algorithm="GN_CRS2_LM", maxeval=200))
    serial = run_ensemble(hartmann6(), strategy, executor=InProcess())
    executor = LocalProcesses(workers=2)
    with executor:
        parallel = run_ensemble(hartmann6(), strategy, executor=executor)
        # Out of time after every run: each chunk hands all but one run back, to be sent again.
        monkeypatch.setattr(ensemble_module, "CHUNK_SECONDS", 0.0)
        regrouped = run_ensemble(hartmann6(), strategy, executor=executor)
    assert len(serial.results) == 24
    assert _signature(parallel) == _signature(serial) == _signature(regrouped)
    reseeded = run_ensemble(hartmann6(), strategy.model_copy(update={"seed": 6}))
    assert _signature(reseeded) != _signature(serial)


def test_equal_values_go_to_the_lower_run_index_whatever_the_arrival_order():
    results = run_ensemble(hartmann6(), Spa(max_iter=2, minimizer=BOBYQA)).results
    for result in results:
        result.value = -1.0
    first, second = results
    assert first.is_better_than(second) and not second.is_better_than(first)


def test_a_chunk_stops_taking_runs_when_its_time_is_up():
    runs = Spa(max_iter=5, seed=1, minimizer=BOBYQA).plan(hartmann6())
    results, unstarted = run_chunk(Chunk(hartmann6(), BOBYQA, tuple(runs), None, seconds=0.0))
    assert [r.run_index for r in results] == [0] and unstarted == [1, 2, 3, 4]
    results, unstarted = run_chunk(Chunk(hartmann6(), BOBYQA, tuple(runs), None, seconds=60.0))
    assert [r.run_index for r in results] == [0, 1, 2, 3, 4] and unstarted == []


def test_a_bare_minimizer_is_a_single_run():
    ensemble = run_ensemble(rosenbrock(2), LBFGS(conv_threshold=1e3, max_iter=500))
    assert len(ensemble.results) == 1
    np.testing.assert_array_equal(ensemble.results[0].start, rosenbrock(2).x0)
    assert ensemble.best.value < 1e-8
    with pytest.raises(ConfigError, match="expected a strategy .* or a minimizer .*, got str"):
        run_ensemble(rosenbrock(2), "lbfgs")


def raises_beyond_half(x):
    if x[0] > 0.5:
        raise ZeroDivisionError("beyond half")
    return hartmann6_value(x)


def always_nan(x):
    return float("nan")


def test_runs_that_raise_are_recorded_as_failed_and_the_ensemble_goes_on():
    objective = Objective(raises_beyond_half, 6, bounds=[(0, 1)] * 6, name="touchy")
    ensemble = run_ensemble(objective, Spa(max_iter=12, seed=3, minimizer=LBFGS(conv_threshold=1e7)))
    failed = [r for r in ensemble.results if r.status == STATUS_RAISED]
    assert len(ensemble.results) == 12 and 0 < len(failed) < 12
    assert all(r.message == "objective 'touchy' raised ZeroDivisionError: beyond half" for r in failed)
    assert ensemble.best.status != STATUS_RAISED and ensemble.best.x[0] <= 0.5
    nothing = run_ensemble(Objective(always_nan, 2, bounds=[(0, 1)] * 2), Spa(max_iter=3, minimizer=BOBYQA))
    assert nothing.best is None and len(nothing.results) == 3


def test_a_trust_region_run_outside_the_bounds_is_never_the_best():
    # The box x0 >= 0.3 cuts off Hartmann-6's global minimum, which Newton steps reach anyway.
    objective = Objective(hartmann6_value, 6, grad=hartmann6_gradient, hess=hartmann6_hessian,
                          bounds=[(0.3, 1.0)] + [(0.0, 1.0)] * 5)
    ensemble = run_ensemble(objective, Spa(max_iter=16, seed=2, minimizer=TrustRegion()))
    outside = [r for r in ensemble.results if r.status == STATUS_OUT_OF_BOUNDS]
    assert outside and min(r.value for r in outside) < ensemble.best.value
    assert ensemble.best.x[0] >= 0.3


def test_status_lines_of_every_run_name_the_run(capsys):
    run_ensemble(volcano(), Spa(max_iter=3, seed=1, minimizer=LBFGS(conv_threshold=1e3)), output_interval=2)
    lines = capsys.readouterr().err.splitlines()
    assert lines and {line.split(" iteration ")[0] for line in lines} == {"run 0", "run 1", "run 2"}


@pytest.mark.slow
def test_ensemble_on_a_real_dask_cluster(dask_scheduler):
    from distributed import get_task_stream

    strategy = Spa(max_iter=40, seed=9, minimizer=LBFGS(conv_threshold=1e7))
    serial = run_ensemble(hartmann6(), strategy)
    executor = Dask(dask_scheduler, chunk_size=3)
    with executor, get_task_stream(client=executor.client) as tasks:
        distributed = run_ensemble(hartmann6(), strategy, executor=executor)
        pools = executor.client.run(threadpool_info)
        # A lambda travels by value: the workers cannot import this test module.
        callbacks = executor.client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks))
    assert _signature(distributed) == _signature(serial)
    assert distributed.best.value == pytest.approx(HARTMANN6_MINIMUM[0], abs=1e-5)
    # Both workers ran chunks, each pinned to one thread.
    chunks = [task for task in tasks.data if task["key"].startswith("run_chunk")]
    assert len({task["worker"] for task in chunks}) == 2 == len(pools)
    assert {pool["num_threads"] for worker in pools.values() for pool in worker} == {1}
    # ... and with the profiler and the event-loop probe stopped, the heartbeat kept.
    from powdex.optim.dask_plugin import OBSERVERS

    assert all("heartbeat" in names and not set(OBSERVERS) & set(names) for names in callbacks.values())

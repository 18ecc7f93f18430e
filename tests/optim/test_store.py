"""The results store: resume after interruption, queries, export."""

import time

import numpy as np
import pyarrow.csv
import pyarrow.parquet
import pytest

from powdex.optim import LBFGS, Design, LocalProcesses, Objective, ResultsStore, SingleRun, Spa, run_ensemble
from powdex.optim.errors import ConfigError, StoreError
from powdex.optim.result import STATUS_TIME_LIMIT
from powdex.optim.testfunctions import hartmann6, hartmann6_gradient, hartmann6_value, rosenbrock

STRATEGY = Spa(max_iter=20, seed=4, sense="both", minimizer=LBFGS(conv_threshold=1e7))


class Interrupt:
    """A progress display whose user presses Ctrl-C after ``after`` runs."""

    def __init__(self, after):
        self.after = after

    def start(self, total, done):
        pass

    def update(self, result, best, new_best):
        self.after -= 1
        if self.after == 0:
            raise KeyboardInterrupt

    def finish(self):
        pass


def _counting_hartmann():
    calls = []

    def value(x):
        calls.append(1)
        return hartmann6_value(x)

    return Objective(value, 6, grad=hartmann6_gradient, bounds=[(0, 1)] * 6, name="hartmann6"), calls


def _slow_hartmann():
    def value(x):
        time.sleep(0.005)
        return hartmann6_value(x)

    return Objective(value, 6, grad=hartmann6_gradient, bounds=[(0, 1)] * 6, name="hartmann6")


def test_a_time_limit_stops_handing_out_runs_and_the_store_resumes_the_rest(tmp_path):
    assert run_ensemble(hartmann6(), STRATEGY, time_limit=0.0).results == []
    assert run_ensemble(hartmann6(), STRATEGY, time_limit=0.0).unfinished == 20
    reference = run_ensemble(hartmann6(), STRATEGY)
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        cut = run_ensemble(_slow_hartmann(), STRATEGY, store=store, time_limit=0.5)
        # Runs of about 0.1 s each: some are done by then, those in progress stop, the rest wait.
        assert cut.executed > 0 and cut.unfinished > 0 and cut.executed + cut.unfinished == 20
        assert len(cut.results) == cut.executed
        # Runs stopped at the limit are reported but not stored: the resume redoes them in full.
        assert len(store.results(cut.study)) == cut.executed - cut.truncated
        assert sum(r.status == STATUS_TIME_LIMIT for r in cut.results) == cut.truncated
        resumed = run_ensemble(hartmann6(), STRATEGY, store=store)
    assert resumed.executed == cut.unfinished + cut.truncated and resumed.unfinished == 0
    assert [(r.run_index, r.x.tobytes()) for r in resumed.results] == [
        (r.run_index, r.x.tobytes()) for r in reference.results]


def test_resume_after_interruption_loses_nothing_and_repeats_nothing(tmp_path):
    reference = run_ensemble(hartmann6(), STRATEGY)
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            run_ensemble(hartmann6(), STRATEGY, store=store, progress=Interrupt(after=7))
        study = store.studies()[0]
        assert [r.run_index for r in store.results(study)] == list(range(7))

    objective, calls = _counting_hartmann()
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        resumed = run_ensemble(objective, STRATEGY, store=store)
        stored = store.results(study)
    assert resumed.executed == 13
    # Evaluations made now are exactly those of the 13 runs not yet stored.
    assert len(calls) == sum(r.nfev for r in resumed.results[7:])
    assert [r.run_index for r in stored] == list(range(20))
    for mine, theirs in zip(stored, reference.results):
        assert (mine.sense, mine.nfev) == (theirs.sense, theirs.nfev)
        np.testing.assert_array_equal(mine.x, theirs.x)
        np.testing.assert_array_equal(mine.path, theirs.path)

    with ResultsStore(tmp_path / "runs.sqlite") as store:
        again = run_ensemble(objective, STRATEGY, store=store)
    assert again.executed == 0 and len(calls) == sum(r.nfev for r in resumed.results[7:])


@pytest.mark.parametrize("cut", [1, 2], ids=["creating the study", "storing runs"])
def test_a_ctrl_c_inside_a_write_leaves_the_store_usable_and_a_rerun_completes_it(tmp_path, cut):
    """``powdex optimize`` raises a Ctrl-C at once, so it can land inside a commit: the write is rolled back, the
    store answers the query that tells the user how much was kept, and the rerun stores every run."""
    from sqlalchemy import event

    with ResultsStore(tmp_path / "runs.sqlite") as store:
        commits = []

        def stop(connection):
            commits.append(connection)
            if len(commits) == cut:
                raise KeyboardInterrupt

        event.listen(store._conn, "commit", stop)
        with pytest.raises(KeyboardInterrupt):
            run_ensemble(hartmann6(), STRATEGY, store=store)
        event.remove(store._conn, "commit", stop)
        kept = {study: store.count(study) for study in store.studies()}
        assert sum(kept.values()) < 20
        resumed = run_ensemble(hartmann6(), STRATEGY, store=store)
        assert [r.run_index for r in store.results(resumed.study)] == list(range(20))


def test_a_study_grows_with_more_spa_runs_and_keeps_the_old_ones(tmp_path):
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        run_ensemble(hartmann6(), STRATEGY, store=store)
        bigger = run_ensemble(hartmann6(), STRATEGY.with_count(30), store=store)
        assert bigger.executed == 10 and len(store.results(bigger.study)) == 30
        assert store.studies() == [bigger.study]
        # A Latin hypercube of another size has other points: a study of its own.
        lhs = Design(kind="lhs", runs=8, minimizer=LBFGS(conv_threshold=1e7))
        small = run_ensemble(hartmann6(), lhs, store=store)
        large = run_ensemble(hartmann6(), lhs.with_count(12), store=store)
        assert small.study != large.study and large.executed == 12


def test_a_study_name_cannot_be_reused_for_other_settings(tmp_path):
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        run_ensemble(hartmann6(), STRATEGY, store=store, study="mine")
        with pytest.raises(ConfigError, match=r"study 'mine' .* other settings \(.*bounds.*\); choose another study name"):
            run_ensemble(hartmann6(), STRATEGY.model_copy(update={"seed": 5}), store=store, study="mine")


def _hartmann(bounds=((0.0, 1.0),) * 6, key=None):
    return Objective(hartmann6_value, 6, grad=hartmann6_gradient, bounds=bounds, name="hartmann6", key=key)


def test_runs_made_on_other_bounds_start_or_function_version_are_never_resumed(tmp_path):
    narrower = ((0.0, 0.9),) + ((0.0, 1.0),) * 5
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        first = run_ensemble(_hartmann(), STRATEGY, store=store)
        assert run_ensemble(_hartmann(), STRATEGY, store=store).executed == 0
        no_gradient = Objective(hartmann6_value, 6, bounds=[(0, 1)] * 6, name="hartmann6")
        for changed in (_hartmann(bounds=narrower), _hartmann(key="v2"), no_gradient):
            other = run_ensemble(changed, STRATEGY, store=store)
            assert other.study != first.study and other.executed == 20
        run_ensemble(_hartmann(), STRATEGY, store=store, study="mine")
        with pytest.raises(ConfigError, match="study 'mine' .* other settings"):
            run_ensemble(_hartmann(bounds=narrower), STRATEGY, store=store, study="mine")
        # A single run starts at the objective's start point, so that is part of its identity too...
        single = SingleRun(minimizer=LBFGS())
        moved = rosenbrock(2)
        moved.x0 = np.array([0.0, 0.0])
        assert run_ensemble(rosenbrock(2), single, store=store).study != run_ensemble(moved, single, store=store).study
        # ...but not of random restarts, which never use it.
        hartmann = _hartmann()
        hartmann.x0 = np.full(6, 0.1)
        assert run_ensemble(hartmann, STRATEGY, store=store).study == first.study


def test_best_refuses_bad_queries(tmp_path):
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        study = run_ensemble(hartmann6(), STRATEGY, store=store).study
        with pytest.raises(ValueError, match="best: sense must be 'min' or 'max', got 'maximum'"):
            store.best(study, sense="maximum")
        with pytest.raises(ValueError, match="best: n must be a positive integer, got 0"):
            store.best(study, n=0)


def test_resume_after_interrupting_local_processes(tmp_path):
    reference = run_ensemble(hartmann6(), STRATEGY)
    executor = LocalProcesses(workers=2)
    with executor, ResultsStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            run_ensemble(hartmann6(), STRATEGY, executor=executor, store=store, progress=Interrupt(after=5))
        study = store.studies()[0]
        # Every run the driver received was written before it was reported.
        written = len(store.results(study))
        assert 5 <= written < 20
        resumed = run_ensemble(hartmann6(), STRATEGY, executor=executor, store=store)
        stored = store.results(study)
    assert resumed.executed == 20 - written
    assert [r.run_index for r in stored] == list(range(20))
    for mine, theirs in zip(stored, reference.results):
        np.testing.assert_array_equal(mine.path, theirs.path)


def test_best_n_and_the_best_marked_as_found(tmp_path):
    with ResultsStore(f"sqlite:///{tmp_path / 'runs.sqlite'}") as store:
        ensemble = run_ensemble(hartmann6(), STRATEGY, store=store)
        best = store.best(ensemble.study, n=3)
        minima = sorted(r.value for r in ensemble.results if r.sense == "min")
        assert [r.value for r in best] == pytest.approx(minima[:3])
        assert best[0].run_index == ensemble.best.run_index
        top = store.best(ensemble.study, n=2, sense="max")
        assert all(r.sense == "max" for r in top) and top[0].value >= top[1].value
        assert store.study_best(ensemble.study) == (ensemble.best.run_index, ensemble.best.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export(tmp_path, suffix):
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        ensemble = run_ensemble(hartmann6(), STRATEGY, store=store)
        path = store.export(ensemble.study, tmp_path / f"runs{suffix}")
    table = pyarrow.csv.read_csv(path) if suffix == ".csv" else pyarrow.parquet.read_table(path)
    assert table.num_rows == 20
    assert table.column("run_index").to_pylist() == list(range(20))
    np.testing.assert_allclose(table.column("x_5").to_numpy(), [r.x[5] for r in ensemble.results])
    np.testing.assert_allclose(table.column("value").to_numpy(), [r.value for r in ensemble.results])


def test_postgresql_store_resumes_like_sqlite(postgresql_url):
    with ResultsStore(postgresql_url) as store:
        with pytest.raises(KeyboardInterrupt):
            run_ensemble(hartmann6(), STRATEGY, store=store, progress=Interrupt(after=5))
    with ResultsStore(postgresql_url) as store:
        resumed = run_ensemble(hartmann6(), STRATEGY, store=store)
        assert resumed.executed == 15
        reference = run_ensemble(hartmann6(), STRATEGY)
        stored = store.results(resumed.study)
    assert [r.run_index for r in stored] == list(range(20))
    for mine, theirs in zip(stored, reference.results):
        np.testing.assert_array_equal(mine.path, theirs.path)


def _two_drivers_write_one_study(url):
    objective = hartmann6()
    reference = run_ensemble(objective, STRATEGY).results
    minima = sorted((r for r in reference if r.sense == "min"), key=lambda r: (r.value, r.run_index))
    study = "shared"
    with ResultsStore(url) as first, ResultsStore(url) as second:
        for store in (first, second):  # both drivers open the study before either writes
            store.open_study(study, objective.name, objective.dim, STRATEGY.model_dump_json(),
                             STRATEGY.fingerprint(objective))
        first.add(study, reference[:12], best=minima[0])
        second.add(study, reference[4:20], best=minima[1])  # runs 4-11 are stored already
        assert [r.run_index for r in first.results(study)] == list(range(20))
        for mine, theirs in zip(first.results(study), reference):
            np.testing.assert_array_equal(mine.x, theirs.x)
        # The second driver's best is worse than the marked one: the mark stays.
        assert first.study_best(study) == (minima[0].run_index, minima[0].value)


def test_two_drivers_on_one_sqlite_study_skip_each_others_runs(tmp_path):
    _two_drivers_write_one_study(tmp_path / "runs.sqlite")


def test_two_drivers_on_one_postgresql_study_skip_each_others_runs(postgresql_url):
    _two_drivers_write_one_study(postgresql_url)


def test_a_store_that_cannot_be_opened_is_a_one_line_store_error(tmp_path):

    with pytest.raises(StoreError, match=r"^store .*/missing/runs.sqlite: directory .*/missing does not exist$"):
        ResultsStore(tmp_path / "missing" / "runs.sqlite")
    with pytest.raises(StoreError, match=r"^store nosuch://x/y: cannot open \(Can't load plugin: sqlalchemy.dialects:nosuch\)$"):
        ResultsStore("nosuch://x/y")
    with pytest.raises(StoreError, match=r"^store postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/db: cannot open \(connection failed"):
        ResultsStore("postgresql+psycopg://u:hunter2@127.0.0.1:1/db")


def test_a_driver_that_loses_the_race_to_create_every_table_still_opens_the_store(tmp_path, monkeypatch):
    """Two drivers opening one new store: the other creates each table between this one's look and its CREATE, so
    every CREATE of this one fails ("table ... already exists"), on the first table and on the second (CI saw
    the second collide after a retry of the first)."""
    from sqlalchemy import Table, create_engine

    other = create_engine(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    create = Table.create
    collided = []

    def other_driver_first(table, bind, checkfirst=False):
        create(table, other, checkfirst=True)
        collided.append(table.name)
        return create(table, bind, checkfirst=False)

    monkeypatch.setattr(Table, "create", other_driver_first)
    with ResultsStore(tmp_path / "runs.sqlite") as store:
        assert store.studies() == []
    assert collided == ["optim_studies", "optim_runs"]


def test_a_table_that_cannot_be_created_is_an_error_not_taken_as_made_by_another_driver(tmp_path, monkeypatch):
    from sqlalchemy import Table
    from sqlalchemy.exc import OperationalError

    def refused(table, bind, checkfirst=False):
        raise OperationalError("CREATE TABLE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Table, "create", refused)
    with pytest.raises(StoreError, match=r"cannot open \(.*disk I/O error"):
        ResultsStore(tmp_path / "runs.sqlite")

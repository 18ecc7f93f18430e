"""Interrupted and killed runs, as a user's shell or batch system does it:
the work done is kept, the rerun resumes with the rest, no worker process
outlives its driver, and a Ctrl-C ends at once with a message."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
POWDEX = [sys.executable, "-m", "powdex"]


def descendants(pid: int) -> list[int]:
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in table.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start(args: list[str], cwd: Path, **options) -> subprocess.Popen:
    return subprocess.Popen([*POWDEX, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **options)


def finish(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*POWDEX, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def kill_and_check_workers_die(process: subprocess.Popen) -> None:
    workers = descendants(process.pid)
    assert workers, "the driver had no worker processes to orphan"
    process.kill()
    process.communicate()
    wait_for(lambda: not any(running(pid) for pid in workers), 5.0, "the workers of a killed driver to exit")


def series(tmp_path: Path, patterns: int) -> Path:
    folder = tmp_path / "patterns"
    folder.mkdir()
    for i in range(patterns):
        (folder / f"glycine_{i}.txt").write_text((EXAMPLES / "glycine.txt").read_text())
    return folder


pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="process checks read /proc (Linux)")


@pytest.mark.slow
def test_a_killed_series_leaves_no_workers_and_the_rerun_finishes_it(tmp_path):
    patterns, out = series(tmp_path, 3), tmp_path / "out"
    args = ["index", str(patterns), "--out", str(out), "--workers", "2"]
    driver = start(args, tmp_path)
    wait_for(lambda: list(out.glob("glycine_*.json")), 120, "the first result")
    kill_and_check_workers_die(driver)
    kept = sorted(out.glob("glycine_*.json"))
    assert 1 <= len(kept) < 3
    for result in kept:  # whole documents, never a truncated one
        assert json.loads(result.read_text())["candidates"][0]["bravais"] == "mP"
    rerun = finish(args, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(kept)} of 3 patterns already in {out} with these settings: skipped" in rerun.stderr
    rows = (out / "summary.csv").read_text().splitlines()
    assert [row.split(",")[:2] for row in rows[1:]] == [[f"glycine_{i}.txt", "mP"] for i in range(3)]
    assert (out / "series.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.parametrize("signum, status, said", [(signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_or_sigterm_ends_a_series_between_patterns_and_says_how_to_resume(tmp_path, signum, status, said):
    """A Ctrl-C (the terminal signals the whole session) and a batch scheduler's SIGTERM at the end of a slot
    (sent to the job's processes) end the series alike: what finished is kept, summarised and plotted."""
    patterns, out = series(tmp_path, 6), tmp_path / "out"
    driver = start(["index", str(patterns), "--out", str(out), "--workers", "2"], tmp_path, start_new_session=True)
    wait_for(lambda: list(out.glob("glycine_*.json")), 120, "the first result")
    workers = descendants(driver.pid)
    os.killpg(driver.pid, signum)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == status, stderr
    done = len(list(out.glob("glycine_*.json")))
    assert done < 6, "the series went on to the end instead of stopping"
    assert f"{said}: {done} of 6 patterns are in {out}; the same command resumes with the rest" in stderr
    assert "Traceback" not in stderr
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + done
    assert (out / "series.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*.lock")), "a stopped series must not keep its patterns locked"
    wait_for(lambda: not any(running(pid) for pid in workers), 30.0, "the workers to exit")


def optimize_args(store: Path) -> list[str]:
    return ["optimize", "hartmann6", "--runs", "600", "--seed", "7", "--store", str(store),
            "--executor", "processes", "--workers", "2"]


def stored_runs(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store) as db:
            return db.execute("select count(*) from optim_runs").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


@pytest.mark.slow
def test_a_killed_ensemble_leaves_no_workers_and_resumes_to_the_same_runs(tmp_path):
    from powdex.optim import LBFGS, ResultsStore, Spa, run_ensemble
    from powdex.optim.testfunctions import hartmann6

    store = tmp_path / "runs.sqlite"
    driver = start(optimize_args(store), tmp_path)
    wait_for(lambda: stored_runs(store) >= 20, 120, "20 stored runs")
    kill_and_check_workers_die(driver)
    kept = stored_runs(store)
    assert 20 <= kept < 600
    rerun = finish(optimize_args(store), tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"600 runs ({600 - kept} executed now)" in rerun.stdout
    reference = run_ensemble(hartmann6(), Spa(minimizer=LBFGS(), max_iter=600, seed=7))
    with ResultsStore(store) as results:
        (study,) = results.studies()
        resumed = results.results(study)
    assert [r.run_index for r in resumed] == list(range(600))
    np.testing.assert_array_equal([r.x for r in resumed], [r.x for r in reference.results])


# An objective whose last run never ends: the ensemble cannot finish before the Ctrl-C, however loaded the
# machine (600 runs of hartmann6 could, on a busy machine, all be done before the test saw 20 stored).
HELD_OBJECTIVE = """
import time

import numpy as np

from powdex.optim import Objective


def fun(x):
    while x[0] > 100:  # only the last start lies out there
        time.sleep(1)
    return float(np.sum((x - 1.0) ** 2))


def make():
    return Objective(fun, 2, bounds=[(-200.0, 200.0)] * 2, name="held")
"""


def test_ctrl_c_ends_an_ensemble_at_once_with_what_is_stored(tmp_path):
    (tmp_path / "held.py").write_text(HELD_OBJECTIVE)
    starts = [[i / 60, -i / 60] for i in range(59)] + [[150.0, 0.0]]
    (tmp_path / "fit.toml").write_text('[fitting]\n[fitting.minimizer]\nkind = "points"\n'
                                       f"points = {starts}\n"
                                       '[fitting.minimizer.minimizer]\nkind = "lbfgs"\n')
    store = tmp_path / "runs.sqlite"
    driver = start(["optimize", "held:make", "--config", "fit.toml", "--store", str(store), "--executor", "processes",
                    "--workers", "2"], tmp_path, start_new_session=True)
    wait_for(lambda: stored_runs(store) >= 20, 120, "20 stored runs")
    os.killpg(driver.pid, signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr
    assert stored_runs(store) < 60
    assert f"interrupted: {stored_runs(store)} runs of study 'held-points-" in stderr
    assert "the same command resumes" in stderr and "Traceback" not in stderr


@pytest.mark.slow
def test_two_drivers_on_one_study_at_once_both_end_cleanly_with_every_run_once(tmp_path):
    store = tmp_path / "runs.sqlite"
    args = ["optimize", "hartmann6", "--runs", "300", "--seed", "5", "--store", str(store)]
    drivers = [start(args, tmp_path) for _ in range(2)]
    outputs = [driver.communicate(timeout=300) for driver in drivers]
    for driver, (_stdout, stderr) in zip(drivers, outputs):
        assert driver.returncode == 0, stderr
        assert "Traceback" not in stderr
    assert stored_runs(store) == 300
    bests = {stdout.split("best ")[-1].split(" at run")[0] for stdout, _ in outputs}
    assert len(bests) == 1


@pytest.mark.slow
def test_a_powdex_folder_in_the_working_directory_does_not_shadow_the_package(tmp_path):
    (tmp_path / "powdex").mkdir()  # e.g. the parent directory of a clone
    (tmp_path / "powdex" / "notes.txt").write_text("not a package\n")
    (tmp_path / "my_objective.py").write_text(
        "from powdex.optim import Objective\n"
        "def bowl_value(x):\n"
        "    return float(((x - 0.25) ** 2).sum())\n"
        "def bowl():\n"
        "    return Objective(bowl_value, 2, bounds=[(-1, 1)] * 2, name='bowl')\n"
    )
    for executor in ("processes", "dask"):
        result = subprocess.run(["powdex", "optimize", "my_objective:bowl", "--runs", "8", "--executor", executor,
                                 "--workers", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "8 runs (8 executed now)" in result.stdout


BUILD = ("import sys\n"
         "from powdex.training.build import build_synthetic\n"
         "print(sum(build_synthetic(sys.argv[1], 40, seed=3, workers=2, chunk_size=2,"
         " on_progress=lambda n, kept: kept and print('kept', n, flush=True)).values()))\n")


@pytest.mark.slow
def test_a_killed_dataset_build_leaves_no_workers_and_the_rerun_finishes_it(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "dataset"
    driver = subprocess.Popen([sys.executable, "-c", BUILD, str(out)], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(list((out / "done").glob("*.json"))) >= 2, 120, "two finished chunks")
    kill_and_check_workers_die(driver)
    kept = len(list((out / "done").glob("*.json")))
    assert 2 <= kept < 20
    rerun = subprocess.run([sys.executable, "-c", BUILD, str(out)], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    written = int(rerun.stdout.split()[-1])
    assert rerun.stdout.startswith(f"kept {2 * kept}\n") and written == 40 - 2 * kept
    indices = sorted(i for path in out.glob("*/chunk-*.parquet") for i in pq.read_table(path)["entry_index"].to_pylist())
    assert indices == list(range(40))  # every entry once: none lost, none written twice

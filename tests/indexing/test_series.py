"""powdex.index_series: one JSON per pattern, summary and plot, resumed by settings fingerprint, and one
pattern indexed by one run only (lock files)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import powdex
from powdex.indexing import IndexingConfig
from powdex.series import PatternLock

CONFIG = IndexingConfig(systems="cubic", time_limit=20)
Q2 = {"units": "q2"}


def cubic_lists(folder: Path, names=("si", "cu", "w")) -> list[Path]:
    """q² lists of silicon (cF), copper (cF) and tungsten (cI)."""
    lines = {"si": (5.4312, [3, 8, 11, 16, 19, 24, 27, 32, 35, 40]),
             "cu": (3.6149, [3, 4, 8, 11, 12, 16, 19, 20, 24, 27]),
             "w": (3.1652, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20])}
    folder.mkdir(exist_ok=True)
    paths = []
    for name in names:
        a, sums = lines[name]
        path = folder / f"{name}.txt"
        path.write_text("\n".join(f"{s / a**2:.6f}" for s in sums) + "\n")
        paths.append(path)
    return paths


def test_a_series_writes_every_result_and_a_rerun_keeps_them(tmp_path):
    files, out = cubic_lists(tmp_path / "in"), tmp_path / "out"
    series = powdex.index_series(files, out, config=CONFIG, reading=Q2)
    assert [series.result(p).best.bravais.value for p in files] == ["cF", "cF", "cI"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in rows[1:]] == [["si.txt", "cF"], ["cu.txt", "cF"], ["w.txt", "cI"]]
    # The calibrated probability of each best cell, to tell which patterns need a look.
    probability = rows[0].split(",").index("probability")
    assert all(0.0 <= float(r.split(",")[probability]) <= 1.0 for r in rows[1:])
    assert (out / "series.png").read_bytes()[:4] == b"\x89PNG"
    written = {p: (out / f"{p.stem}.json").stat().st_mtime_ns for p in files}
    again = powdex.index_series(files, out, config=CONFIG, reading=Q2)
    assert again.skipped == 3
    assert {p: (out / f"{p.stem}.json").stat().st_mtime_ns for p in files} == written
    other = powdex.index_series(files, out, config=CONFIG.model_copy(update={"seed": 3}), reading=Q2)
    assert other.skipped == 0


def test_results_written_before_the_journal_and_fingerprints_are_matched_by_their_recorded_settings(tmp_path):
    files, out = cubic_lists(tmp_path / "in", ("si", "cu")), tmp_path / "out"
    powdex.index_series(files, out, config=CONFIG, reading=Q2)
    for name in ("si", "cu"):
        document = json.loads((out / f"{name}.json").read_text())
        del document["settings_fingerprint"], document["schema_version"]
        if name == "cu":  # made with another seed: redone
            document["settings"]["indexing"]["seed"] = 11
        (out / f"{name}.json").write_text(json.dumps(document))
    (out / ".series.json").unlink()  # a series folder from before the journal has no manifest
    again = powdex.index_series(files, out, config=CONFIG, reading=Q2)
    assert again.skipped == 1 and again.result(files[1]).best.bravais.value == "cF"
    assert "settings_fingerprint" not in json.loads((out / "si.json").read_text())
    assert "settings_fingerprint" in json.loads((out / "cu.json").read_text())
    assert json.loads((out / ".series.json").read_text())["settings"]["indexing.systems"] == ["cubic"]


def test_a_series_runs_on_a_given_executor_and_parallel_workers_give_the_same_cells(tmp_path):
    from powdex.optim import LocalProcesses

    files = cubic_lists(tmp_path / "in", ("si", "w"))
    here = powdex.index_series(files, tmp_path / "here", config=CONFIG, reading=Q2)
    pool = powdex.index_series(files, tmp_path / "pool", config=CONFIG, reading=Q2, executor=LocalProcesses(2))
    assert [pool.result(p).best.cell.a for p in files] == pytest.approx([here.result(p).best.cell.a for p in files])
    assert not list((tmp_path / "pool").glob(".*.lock"))


def test_a_pattern_locked_by_a_live_run_is_left_to_it_and_a_dead_runs_lock_is_taken_over(tmp_path):
    files, out = cubic_lists(tmp_path / "in", ("si", "cu")), tmp_path / "out"
    out.mkdir()
    import socket

    (out / ".si.lock").write_text(f"{socket.gethostname()} {os.getppid()}\n")  # pytest's parent: alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".cu.lock").write_text(f"{socket.gethostname()} {dead.pid}\n")
    series = powdex.index_series(files, out, config=CONFIG, reading=Q2)
    assert series.held_elsewhere == [files[0]]
    assert not (out / "si.json").exists() and (out / ".si.lock").exists()
    assert series.result(files[1]).best.bravais.value == "cF"
    assert not (out / ".cu.lock").exists()


def test_a_stop_that_lands_while_a_pattern_is_claimed_leaves_no_lock(tmp_path, monkeypatch):
    """A Ctrl-C or SIGTERM raises at once while the driver waits for a result, and the driver claims the next
    patterns there: one landing just after a lock file is created (here, in the check that no other run finished
    the pattern meanwhile) must not leave the file behind."""
    import powdex.series.runner as runner

    files, out = cubic_lists(tmp_path / "in", ("si", "cu")), tmp_path / "out"
    real, stopped = runner.load_finished, []

    def stop_once(path, fingerprint):
        if not stopped and (out / f".{path.stem}.lock").exists():
            stopped.append(path)
            raise KeyboardInterrupt
        return real(path, fingerprint)

    monkeypatch.setattr(runner, "load_finished", stop_once)
    with pytest.raises(KeyboardInterrupt):
        powdex.index_series(files, out, config=CONFIG, reading=Q2)
    assert stopped and not list(out.glob(".*.lock"))


def test_a_lock_is_exclusive_until_released(tmp_path):
    first, second = PatternLock(tmp_path / ".p.lock"), PatternLock(tmp_path / ".p.lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
    assert not (tmp_path / ".p.lock").exists()


@pytest.mark.slow
def test_two_series_on_one_folder_at_once_index_each_pattern_once(tmp_path):
    files = cubic_lists(tmp_path / "in")
    out = tmp_path / "out"
    program = ("import sys, powdex; from powdex.indexing import IndexingConfig; "
               "powdex.index_series(sys.argv[1:-1], sys.argv[-1], config=IndexingConfig(systems='cubic'), "
               "reading={'units': 'q2'}, progress=lambda path, document, done, total: print(path.name, flush=True))")
    run = [sys.executable, "-c", program, *map(str, files), str(out)]
    drivers = [subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    indexed = []
    for driver in drivers:
        stdout, stderr = driver.communicate(timeout=300)
        assert driver.returncode == 0, stderr
        indexed += stdout.split()
    assert sorted(indexed) == sorted(p.name for p in files)  # each by one run only
    documents = [json.loads((out / f"{p.stem}.json").read_text()) for p in files]
    assert [d["candidates"][0]["bravais"] for d in documents] == ["cF", "cF", "cI"]
    assert not list(out.glob(".*.lock"))

"""A series driver killed at a random point (SIGKILL) leaves no worker behind, and the rerun refines
only what was not recorded and ends with the results of a run never interrupted."""

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_interrupts import kill_and_check_workers_die, wait_for
from tests.series.conftest import DATA, PLAN, transition_series

COUNT = 8

pytestmark = [pytest.mark.skipif(not Path("/proc").is_dir(), reason="process checks read /proc (Linux)"),
              pytest.mark.slow]


def records(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every record: the patterns', and those of ensemble starts and refits."""
    return {path.name: (path.stat().st_mtime_ns, path.read_bytes())
            for path in (out / "journal" / "records").glob("*.json")} if (out / "journal" / "records").is_dir() else {}


def patterns_recorded(out: Path) -> int:
    return sum(name.startswith("scan_") for name in records(out))


def test_a_killed_series_resumes_to_the_uninterrupted_results_refining_nothing_twice(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for pattern in transition_series(COUNT, COUNT, step=0.05)[0]:
        np.savetxt(folder / pattern.source, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]))
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())

    def command(out: Path, *executor: str) -> list[str]:
        return [sys.executable, "-m", "powdex", "series", str(folder), "--plan", str(tmp_path / "plan.toml"),
                "--out", str(out), "--anode", "Cu", "--chains", "2", *executor]

    on_workers = ["--executor", "processes", "--workers", "2"]
    out = tmp_path / "out"
    # A random point: after a random number of finished patterns (seeded, so a failure can be rerun).
    kill_after = random.Random(26).randint(1, COUNT - 2)
    driver = subprocess.Popen(command(out, *on_workers), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: patterns_recorded(out) >= kill_after, 240, f"{kill_after} finished patterns")
    kill_and_check_workers_die(driver)
    kept = records(out)
    assert 1 <= patterns_recorded(out) < COUNT

    rerun = subprocess.run(command(out, *on_workers), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = records(out)
    assert patterns_recorded(out) == COUNT
    assert {name: after[name] for name in kept} == kept  # no record written again: nothing refined twice

    whole = subprocess.run(command(tmp_path / "whole"), capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    assert (out / "series.csv").read_text() == (tmp_path / "whole" / "series.csv").read_text()

"""``powdex optimize`` and ``powdex map`` from the command line."""

import re

import pytest
from typer.testing import CliRunner

from powdex.cli.main import app

runner = CliRunner()


def test_optimize_resumes_from_the_store_and_exports(tmp_path):
    config = tmp_path / "fit.toml"
    config.write_text('[fitting]\n[fitting.minimizer]\nkind = "sobol"\nruns = 8\n'
                      '[fitting.minimizer.minimizer]\nkind = "lbfgs"\nconv_threshold = 1e7\n')
    store, export = tmp_path / "runs.sqlite", tmp_path / "runs.csv"
    args = ["optimize", "hartmann6", "--config", str(config), "--store", str(store), "--seed", "3"]
    first = runner.invoke(app, [*args, "--export", str(export)])
    assert first.exit_code == 0, first.output
    assert "8 runs (8 executed now)" in first.output
    assert re.search(r"best -3\.3223\d+", first.output)
    assert len(export.read_text().splitlines()) == 9
    again = runner.invoke(app, args)
    assert "8 runs (0 executed now)" in again.output


def test_a_time_limited_optimize_says_what_is_left_and_the_rerun_runs_it(tmp_path):
    store = tmp_path / "runs.sqlite"
    args = ["optimize", "hartmann6", "--runs", "12", "--seed", "3", "--store", str(store)]
    cut = runner.invoke(app, [*args, "--time-limit", "0"])
    assert cut.exit_code == 0, cut.output
    assert "0 runs (0 executed now)" in cut.output
    assert "time limit reached: 12 runs not started; the same command runs them" in cut.output
    rest = runner.invoke(app, args)
    assert "12 runs (12 executed now)" in rest.output and "time limit" not in rest.output


def test_optimize_reports_configuration_errors_on_one_line(tmp_path):
    config = tmp_path / "fit.toml"
    config.write_text('[fitting]\n[fitting.minimizer]\nkind = "nlopt"\nalgorithm = "GN_DIRECT"\n')
    result = runner.invoke(app, ["optimize", "rosenbrock", "--config", str(config)])
    assert result.exit_code == 2
    assert result.output.startswith("error: fitting.minimizer.algorithm: NLopt GN_DIRECT is a global")


def test_map_error_falls_as_runs_are_added(tmp_path):
    out = tmp_path / "volcano.png"
    result = runner.invoke(app, ["map", "volcano", "--runs", "8", "--runs", "64", "--out", str(out),
                                 "--resolution", "41", "--seed", "1"])
    assert result.exit_code == 0, result.output
    errors = [float(line.split()[-1]) for line in result.output.splitlines() if re.match(r"\s+\d+\s+\(", line)]
    assert len(errors) == 2 and errors[1] < 0.5 * errors[0]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_without_a_store_is_refused_before_any_run():
    result = runner.invoke(app, ["optimize", "hartmann6", "--export", "runs.csv"])
    assert result.exit_code == 2
    assert result.output == "error: --export needs --store: runs are exported from the store\n"


USER_MODULE = '''
import numpy as np
from powdex.optim import Objective

def bowl_value(x):
    return float(np.sum((x - 0.25) ** 2))

def bowl():
    return Objective(bowl_value, 2, grad=lambda x: 2 * (x - 0.25), bounds=[(-1, 1)] * 2, name="bowl")

def nothing_value(x):
    return float("nan")

nothing = Objective(nothing_value, 2, bounds=[(-1, 1)] * 2, name="nothing")
'''


def test_a_user_objective_as_module_colon_name(tmp_path, monkeypatch):
    (tmp_path / "my_objectives.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = runner.invoke(app, ["optimize", "my_objectives:bowl", "--runs", "3"])
    assert result.exit_code == 0, result.output
    assert re.search(r"best [0-9.e-]+ at run \d: x = \[0\.25\d*, 0\.25\d*\]", result.output)
    # Every value NaN: no best, no crash, and a failing exit status with why.
    result = runner.invoke(app, ["optimize", "my_objectives:nothing", "--runs", "3"])
    assert result.exit_code == 1, result.output
    assert "error: none of the 3 runs reached a finite value within the bounds; run 0: " in result.output
    result = runner.invoke(app, ["optimize", "my_objectives:bowl_value"])
    assert result.exit_code == 2
    assert "error: objective: 'my_objectives:bowl_value' is not an Objective or a function returning one" in result.output
    result = runner.invoke(app, ["optimize", "nowhere"])
    assert result.output.startswith("error: objective: unknown test function 'nowhere'; known: rosenbrock")


def test_map_does_nothing_when_fitting_is_disabled(tmp_path):
    config = tmp_path / "fit.toml"
    config.write_text('[fitting]\nenabled = false\n[fitting.minimizer]\nkind = "spa"\n[fitting.minimizer.minimizer]\nkind = "lbfgs"\n')
    out = tmp_path / "volcano.png"
    result = runner.invoke(app, ["map", "volcano", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0 and "fitting is disabled" in result.output
    assert not out.exists()


FAILING_MODULES = {
    "fails_at_import": ("import numpy as np\n\ndef helper():\n    return np.ones(2).reshape(3)\n\nVALUE = helper()\n",
                        "error: objective: module 'fails_at_import' of 'fails_at_import:make' failed at import "
                        "(fails_at_import.py:4): ValueError: cannot reshape array of size 2 into shape (3,)",
                        ["fails_at_import.py\", line 6, in <module>", "fails_at_import.py\", line 4, in helper"]),
    "bad_syntax": ("def make(:\n    pass\n",
                   "error: objective: module 'bad_syntax' of 'bad_syntax:make' failed at import (bad_syntax.py:1): "
                   "SyntaxError: invalid syntax", ["bad_syntax.py\", line 1", "def make(:"]),
    "factory_raises": ("def make():\n    return {}['bounds']\n",
                       "error: objective: 'factory_raises:make' raised (factory_raises.py:2): KeyError: 'bounds'",
                       ["factory_raises.py\", line 2, in make"]),
}


@pytest.mark.parametrize("module", sorted(FAILING_MODULES))
def test_a_failing_user_module_gives_one_error_line_and_only_the_users_frames(module, tmp_path, monkeypatch):
    source, line, frames = FAILING_MODULES[module]
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = runner.invoke(app, ["optimize", f"{module}:make"])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0] == line
    assert [text for text in lines if text.startswith("error:")] == [line]
    for frame in frames:
        assert any(frame in text for text in lines), result.output
    # Only their frames: none of powdex's, importlib's or numpy's.
    files = [text.split('"')[1] for text in lines if text.lstrip().startswith("File ")]
    assert files and all(file.startswith(str(tmp_path)) for file in files), result.output

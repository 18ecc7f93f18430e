"""``powdex optimize`` and ``powdex map`` from the command line."""

import re

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


def test_optimize_reports_configuration_errors_on_one_line(tmp_path):
    config = tmp_path / "fit.toml"
    config.write_text('[fitting]\n[fitting.minimizer]\nkind = "nlopt"\nalgorithm = "GN_DIRECT"\n')
    result = runner.invoke(app, ["optimize", "rosenbrock", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ConfigError: fitting.minimizer.algorithm: NLopt GN_DIRECT is a global")


def test_map_error_falls_as_runs_are_added(tmp_path):
    out = tmp_path / "volcano.png"
    result = runner.invoke(app, ["map", "volcano", "--runs", "8", "--runs", "64", "--out", str(out),
                                 "--resolution", "41", "--seed", "1"])
    assert result.exit_code == 0, result.output
    errors = [float(line.split()[-1]) for line in result.output.splitlines() if re.match(r"\s+\d+\s+\(", line)]
    assert len(errors) == 2 and errors[1] < 0.5 * errors[0]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

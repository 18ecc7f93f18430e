"""``powdex series``: reads a folder, refines from a plan, writes the journal, table and report."""

import numpy as np
import typer
from typer.testing import CliRunner

from powdex.cli.series import series
from tests.series.conftest import DATA, PLAN, transition_series


def test_series_command_writes_report(tmp_path):
    app = typer.Typer()
    app.command()(series)
    folder = tmp_path / "scans"
    folder.mkdir()
    for pattern in transition_series(2, 10, step=0.05)[0]:
        np.savetxt(folder / pattern.source, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]))
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [str(folder), "--plan", str(tmp_path / "plan.toml"), "--out", str(out),
                                      "--anode", "Cu"])
    assert result.exit_code == 0, result.output
    assert "scan_001.xye: Rwp" in result.output
    assert (out / "report.html").exists() and (out / "series.csv").exists()
    assert len(list((out / "journal" / "records").glob("*.json"))) == 2


def test_series_command_bad_plan_is_one_error_line(tmp_path):
    app = typer.Typer()
    app.command()(series)
    (tmp_path / "a_1.xye").write_text("20 1 1\n21 2 1\n")
    (tmp_path / "plan.toml").write_text("phases = 3\n")
    result = CliRunner().invoke(app, [str(tmp_path / "a_1.xye"), "--plan", str(tmp_path / "plan.toml"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "plan.toml: phases" in result.output

"""``powdex series``: reads a folder, refines from a plan, writes the journal, table and report."""

import json

import numpy as np
import typer
from typer.testing import CliRunner

from powdex.cli.series import series
from tests.series.conftest import DATA, PLAN, transition_series


def run_series(tmp_path, plan: str, *options: str):
    """``powdex series`` on a folder of two .xye scans (no wavelength in them) with ``plan``: the result and the
    output folder."""
    app = typer.Typer()
    app.command()(series)
    folder = tmp_path / "scans"
    folder.mkdir()
    for pattern in transition_series(2, 10, step=0.05)[0]:
        np.savetxt(folder / pattern.source, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]))
    (tmp_path / "plan.toml").write_text(plan)
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    out = tmp_path / "out"
    return CliRunner().invoke(app, [str(folder), "--plan", str(tmp_path / "plan.toml"), "--out", str(out),
                                    *options]), out


def test_series_command_writes_report(tmp_path):
    result, out = run_series(tmp_path, PLAN, "--anode", "Cu")
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


def _scans(tmp_path, count: int, transition: int, step: float, c_over_a: float = 1.02):
    """``count`` patterns of ``transition_series`` written as .xye files, the plan and its CIF (c/a
    the first pattern's) beside them; returns the folder and the true (a, c) per pattern."""
    folder = tmp_path / "scans"
    folder.mkdir()
    patterns, truth = transition_series(count, transition, step=step, c_over_a=c_over_a)
    for pattern in patterns:
        np.savetxt(folder / pattern.source, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]))
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text().replace(
        "_cell_length_c 4.0800", f"_cell_length_c {4.0 * c_over_a:.4f}"))
    return folder, truth


def test_series_chains_give_the_same_results_on_two_worker_processes_as_in_process(tmp_path):
    # Which pattern seeds which depends on --chains only, not on where the chains run.
    app = typer.Typer()
    app.command()(series)
    folder, _ = _scans(tmp_path, 4, 10, 0.05)
    common = [str(folder), "--plan", str(tmp_path / "plan.toml"), "--anode", "Cu", "--chains", "2"]
    here = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "here")])
    there = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "there"), "--executor", "processes",
                                     "--workers", "2"])
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    records = tmp_path / "here" / "journal" / "records"
    seeded = {path.name: json.loads(path.read_text())["seeded_from"] for path in records.glob("scan_*.json")}
    assert seeded == {"scan_000.xye.json": None, "scan_001.xye.json": None,
                      "scan_002.xye.json": "scan_000.xye", "scan_003.xye.json": "scan_001.xye"}
    assert (tmp_path / "there" / "series.csv").read_text() == (tmp_path / "here" / "series.csv").read_text()
    assert [line for line in there.output.splitlines() if "Rwp" in line] == \
        [line for line in here.output.splitlines() if "Rwp" in line]


def test_series_parametric_places_the_breakpoint_at_the_transition(tmp_path):
    app = typer.Typer()
    app.command()(series)
    count, transition = 7, 4
    folder, truth = _scans(tmp_path, count, transition, 0.05)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [str(folder), "--plan", str(tmp_path / "plan.toml"), "--out", str(out),
                                      "--anode", "Cu", "--ensemble-starts", "4", "--parametric", "1"])
    assert result.exit_code == 0, result.output
    whole = json.loads((out / "parametric.json").read_text())
    assert whole["degree"] == 1 and whole["chosen"]["breakpoints"] == [transition]
    by_breakpoints = {tuple(m["breakpoints"]): m["bic"] for m in whole["candidates"]}
    assert by_breakpoints[()] > whole["chosen"]["bic"]
    # Patterns made with known noise: the whole-series fit reaches it (its model is the sequential
    # fits' own, polarisation included), and the polynomials follow the true cell on both sides.
    assert whole["chosen"]["chi2"] / whole["chosen"]["points"] < 1.1 ** 2
    for (a, c), cell in zip(truth, whole["cells"]["T"]):
        assert abs(cell[0] - a) < 5e-4 and abs(cell[2] - c) < 5e-4
    assert f"parametric, breakpoints [{transition}]" in result.output and "<- chosen" in result.output


def test_series_command_holds_an_instrument_given_on_the_command_line(tmp_path):
    """``--instrument`` stands in for the plan's: the .xye files carry no wavelength, which the instrument's Cu Kα
    lines give, and every fit holds its U though the plan's last stage frees the profile."""
    from tests.series.conftest import PLAN_WITH_PROFILE
    from tests.series.test_series_instrument import INSTRUMENT

    INSTRUMENT.save(tmp_path / "calibrated.toml")
    result, out = run_series(tmp_path, PLAN_WITH_PROFILE, "--instrument", str(tmp_path / "calibrated.toml"))
    assert result.exit_code == 0, result.output
    for record in sorted((out / "journal" / "records").glob("*.json")):
        parameters = {p["name"]: p for p in json.loads(record.read_text())["result"]["parameters"]}
        assert parameters["U"]["value"] == INSTRUMENT.U and not parameters["U"]["refined"]

"""``powdex index`` from the command line: the bundled examples and the error messages."""

import json

import pytest
from typer.testing import CliRunner

from powdex.cli.main import app

runner = CliRunner()


def test_silicon_example_is_indexed_as_cf_and_written_to_json(tmp_path):
    out = tmp_path / "si.json"
    result = runner.invoke(app, ["index", "examples/silicon.txt", "--json", str(out), "--top", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    best = data["candidates"][0]
    assert best["bravais"] == "cF"
    assert best["a"] == pytest.approx(5.4312, abs=2e-3)
    assert best["figures_of_merit"]["n_unindexed"] == 0
    assert [m["hkl"] for m in best["miller_indices"][:3]] == [[1, 1, 1], [2, 2, 0], [3, 1, 1]]
    assert "cF" in result.stdout


def test_corundum_example_is_rhombohedral_in_hexagonal_axes(tmp_path):
    out = tmp_path / "al2o3.json"
    result = runner.invoke(app, ["index", "examples/corundum.txt", "--json", str(out), "--systems", "hexagonal,rhombohedral"])
    assert result.exit_code == 0, result.output
    best = json.loads(out.read_text())["candidates"][0]
    assert best["bravais"] == "hR"
    assert (best["a"], best["c"], best["gamma"]) == pytest.approx((4.7602, 12.9933, 120.0), abs=5e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["index", "no/such/file.txt"], "no/such/file.txt"),
        (["index", "examples/silicon.txt", "--systems", "cubic,hexagon"], "hexagon"),
        (["index", "examples/silicon.txt", "--time-limit", "0"], "time_limit"),
    ],
)
def test_bad_input_gives_one_line_error(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0]


def test_too_few_peaks_names_the_file(tmp_path):
    peaks = tmp_path / "three.txt"
    peaks.write_text("2theta\n28.44\n47.30\n56.12\n")
    result = runner.invoke(app, ["index", str(peaks), "--systems", "monoclinic"])
    assert result.exit_code == 2
    assert "three.txt" in result.output and "needs at least 5" in result.output

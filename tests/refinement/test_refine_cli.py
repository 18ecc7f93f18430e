"""``powdex refine``: output files from a measured-pattern file, one error line for bad input."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from powdex.cli.refine import refine

from .conftest import TRUE_CELL

app = typer.Typer()
app.command("refine")(refine)
app.command("other")(lambda: None)  # two commands, so that typer keeps the "refine" subcommand name


@pytest.fixture(scope="module")
def pattern_file(tmp_path_factory, tetragonal):
    pattern, _, _ = tetragonal
    path = tmp_path_factory.mktemp("refine") / "tetragonal.xye"
    np.savetxt(path, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]),
               header="synthetic P4/mmm, Cu Kα1+Kα2", fmt="%.6f")
    return path


def test_refine_writes_json_cif_and_png(pattern_file, tmp_path):
    cell = ",".join(str(v) for v in (5.206, 5.206, 7.392, 90, 90, 90))
    result = CliRunner().invoke(app, ["refine", str(pattern_file), "--cell", cell, "--spacegroup", "P4/mmm",
                                      "--anode", "Cu", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "refinement.json").read_text())
    assert abs(document["cell"]["a"] - TRUE_CELL.a) < 3 * document["cell_esd"]["a"]
    assert (tmp_path / "refinement.png").stat().st_size > 0
    assert "_cell_length_c" in (tmp_path / "refinement.cif").read_text()
    assert "Rwp" in result.output


@pytest.mark.parametrize("arguments, message", [
    (["--cell", "5.2,5.3,7.4,90,90,90", "--spacegroup", "P4/mmm"], "does not fit the cell"),
    (["--cell", "1,1,1,90,90,90", "--spacegroup", "Pm-3m"], "no reflection"),
    (["--cell", "5.2,5.2,7.4,90,90,90", "--spacegroup", "P4/mmm", "--min", "100"], "points"),
    (["--cell", "5.2,5.2", "--spacegroup", "P4/mmm"], "six values"),
    (["--spacegroup", "P4/mmm"], "give --cell and --spacegroup"),
])
def test_bad_input_is_one_error_line(pattern_file, tmp_path, arguments, message):
    result = CliRunner().invoke(app, ["refine", str(pattern_file), "--anode", "Cu", "--out", str(tmp_path), *arguments])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_map_writes_the_grid_with_its_minimum_at_the_refined_cell(pattern_file, tmp_path):
    cell = ",".join(str(v) for v in (5.206, 5.206, 7.392, 90, 90, 90))
    result = CliRunner().invoke(app, ["refine", str(pattern_file), "--cell", cell, "--spacegroup", "P4/mmm",
                                      "--anode", "Cu", "--out", str(tmp_path), "--map", "a,c", "--map-span", "0.001",
                                      "--map-resolution", "5"])
    assert result.exit_code == 0, result.output
    grid = json.loads((tmp_path / "chi2_map.json").read_text())
    refined = json.loads((tmp_path / "refinement.json").read_text())
    chi2 = np.array(grid["chi2"])
    assert chi2.shape == (5, 5) and np.unravel_index(np.argmin(chi2), chi2.shape) == (2, 2)
    assert grid["x"][2] == pytest.approx(refined["cell"]["a"]) and grid["y"][2] == pytest.approx(refined["cell"]["c"])
    assert np.array(grid["rwp"])[2, 2] == pytest.approx(refined["statistics"]["rwp"], rel=1e-3)
    assert (tmp_path / "chi2_map.png").stat().st_size > 0


def test_map_over_a_parameter_the_cell_ties_is_one_error_line(pattern_file, tmp_path):
    cell = ",".join(str(v) for v in (5.206, 5.206, 7.392, 90, 90, 90))
    result = CliRunner().invoke(app, ["refine", str(pattern_file), "--cell", cell, "--spacegroup", "P4/mmm",
                                      "--anode", "Cu", "--out", str(tmp_path), "--map", "a,b"])
    assert result.exit_code == 2
    assert "free parameters of the tetragonal cell" in result.output


def test_refine_holds_the_instrument_file_and_refines_anisotropic_strain(pattern_file, tmp_path):
    from powdex.instrument import Instrument, write_instrument

    from .conftest import PROFILE

    instrument = tmp_path / "lab.instprm"
    write_instrument(Instrument(wavelengths=(1.540593, 1.544414), ratio=0.5, zero=PROFILE["zero"],
                                U=PROFILE["U"], V=PROFILE["V"], W=PROFILE["W"], X=PROFILE["X"], Y=PROFILE["Y"],
                                S_L=PROFILE["S/L"], H_L=PROFILE["H/L"]), instrument)
    cell = ",".join(str(v) for v in (5.206, 5.206, 7.392, 90, 90, 90))
    result = CliRunner().invoke(app, ["refine", str(pattern_file), "--cell", cell, "--spacegroup", "P4/mmm",
                                      "--instrument", str(instrument), "--anisotropic-strain", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    parameters = {p["name"]: p for p in json.loads((tmp_path / "refinement.json").read_text())["parameters"]}
    # The instrument's profile is held; the sample terms and Stephens's tetragonal S_HKL are refined.
    assert parameters["U"]["value"] == pytest.approx(PROFILE["U"]) and not parameters["U"]["refined"]
    assert parameters["zero"]["value"] == pytest.approx(PROFILE["zero"]) and not parameters["zero"]["refined"]
    # Size (Y) is refined; Stephens's terms take the strain, so the isotropic X is held.
    assert parameters["Y"]["refined"] and not parameters["X"]["refined"]
    assert all(parameters[name]["esd"] is not None for name in parameters if name.startswith("strain_"))
    assert {"strain_S400", "strain_S004", "strain_S220", "strain_S202"} <= set(parameters)



@pytest.fixture(scope="module")
def refinement_file(pattern_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("refined")
    cell = ",".join(str(v) for v in (5.206, 5.206, 7.392, 90, 90, 90))
    fitted = CliRunner().invoke(app, ["refine", str(pattern_file), "--cell", cell, "--spacegroup", "P4/mmm",
                                      "--anode", "Cu", "--out", str(out)])
    assert fitted.exit_code == 0, fitted.output
    return out / "refinement.json"


def test_map_around_an_existing_refinement_without_a_new_fit(refinement_file, tmp_path):
    before = refinement_file.read_text()
    result = CliRunner().invoke(app, ["refine", "--from", str(refinement_file), "--map", "a,c", "--map-span", "0.001",
                                      "--map-resolution", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no new fit" in result.output and refinement_file.read_text() == before
    refined = json.loads(before)
    grid = json.loads((tmp_path / "chi2_map.json").read_text())
    chi2 = np.array(grid["chi2"])
    assert np.unravel_index(np.argmin(chi2), chi2.shape) == (2, 2)
    assert grid["x"][2] == pytest.approx(refined["cell"]["a"]) and grid["y"][2] == pytest.approx(refined["cell"]["c"])
    assert (tmp_path / "chi2_map.png").stat().st_size > 0
    assert not (tmp_path / "refinement.json").exists()


def test_refine_from_a_refinement_is_seeded_by_it(pattern_file, refinement_file, tmp_path):
    result = CliRunner().invoke(app, ["refine", str(pattern_file), "--from", str(refinement_file), "--anode", "Cu",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    first, again = (json.loads(path.read_text()) for path in (refinement_file, tmp_path / "refinement.json"))
    assert again["space_group"] == first["space_group"]
    assert abs(again["cell"]["a"] - first["cell"]["a"]) < first["cell_esd"]["a"]


@pytest.mark.parametrize("arguments, message", [
    ([], "give a PATTERN"),
    (["--candidate", "2"], "--candidate is for an index result"),
])
def test_a_refinement_without_a_pattern_or_map_is_one_error_line(refinement_file, tmp_path, arguments, message):
    result = CliRunner().invoke(app, ["refine", "--from", str(refinement_file), *arguments, "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output

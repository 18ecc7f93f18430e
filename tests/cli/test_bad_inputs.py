"""Every bad input a new user might try ends in one line, ``error: ...``,
naming the file (and line) and the problem, with exit status 2 and no
traceback; outputs that cannot be written are refused before any work."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from powdex.cli.main import app

CORPUS = Path(__file__).parent.parent / "data" / "bad_inputs"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
SILICON = Path(__file__).parent.parent.parent / "examples" / "silicon.txt"

runner = CliRunner()


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_the_corpus_holds_at_least_fifty_files_each_with_its_expected_error():
    files = {p.name for p in CORPUS.iterdir()} - {"expected.json", "make_corpus.py"}
    assert files == set(EXPECTED) and len(files) >= 50


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_file(name, monkeypatch):
    command, fragment = EXPECTED[name]
    monkeypatch.chdir(CORPUS)  # messages name the file as given
    if command == "index":
        result = runner.invoke(app, ["index", name, "--time-limit", "2"])
    else:
        result = runner.invoke(app, ["optimize", "rastrigin", "--config", name])
    assert fragment in error_line(result)


# /sys refuses new files to every process, root included (permission bits do not stop root).
@pytest.mark.parametrize("args, message", [
    (["index", str(SILICON), "--systems", ""], "systems: no lattice system given; choose from cubic,"),
    (["index", str(SILICON), "--systems", " , "], "systems: no lattice system given"),
    (["index", str(SILICON), "--systems", "cubic,hexagon"], "unknown lattice system 'hexagon'"),
    (["index", str(SILICON), "--units", "theta"], "--units must be q2, d or 2theta, got 'theta'"),
    (["index", str(SILICON), "--wavelength", "-1.5"], "wavelength must be a positive number of Å, got -1.5"),
    (["index", str(SILICON), "--json", "/sys/silicon.json"], "--json /sys/silicon.json: cannot write in /sys"),
    (["index", str(SILICON), "--json", "/tmp"], "--json /tmp: is a directory; give a file name"),
    (["index", str(SILICON), "--json", "/no/such/dir/x.json"], "--json /no/such/dir/x.json: directory /no/such/dir does not exist"),
    (["index", str(SILICON), "--out", "/sys/results"], "--out: cannot write in /sys"),
    (["index", str(SILICON), "--out", str(SILICON)], f"--out: {SILICON} is a file, not a directory"),
    (["optimize", "rastrigin", "--config", "/no/such/fit.toml"], "/no/such/fit.toml: configuration file not found"),
    (["optimize", "rastrigin", "--config", "/tmp"], "/tmp: is a directory, not a configuration file"),
    (["optimize", "rastrigin", "--store", "/no/such/dir/runs.sqlite"], "store /no/such/dir/runs.sqlite: directory /no/such/dir does not exist"),
    (["optimize", "rastrigin", "--store", "nosuchdb://host/db"], "store nosuchdb://host/db: cannot open (Can't load plugin"),
    (["optimize", "rastrigin", "--store", "postgresql+psycopg://me:secret@127.0.0.1:1/db"],
     "store postgresql+psycopg://me:***@127.0.0.1:1/db: cannot open (connection failed"),
    (["optimize", "rastrigin", "--store", "/tmp/x.sqlite", "--export", "/no/such/dir/runs.csv"],
     "--export /no/such/dir/runs.csv: directory /no/such/dir does not exist"),
    (["optimize", "rastrigin", "--store", "/tmp/x.sqlite", "--export", "/sys/runs.csv"], "cannot write in /sys"),
    (["optimize", "rastrigin", "--store", "/tmp/x.sqlite", "--export", "runs.xlsx"], "--export: unknown format '.xlsx'"),
    (["map", "volcano", "--out", "/no/such/dir/map.png"], "--out /no/such/dir/map.png: directory /no/such/dir does not exist"),
    (["map", "volcano", "--out", "/tmp"], "--out /tmp: is a directory"),
    (["optimize", "no_module_here:objective"], "objective: cannot import module 'no_module_here'"),
    (["optimize", "rastrigin", "--store", "/tmp/x.sqlite", "--export", "/tmp"], "--export /tmp: is a directory"),
    (["map", "rosenbrock", "--out", "/tmp/rosenbrock.png"], "surface maps need finite bounds on exactly two parameters"),
    (["dataset", "build", "--out", "/sys/dataset", "--entries", "5"], "--out: cannot write in /sys"),
    (["train", "--dataset", "/no/such/dataset", "--out", "/tmp/models"], "no prepared dataset in /no/such/dataset"),
    (["evaluate-models", "--dataset", "/no/such/dataset", "--out", "/tmp/report"], "no prepared dataset in /no/such/dataset"),
    (["optimize", "rosenbrock", "--runs", "5"], "a bare minimizer makes one run"),
    (["optimize", "rastrigin", "--runs", "1000000000"], "fitting.minimizer: 1000000000 runs need at least"),
    (["map", "volcano", "--resolution", "200000"], "resolution 200000: 4 maps of 200000 x 200000 = 4e+10 points need about"),
])
def test_bad_option(args, message):
    assert message in error_line(runner.invoke(app, args))


def test_the_series_output_may_not_be_the_input_directory(tmp_path):
    shutil.copy(SILICON, tmp_path / "a.txt")
    shutil.copy(SILICON, tmp_path / "b.txt")
    line = error_line(runner.invoke(app, ["index", str(tmp_path), "--out", str(tmp_path)]))
    assert f"--out {tmp_path}: is a directory of the input peak lists" in line
    assert not (tmp_path / "summary.csv").exists()


def test_an_unbounded_objective_runs_with_the_default_configuration():
    result = runner.invoke(app, ["optimize", "rosenbrock"])
    assert result.exit_code == 0, result.output
    assert "objective 'rosenbrock' has no finite bounds: one lbfgs run from its start point" in result.output
    assert "1 runs (1 executed now)" in result.output
    x = json.loads(result.output.split("x = ")[-1])
    assert x == pytest.approx([1.0, 1.0], abs=1e-6)


def test_the_configuration_example_in_the_help_is_a_working_configuration(tmp_path):
    import tomllib

    from powdex.cli.optimize import CONFIG_EXAMPLE
    from powdex.optim import parse_config

    toml = "\n".join(line for line in CONFIG_EXAMPLE.replace("\\[", "[").splitlines()[2:])
    config = parse_config(tomllib.loads(toml))
    assert config.minimizer.kind == "spa" and config.minimizer.minimizer.kind == "lbfgs"
    (tmp_path / "fit.toml").write_text(toml)
    result = runner.invoke(app, ["optimize", "rastrigin", "--config", str(tmp_path / "fit.toml")])
    assert result.exit_code == 0, result.output
    assert "25 runs (25 executed now)" in result.output


def test_optimize_help_warns_that_module_colon_name_runs_code():
    result = runner.invoke(app, ["optimize", "--help"], env={"COLUMNS": "200"})
    assert "runs that module's code" in " ".join(result.output.split())


@pytest.mark.parametrize("args, message", [
    (["index", str(SILICON), "--n-peaks", "0"], "error: Invalid value for '--n-peaks': Input should be greater than or equal to 1"),
    (["index"], "error: Missing argument 'peaks'."),
    (["index", str(SILICON), "--no-such-option"], "error: No such option: --no-such-option"),
])
def test_the_command_gives_typers_own_refusals_as_one_line_too(args, message):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "powdex", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.splitlines() == [message]


def test_a_peak_file_that_is_a_symbolic_link_loop_is_one_line(tmp_path):
    loop = tmp_path / "peaks.txt"
    loop.symlink_to(loop)
    line = error_line(runner.invoke(app, ["index", str(loop)]))
    assert line == f"error: {loop}: cannot read (Too many levels of symbolic links)"


def test_evaluate_models_with_a_model_file_missing_is_one_line(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    for name in ("cubic.scaling.json", "cubic.parquet"):  # the models are loaded before the data is read
        (prepared / name).write_text("")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(Path(__file__).parents[2] / "powdex" / "models" / "shipped" / "cubic.json", models)
    line = error_line(runner.invoke(app, ["evaluate-models", "--dataset", str(tmp_path), "--models", str(models), "--out", str(tmp_path / "report")]))
    assert line == f"error: {models / 'cubic.npz'}: model file missing (the cubic models are cubic.json and cubic.npz)"


def test_train_with_an_unknown_lattice_system_is_one_line(tmp_path):
    (tmp_path / "cubic.scaling.json").write_text("")
    line = error_line(runner.invoke(app, ["train", "--dataset", str(tmp_path), "--out", str(tmp_path / "models"), "--system", "cubik"]))
    assert line.startswith("error: --system: unknown lattice system 'cubik'; choose from cubic, tetragonal")


def test_map_refuses_an_unknown_image_format_before_any_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["map", "volcano", "--out", "v.xyz", "--store", "runs.sqlite"])
    assert "--out v.xyz: unknown image format '.xyz'; use one of " in error_line(result)
    assert ".png" in result.output and not (tmp_path / "runs.sqlite").exists()


def test_a_configuration_with_a_byte_order_mark_is_read(tmp_path):
    config = tmp_path / "fit.toml"
    config.write_bytes(b"\xef\xbb\xbf" + b'[fitting]\n[fitting.minimizer]\nkind = "spa"\nmax_iter = 4\n'
                       b'[fitting.minimizer.minimizer]\nkind = "lbfgs"\n')
    result = runner.invoke(app, ["optimize", "rastrigin", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "4 runs (4 executed now)" in result.output

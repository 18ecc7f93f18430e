"""``powdex train`` and ``powdex evaluate-models`` on a small synthetic dataset, then the files load and predict."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from powdex.cli.main import app
from powdex.cli.models import training_journal
from powdex.models import load_system, save_system
from powdex.models.data import load_system_data
from powdex.models.errors import ModelError
from powdex.training import build_synthetic
from powdex.training.prepare import prepare_dataset

pytest.importorskip("torch")

from powdex.models.train import TrainingConfig


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("dataset")
    build_synthetic(path, 300, seed=5, workers=1, chunk_size=300)
    prepare_dataset(path, seed=1, target_per_symbol=20)
    return path


def test_train_then_evaluate(dataset, tmp_path):
    models = tmp_path / "models"
    quick = ["--pretraining-cycles", "1", "--cycles", "1", "--epochs-per-phase", "2", "--assignment-epochs", "1", "--min-group-entries", "30"]
    result = CliRunner().invoke(
        app, ["train", "--dataset", str(dataset), "--out", str(models), "--system", "monoclinic", "--system", "cubic", *quick]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in models.iterdir()} >= {"monoclinic.npz", "cubic.json", "training-log.json", "monoclinic-training.png"}

    monoclinic = load_system("monoclinic", models)
    data = load_system_data(dataset / "prepared", monoclinic.system).full()
    assert monoclinic.regression and monoclinic.metadata["config"]["seed"] == 0
    cells, uncertainty = monoclinic.candidates(data.q2[0], 40, np.random.default_rng(0))
    assert 0 < len(cells) <= 40 and np.all(cells[:, :3] > 0)
    hkl, probability = monoclinic.assignment.assign(data.q2[0], cells, uncertainty)
    assert hkl.shape == (len(cells), 20, 3) and np.all((probability > 0) & (probability <= 1))
    # Weights a diverged training left NaN are refused, not shipped.
    weights = dict(monoclinic.assignment.weights)
    weights["heads_bias"] = weights["heads_bias"] * np.nan
    broken = replace(monoclinic, assignment=replace(monoclinic.assignment, weights=weights))
    with pytest.raises(ModelError, match="monoclinic models have non-finite weights.*heads_bias"):
        save_system(tmp_path / "broken", broken)

    report = tmp_path / "report"
    result = CliRunner().invoke(app, ["evaluate-models", "--dataset", str(dataset), "--models", str(models), "--out", str(report)])
    assert result.exit_code == 0, result.output
    evaluation = json.loads((report / "evaluation.json").read_text())
    assert "monoclinic" in {r["system"] for r in evaluation["assignment"]}  # this small build has no cubic validation entry
    assert {r["parameter"] for r in evaluation["regression"] if r["system"] == "monoclinic"} >= {"a", "b", "c"}
    assert (report / "reliability.png").exists()


def test_training_is_deterministic_whether_systems_train_in_turn_or_at_once(dataset, tmp_path):
    quick = ["--system", "cubic", "--system", "hexagonal", "--pretraining-cycles", "1", "--cycles", "1", "--epochs-per-phase", "1",
             "--assignment-epochs", "1", "--min-group-entries", "30"]
    for run, workers in (("first", "1"), ("second", "2")):
        result = CliRunner().invoke(app, ["train", "--dataset", str(dataset), "--out", str(tmp_path / run), "--workers", workers, *quick])
        assert result.exit_code == 0, result.output
    # A run killed while hexagonal trained: cubic's files and record written, hexagonal's not.
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "first", killed)
    (killed / "trained" / "hexagonal.json").unlink()
    (killed / "hexagonal.npz").unlink()
    cubic_written = (killed / "cubic.npz").stat().st_mtime_ns
    result = CliRunner().invoke(app, ["train", "--dataset", str(dataset), "--out", str(killed), *quick])
    assert result.exit_code == 0, result.output
    assert "cubic: kept from the earlier run" in result.output and "hexagonal: " in result.output
    assert (killed / "cubic.npz").stat().st_mtime_ns == cubic_written
    assert set(json.loads((killed / "training-log.json").read_text())["systems"]) == {"cubic", "hexagonal"}
    for system in ("cubic", "hexagonal"):
        first, second, resumed = (np.load(tmp_path / run / f"{system}.npz") for run in ("first", "second", "killed"))
        assert first.files == second.files == resumed.files
        for key in first.files:
            np.testing.assert_array_equal(first[key], second[key], err_msg=f"{system} {key}")
            np.testing.assert_array_equal(first[key], resumed[key], err_msg=f"{system} {key}")


def test_a_rerun_with_other_settings_or_another_dataset_keeps_nothing(tmp_path):
    config = TrainingConfig(seed=3)
    training_journal(tmp_path, config, "/data/a").record("cubic", {"groups": 1, "log": {"times_s": {}}})
    assert set(training_journal(tmp_path, config, "/data/a").finished()) == {"cubic"}
    assert training_journal(tmp_path, TrainingConfig(seed=4), "/data/a").finished() == {}
    training_journal(tmp_path, config, "/data/a").record("cubic", {"groups": 1, "log": {"times_s": {}}})
    assert training_journal(tmp_path, config, "/data/b").finished() == {}


def test_the_journal_fingerprint_leaves_out_settings_at_their_defaults(tmp_path):
    """A setting added later with its default keeps finished systems: only changed settings count."""
    journal = training_journal(tmp_path, TrainingConfig(seed=3), "/data/a")
    assert journal.settings == {"config.seed": 3, "dataset": "/data/a"}


@pytest.mark.slow  # about a minute: three systems trained, killed, trained again
def test_a_killed_training_leaves_no_workers_and_the_rerun_trains_only_the_rest(dataset, tmp_path):
    import subprocess
    import sys

    from tests.cli.test_interrupts import kill_and_check_workers_die, wait_for

    out = tmp_path / "models"
    args = [sys.executable, "-m", "powdex", "train", "--dataset", str(dataset), "--out", str(out), "--workers", "2",
            "--system", "cubic", "--system", "hexagonal", "--system", "monoclinic", "--pretraining-cycles", "1",
            "--cycles", "1", "--epochs-per-phase", "1", "--assignment-epochs", "1", "--min-group-entries", "30"]
    driver = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: list((out / "trained").glob("*.json")), 300, "a trained system")
    kill_and_check_workers_die(driver)
    kept = sorted(path.stem for path in (out / "trained").glob("*.json"))
    assert 1 <= len(kept) < 3
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    for system in kept:
        assert f"{system}: kept from the earlier run" in rerun.stderr
    assert sorted(path.stem for path in (out / "trained").glob("*.json")) == ["cubic", "hexagonal", "monoclinic"]
    assert set(json.loads((out / "training-log.json").read_text())["systems"]) == {"cubic", "hexagonal", "monoclinic"}


def test_training_data_too_small_for_any_model_is_one_line(tmp_path):
    """One cubic crystal with 5 lines: its group is held out whole to choose the network (nothing left to fit,
    "cannot reshape array of size 0" before), and no entry has the 10 peaks the assignment network reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from powdex.crystal import Cell, reference_miller_indices
    from powdex.models.scaling import Scaler

    cell = Cell(5.43, 5.43, 5.43)
    hkl = reference_miller_indices("cubic")[:5]
    q2 = cell.q2(hkl)
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    pq.write_table(pa.table({
        "identifier": ["0"],
        "reindexed_cell": pa.array([cell.parameters.tolist()], pa.list_(pa.float64(), 6)),
        "observable_q2": pa.array([q2.tolist()], pa.list_(pa.float64())),
        "observable_hkl_reindexed": pa.array([hkl.tolist()], pa.list_(pa.list_(pa.int16(), 3))),
        "group": ["cP P"], "split": ["training"], "augmented_from": pa.array([None], pa.string()),
    }), prepared / "cubic.parquet")
    Scaler.fit(cell.parameters[None], [q2]).save(prepared / "cubic.scaling.json")
    result = CliRunner().invoke(app, ["train", "--dataset", str(tmp_path), "--out", str(tmp_path / "models"), "--workers", "1",
                                      "--min-group-entries", "1", "--pretraining-cycles", "1", "--epochs-per-phase", "1"])
    assert result.exit_code == 2, result.output
    assert "error: cubic: no training entry has the 10 peaks the assignment network reads;" in result.output
    assert "Traceback" not in result.output

"""``powdex dataset build | import-cif | prepare | stats`` on tiny inputs."""

import json

from cif_samples import corundum_rhombohedral, p21c_cif
from typer.testing import CliRunner

from powdex.cli.main import app


def _run(*args):
    return CliRunner().invoke(app, ["dataset", *map(str, args)])


def test_build_then_stats_then_prepare(tmp_path):
    result = _run("build", "--out", tmp_path, "--entries", 12, "--workers", 1, "--system-shares", "cubic=0.5")
    assert result.exit_code == 0, result.output
    assert "'cubic': 6" in result.output
    assert json.loads((tmp_path / "build.json").read_text())["settings"]["system_shares.cubic"] == 0.5
    result = _run("build", "--out", tmp_path, "--entries", 12, "--workers", 1)  # other shares: refused
    assert result.exit_code == 2 and "system_shares" in result.output
    result = _run("stats", tmp_path, "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    assert "12 entries" in result.output and (tmp_path / "plots" / "cubic.png").exists()
    result = _run("prepare", tmp_path, "--target-per-symbol", 2)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "prepared" / "cubic.parquet").exists()


def test_build_rejects_a_bad_share_specification_in_one_line(tmp_path):
    result = _run("build", "--out", tmp_path, "--entries", 5, "--system-shares", "cubic=0.3,cubic2=0.1")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: system shares 'cubic=0.3,cubic2=0.1': 'cubic2'")


def test_import_cif_writes_entries_counts_and_one_line_per_rejection(tmp_path):
    cifs = tmp_path / "cifs"
    cifs.mkdir()
    (cifs / "p21c.cif").write_text(p21c_cif("p21c"))
    (cifs / "corundum.cif").write_text(corundum_rhombohedral())
    (cifs / "bad.cif").write_text(p21c_cif("bad", volume=10.0))
    out = tmp_path / "dataset"
    result = _run("import-cif", cifs, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "cif-import-summary.json").read_text())
    assert summary == {"read": 3, "accepted": 2, "rejected": {"stated volume does not match the cell": 1}}
    assert (out / "cif-import-rejections.txt").read_text() == "bad.cif: stated volume does not match the cell\n"
    assert (out / "rhombohedral" / "cif-import.parquet").exists() and (out / "monoclinic" / "cif-import.parquet").exists()

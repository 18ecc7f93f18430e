"""What powdex writes and says: series outputs rebuilt from the results on
every run, never written through a planted link, and the reading decisions
(peaks left out, overrides, a doubtful unit) said to the user."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from powdex.cli.main import app

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
runner = CliRunner()


def two_patterns(tmp_path: Path) -> Path:
    folder = tmp_path / "patterns"
    folder.mkdir()
    shutil.copy(EXAMPLES / "silicon.txt", folder / "silicon.txt")
    shutil.copy(EXAMPLES / "rutile.txt", folder / "rutile.txt")
    return folder


def test_summary_and_plot_are_rebuilt_from_the_results_on_every_run(tmp_path):
    patterns, out = two_patterns(tmp_path), tmp_path / "out"
    assert runner.invoke(app, ["index", str(patterns), "--out", str(out)]).exit_code == 0
    complete = (out / "summary.csv").read_text()
    # What a kill right after the last JSON leaves: a summary without that row, no plot.
    (out / "summary.csv").write_text(complete.splitlines()[0] + "\n")
    (out / "series.png").unlink()
    again = runner.invoke(app, ["index", str(patterns), "--out", str(out)])
    assert again.exit_code == 0
    assert "2 of 2 patterns already in" in again.output
    assert (out / "summary.csv").read_text() == complete
    assert (out / "series.png").read_bytes()[:4] == b"\x89PNG"


def test_files_or_links_planted_in_the_output_directory_are_never_written_through(tmp_path):
    patterns, out = two_patterns(tmp_path), tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    planted = ["silicon.json.partial", ".silicon.json.partial", "summary.csv.partial", "series.partial.png"]
    for name in planted:
        (out / name).symlink_to(victim)
    assert runner.invoke(app, ["index", str(patterns), "--out", str(out)]).exit_code == 0
    assert victim.read_text() == "keep me\n"
    assert json.loads((out / "silicon.json").read_text())["candidates"][0]["bravais"] == "cF"
    assert not (out / "silicon.json").is_symlink()
    assert {p.name for p in out.iterdir()} == {"silicon.json", "rutile.json", "summary.csv", "series.png",
                                               ".series.json", *planted}


def test_peaks_left_out_and_overridden_file_settings_are_said_and_kept_in_the_json(tmp_path):
    peaks = tmp_path / "many.txt"
    lines = (EXAMPLES / "silicon.txt").read_text().splitlines()
    peaks.write_text("\n".join(lines) + "\n")
    out = tmp_path / "many.json"
    result = runner.invoke(app, ["index", str(peaks), "--n-peaks", "8", "--wavelength", "1.5406001",
                                 "--units", "2theta", "--systems", "cubic", "--json", str(out)])
    assert result.exit_code == 0, result.output
    # The reading's notes come first; the search's (cells it rejected, say) follow and are kept apart.
    notes = [line for line in result.output.splitlines() if line.startswith("note:")][:2]
    assert notes == [
        "note: wavelength 1.5406 Å as given, not 1.5406 Å as the file says",
        "note: the first 8 of 15 peaks are used (lowest angles)",
    ]
    assert json.loads(out.read_text())["peaks"]["notes"] == [n.removeprefix("note: ") for n in notes]


def test_a_header_overridden_by_units_and_a_doubtful_unit_are_noted(tmp_path):
    peaks = tmp_path / "d.txt"
    peaks.write_text("d\n3.1355\n1.9201\n1.6375\n1.3577\n1.2459\n1.1086\n")
    result = runner.invoke(app, ["index", str(peaks), "--units", "2theta", "--systems", "cubic", "--time-limit", "2"])
    # The reading's notes come first (the search's may follow: a 2 s search can stop at its limit).
    notes = [line for line in result.output.splitlines() if line.startswith("note:")][:2]
    assert notes == [
        "note: units 2theta as given, not d as the file's header 'd' says",
        "note: read as 2theta, positions 1.1086 to 3.1355 decrease down the file as d-spacings do (2θ "
        "increases); they look like d (Å)",
    ]
    # The header alone reads them right, without a word from the reading (the search may still say what it
    # rejected).
    result = runner.invoke(app, ["index", str(peaks), "--systems", "cubic", "--json", str(tmp_path / "d.json")])
    document = json.loads((tmp_path / "d.json").read_text())
    assert result.exit_code == 0 and document["peaks"]["notes"] == []
    said = [line.removeprefix("note: ") for line in result.output.splitlines() if line.startswith("note:")]
    assert said == document["notes"]
    best = document["candidates"][0]
    assert best["bravais"] == "cF" and abs(best["a"] - 5.4312) < 1e-3


def test_an_objective_that_cannot_reach_worker_processes_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "lambda_objective.py").write_text(
        "from powdex.optim import Objective\n"
        "def bowl():\n"
        "    return Objective(lambda x: float((x ** 2).sum()), 2, bounds=[(-1, 1)] * 2, name='bowl')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = runner.invoke(app, ["optimize", "lambda_objective:bowl", "--runs", "4", "--executor", "processes",
                                 "--workers", "2"])
    assert result.exit_code == 2
    assert result.output.startswith("error: the objective cannot be sent to worker processes (")
    assert "define its functions at module level" in result.output


def test_an_interrupt_just_after_a_file_is_renamed_into_place_goes_on_as_the_interrupt(tmp_path, monkeypatch):
    """A Ctrl-C or SIGTERM raised at once can land between the rename and the end of the write: the file is
    whole, and the interrupt (not the missing partial file) reaches the caller, so the series says it stopped."""
    import os

    import powdex.files as files

    real_replace = os.replace

    def replace_then_interrupt(source, target):
        real_replace(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(tmp_path / "result.json", '{"done": true}')
    assert json.loads((tmp_path / "result.json").read_text()) == {"done": True}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_an_output_directory_that_goes_away_mid_series_is_one_line(tmp_path, monkeypatch):
    import powdex.optim.journal as journal  # the series' results are its journal's records

    patterns, out = two_patterns(tmp_path), tmp_path / "out"
    real_write = journal.write_atomically

    def disk_gone_after_the_first(path, content):
        if path.name == "silicon.json":  # the second pattern in input order, whichever finishes first
            raise OSError(28, "No space left on device", str(path))
        real_write(path, content)

    monkeypatch.setattr(journal, "write_atomically", disk_gone_after_the_first)
    result = runner.invoke(app, ["index", str(patterns), "--out", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == [f"error: --out {out}: cannot write {out / 'silicon.json'} (No space left on device); "
                     "1 of 2 patterns were written; the same command resumes"]
    assert json.loads((out / "rutile.json").read_text())["candidates"][0]["bravais"] == "tP"


def test_a_measured_pattern_given_as_input_has_its_peaks_picked_and_is_indexed(tmp_path):
    import numpy as np

    two_theta = np.arange(10, 90, 0.02)
    lines = [28.443, 47.304, 56.124, 69.132, 76.380, 88.033]  # silicon, Cu Kα1
    heights = [1000, 600, 350, 90, 130, 160]
    counts = 200 + 0.5 * two_theta + sum(h * np.exp(-0.5 * ((two_theta - p) / 0.04) ** 2) for p, h in zip(lines, heights))
    pattern = tmp_path / "silicon_scan.xy"
    np.savetxt(pattern, np.column_stack([two_theta, np.random.default_rng(0).poisson(counts)]), fmt="%.3f %d",
               header="wavelength: 1.5406")
    out = tmp_path / "scan.json"
    result = runner.invoke(app, ["index", str(pattern), "--systems", "cubic", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: a measured pattern (4000 points, 2θ step 0.02°): 6 peaks picked" in result.output
    document = json.loads(out.read_text())
    assert document["peaks"]["two_theta"] == pytest.approx(lines, abs=0.02)  # weak lines, Poisson counts
    best = document["candidates"][0]
    assert best["bravais"] == "cF" and best["a"] == pytest.approx(5.4312, abs=2e-3)


def test_the_learned_chains_of_one_pattern_are_kept_in_a_store_and_a_rerun_gives_the_same_ranking(tmp_path):
    from powdex.optim import ResultsStore

    store = tmp_path / "chains.db"
    args = ["index", "examples/silicon.txt", "--method", "learned", "--systems", "cubic", "--chains-store", str(store)]
    first = runner.invoke(app, [*args, "--json", str(tmp_path / "first.json")])
    assert first.exit_code == 0, first.output
    with ResultsStore(store) as kept:
        (study,) = kept.studies()
        assert kept.count(study) == 64  # IndexingConfig.chains
    again = runner.invoke(app, [*args, "--chains-executor", "processes", "--json", str(tmp_path / "again.json")])
    assert again.exit_code == 0, again.output
    ranked = [json.loads((tmp_path / f"{name}.json").read_text())["candidates"] for name in ("first", "again")]
    assert ranked[0] == ranked[1] and ranked[0][0]["bravais"] == "cF"
    wrong = runner.invoke(app, ["index", "examples/silicon.txt", "--chains-store", str(store)])
    assert wrong.exit_code == 2
    assert wrong.output.strip() == "error: --chains-store and --chains-executor are for --method learned, which runs chains"

"""``powdex index`` from the command line: the bundled examples and the error messages."""

import csv
import json

import pytest
from typer.testing import CliRunner

from powdex.cli.main import app
from powdex.crystal import Cell

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
    assert best["space_groups"][0]["space_groups"] == ["Fd-3", "Fd-3m"]  # silicon is Fd-3m
    assert "cF" in result.stdout


@pytest.mark.parametrize(
    "name, bravais, cell, space_group",
    [
        ("corundum", "hR", (4.7602, 4.7602, 12.9933, 90, 90, 120), "R-3c"),  # in hexagonal axes
        ("rutile", "tP", (4.5937, 4.5937, 2.9587, 90, 90, 90), "P42/mnm"),
        ("glycine", "mP", (5.1020, 11.9709, 5.4575, 90, 111.74, 90), "P21/n"),
    ],
)
def test_bundled_examples_give_their_published_cells_and_space_groups_first_with_default_options(
    tmp_path, name, bravais, cell, space_group
):
    out = tmp_path / f"{name}.json"
    result = runner.invoke(app, ["index", f"examples/{name}.txt", "--json", str(out)])
    assert result.exit_code == 0, result.output
    best = json.loads(out.read_text())["candidates"][0]
    assert best["bravais"] == bravais
    assert [best[k] for k in ("a", "b", "c", "alpha", "beta", "gamma")] == pytest.approx(cell, abs=5e-3)
    assert best["volume"] == pytest.approx(Cell(*cell).volume, rel=1e-3)
    # The published space group is in the best extinction class (all lines it allows are listed).
    assert space_group in best["space_groups"][0]["space_groups"]
    assert best["space_groups"][0]["n_forbidden_peaks"] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["index", "no/such/file.txt"], "no/such/file.txt"),
        (["index", "examples/silicon.txt", "--systems", "cubic,hexagon"], "hexagon"),
        (["index", "examples/silicon.txt", "--time-limit", "0"], "time_limit"),
        (["index", "examples/silicon.txt", "--min-length", "0"], "min_length"),
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
    assert "three.txt: 3 peaks, but the monoclinic lattice system needs at least 5" in result.output


def test_too_few_peaks_for_some_systems_skips_them_and_says_so(tmp_path):
    peaks = tmp_path / "five.txt"
    peaks.write_text("# wavelength: 1.5406\n2theta\n28.443\n47.303\n56.123\n69.131\n76.377\n")  # silicon's first five
    result = runner.invoke(app, ["index", str(peaks), "--top", "1"])
    assert result.exit_code == 0, result.output
    assert "not searched, too few peaks: triclinic" in result.output
    assert "cF" in result.stdout


def test_wavelength_note_only_when_cu_ka1_is_assumed(tmp_path):
    bare = tmp_path / "bare.txt"
    bare.write_text("\n".join(line for line in open("examples/silicon.txt") if not line.startswith("#")))
    assumed = runner.invoke(app, ["index", str(bare), "--systems", "cubic", "--top", "1"])
    stated = runner.invoke(app, ["index", "examples/silicon.txt", "--systems", "cubic", "--top", "1"])
    assert "(Cu Kα1 assumed)" in assumed.output and "(Cu Kα1 assumed)" not in stated.output


def test_json_into_a_missing_directory_is_refused_before_the_search(tmp_path):
    result = runner.invoke(app, ["index", "examples/silicon.txt", "--json", str(tmp_path / "no" / "x.json")])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        f"error: --json {tmp_path / 'no' / 'x.json'}: directory {tmp_path / 'no'} does not exist"
    ]


def test_series_writes_each_pattern_and_a_rerun_resumes(tmp_path):
    patterns = tmp_path / "patterns"
    patterns.mkdir()
    for name in ("silicon", "rutile"):
        (patterns / f"{name}.txt").write_text(open(f"examples/{name}.txt").read())
    (patterns / "broken.txt").write_text("2theta\n28.44\nabc\n")
    out = tmp_path / "out"
    args = ["index", str(patterns), "--out", str(out), "--systems", "cubic,tetragonal", "--workers", "2"]
    first = runner.invoke(app, args)
    assert first.exit_code == 1  # one pattern could not be read; the others are done
    assert "broken.txt:3" in first.output and "2 of 3 patterns indexed" in first.output
    rows = {r["pattern"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["silicon.txt"]["bravais"] == "cF" and rows["rutile.txt"]["bravais"] == "tP"
    assert float(rows["rutile.txt"]["c"]) == pytest.approx(2.9587, abs=2e-3)
    assert "non-numeric" in rows["broken.txt"]["error"]
    silicon = json.loads((out / "silicon.json").read_text())
    assert silicon["settings"]["indexing"]["systems"] == ["cubic", "tetragonal"]
    assert silicon["peaks"]["wavelength"] == pytest.approx(1.5406) and len(silicon["peaks"]["two_theta"]) == 15
    assert (out / "series.png").stat().st_size > 0

    (patterns / "broken.txt").unlink()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "2 of 2 patterns already in" in again.output
    assert json.loads((out / "silicon.json").read_text()) == silicon  # not recomputed
    changed = runner.invoke(app, [*args, "--seed", "3"])
    assert changed.exit_code == 0 and "already in" not in changed.output
    assert json.loads((out / "silicon.json").read_text())["settings"]["indexing"]["seed"] == 3


def test_several_patterns_need_an_output_directory():
    result = runner.invoke(app, ["index", "examples/silicon.txt", "examples/rutile.txt"])
    assert result.exit_code == 2 and "give --out DIR" in result.output


def test_a_q2_list_past_cu_ka1_reach_is_indexed_without_a_wavelength(tmp_path):
    """Silicon's first 20 lines as q² (to 2.7 Å⁻²): no wavelength given, none is needed, none refuses them."""
    sums = [3, 8, 11, 16, 19, 24, 27, 32, 35, 40, 43, 48, 51, 56, 59, 64, 67, 72, 75, 80]
    listing = tmp_path / "silicon.q2"
    listing.write_text("\n".join(f"{s / 5.431194**2:.6f}" for s in sums) + "\n")
    out = tmp_path / "si.json"
    result = runner.invoke(app, ["index", str(listing), "--units", "q2", "--systems", "cubic", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "none is needed for d or q²" in result.output
    assert json.loads(out.read_text())["candidates"][0]["bravais"] == "cF"


def test_min_length_rejects_cells_with_a_shorter_vector_and_says_so(tmp_path):
    # Silicon's primitive cell has 3.840 Å vectors: with --min-length 4 its cF cell is refused and the note says why.
    out = tmp_path / "si.json"
    result = runner.invoke(app, ["index", "examples/silicon.txt", "--systems", "cubic", "--min-length", "4",
                                 "--time-limit", "10", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["settings"]["indexing"]["min_length"] == 4
    assert all(not (c["bravais"] == "cF" and abs(c["a"] - 5.4312) < 0.01) for c in data["candidates"])
    assert any("shorter than --min-length 4 Å" in note for note in data["notes"])


@pytest.mark.parametrize(("options", "found_first"), [
    ([], True),  # the √2a × 2c super-cell leaving 4 lines solves the list; its lines, taken for another phase's, let
                 # the true cell leaving 5 be found in one more pass, and it scores more
    (["--second-phase-share", "0"], False),  # leaving five lines, the true cell is no candidate
    (["--max-unindexed", "5"], True),
])
def test_max_unindexed_lets_a_candidate_leave_that_many_impurity_lines(tmp_path, options, found_first):
    import numpy as np

    from powdex.crystal import BravaisLattice, same_lattice
    from powdex.indexing import PeakListFaults, synthetic_peaks

    cell = Cell(4.594, 4.594, 6.214)
    lines = np.asarray(synthetic_peaks(cell, BravaisLattice.tP, faults=PeakListFaults(two_theta_noise=0.005),
                                       rng=np.random.default_rng(0)).two_theta)
    impurities = [t for t in np.arange(lines[0] + 0.5, lines[-1], 0.37) if np.min(np.abs(lines - t)) > 0.4][:5]
    listed = tmp_path / "tP_and_5_impurity_lines.txt"
    listed.write_text("# wavelength: 1.5406\n" + "\n".join(f"{t:.4f}" for t in np.sort(np.r_[lines[:15], impurities])))
    out = tmp_path / "out.json"
    args = ["index", str(listed), "--systems", "tetragonal", "--json", str(out), "--time-limit", "30"]
    result = runner.invoke(app, args + options)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["settings"]["indexing"]["max_unindexed"] == (5 if "--max-unindexed" in options else 4)
    found = [c for c in data["candidates"] if same_lattice(Cell(c["a"], c["b"], c["c"]), cell, rtol=1e-3)]
    if not found_first:
        assert not found
    else:
        assert data["candidates"][0] is found[0] and found[0]["figures_of_merit"]["n_unindexed"] == 5

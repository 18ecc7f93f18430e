"""Candidates re-ranked by whole-pattern fits: the true cell first where a sub-cell or a
pseudo-symmetric cell of lower symmetry competes, through the library and ``powdex index --refine``."""

from types import SimpleNamespace

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from powdex.cli.index import index
from powdex.crystal import Cell
from powdex.refinement.rerank import rerank
from powdex.refinement.synthetic import synthetic_pattern

CUBIC = Cell(4.2, 4.2, 4.2)
PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01}

app = typer.Typer()
app.command("index")(index)
app.command("other")(lambda: None)  # two commands, so that typer keeps the "index" subcommand name


@pytest.fixture(scope="module")
def cubic():
    pattern, _, _ = synthetic_pattern(CUBIC, "P m -3 m", two_theta=np.linspace(15.0, 100.0, 3000), seed=3,
                                      profile=PROFILE)
    return pattern


def _candidate(cell: Cell, group: str):
    return SimpleNamespace(cell=cell, zero_shift=0.0, space_groups=(SimpleNamespace(space_groups=(group,)),))


def test_the_true_cubic_cell_outranks_a_sub_cell_and_pseudo_symmetric_cells(cubic):
    candidates = [
        _candidate(Cell(4.2, 4.2, 2.1), "P 4/m m m"),          # a sub-cell: misses the lines with l odd
        _candidate(Cell(4.2, 4.2, 4.2), "P 4/m m m"),          # tetragonal with a = c: the same peaks, split lines
        _candidate(Cell(4.2, 4.2, 4.2), "P m m m"),            # orthorhombic with a = b = c
        _candidate(CUBIC, "P m -3 m"),
    ]
    reranking = rerank(cubic, candidates)
    best = reranking.fits[0]
    assert (best.candidate, best.space_group) == (3, "P m -3 m")
    by_candidate = {fit.candidate: fit for fit in reranking.fits}
    # The pseudo-symmetric cells fit as well as the true one (raw Rwp cannot tell them apart), with more lines.
    for lower in (1, 2):
        assert by_candidate[lower].rwp <= 1.01 * best.rwp
        assert by_candidate[lower].lines > best.lines
    assert by_candidate[0].rwp > 5 * best.rwp
    assert best.rwp == pytest.approx(best.rexp, rel=0.05)


# Baddeleyite-like (monoclinic ZrO2): a ≈ b ≈ c, β 99.2°.  Its C-centred pseudo-orthorhombic description,
# a + c, a − c, b, has axes 91.9° apart.
MONOCLINIC = Cell(5.15, 5.21, 5.32, 90.0, 99.2, 90.0)


def _pseudo_orthorhombic(cell: Cell) -> Cell:
    a, c, beta = cell.a, cell.c, np.radians(cell.beta)
    return Cell(np.sqrt(a * a + c * c + 2 * a * c * np.cos(beta)), np.sqrt(a * a + c * c - 2 * a * c * np.cos(beta)),
                cell.b)


def test_the_true_monoclinic_cell_outranks_orthorhombic_descriptions():
    pattern, _, _ = synthetic_pattern(MONOCLINIC, "P 1 21/c 1", two_theta=np.linspace(15.0, 60.0, 2000), seed=4,
                                      profile=PROFILE)
    candidates = [
        _candidate(_pseudo_orthorhombic(MONOCLINIC), "C m m m"),
        _candidate(Cell(MONOCLINIC.a, MONOCLINIC.b, MONOCLINIC.c), "P m m m"),  # β taken for 90°
        _candidate(MONOCLINIC, "P 1 21/c 1"),
    ]
    reranking = rerank(pattern, candidates)
    assert reranking.fits[0].candidate == 2
    best = reranking.fits[0]
    assert best.cell.beta == pytest.approx(MONOCLINIC.beta, abs=0.01)
    assert all(fit.rwp > 3 * best.rwp for fit in reranking.fits[1:])


def test_index_refine_puts_the_true_cell_first(cubic, tmp_path):
    path = tmp_path / "cubic.xye"
    np.savetxt(path, np.column_stack([cubic.two_theta, cubic.intensity, cubic.sigma]), fmt="%.6f")
    result = CliRunner().invoke(app, ["index", str(path), "--anode", "Cu", "--systems", "cubic,tetragonal",
                                      "--time-limit", "3", "--top", "5", "--refine"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    title = next(k for k, line in enumerate(lines) if "re-ranked by Le Bail" in line)
    first = next(line for line in lines[title:] if line.strip().startswith("│") and "│    1 │" in line)
    cells = [float(v) for v in first.split("│")[4:7]]
    assert cells == pytest.approx([CUBIC.a] * 3, abs=2e-3)
    assert "Rexp" in result.output


def test_refine_is_for_one_pattern(cubic, tmp_path):
    path = tmp_path / "cubic.xye"
    np.savetxt(path, np.column_stack([cubic.two_theta, cubic.intensity, cubic.sigma]), fmt="%.6f")
    result = CliRunner().invoke(app, ["index", str(path), "--out", str(tmp_path / "series"), "--refine"])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and "--refine" in result.output


def test_index_refine_shows_a_diverged_fit_last_with_a_note(tmp_path, capsys):
    from powdex.cli.index import _refine_candidates

    pattern, _, _ = synthetic_pattern(MONOCLINIC, "P 1 21/c 1", two_theta=np.linspace(15.0, 60.0, 2000), seed=4,
                                      profile=PROFILE)
    path = tmp_path / "monoclinic.xye"
    np.savetxt(path, np.column_stack([pattern.two_theta, pattern.intensity, pattern.sigma]), fmt="%.6f")
    # A C-centred cell an indexing run proposed for this pattern: its Le Bail fit runs away.
    wrong = _candidate(Cell(5.4891, 18.1695, 19.8928), "C m c 21")
    _refine_candidates(path, {"wavelength": None, "anode": "Cu"}, [wrong, _candidate(MONOCLINIC, "P 1 21/c 1")])
    captured = capsys.readouterr()
    rows = [line for line in captured.out.splitlines() if line.startswith("│")]
    assert "P 1 21/c 1" in rows[0] and "converged" in rows[0]
    assert "C m c 21" in rows[-1] and "diverged" in rows[-1]
    assert "note: candidate 1 in C m c 21: the fit diverged, ranked below" in captured.err

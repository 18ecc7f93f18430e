"""Le Bail fits converge to the Pawley cell, and a fit that diverges ends at its last good
state, marked as such in the result, its JSON and the re-ranking."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.refinement import refine
from powdex.refinement.rerank import rerank
from powdex.refinement.result import RefinementResult
from powdex.refinement.synthetic import synthetic_pattern

from .conftest import TRUE_CELL

PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01}
MONOCLINIC = Cell(5.15, 5.21, 5.32, 90.0, 99.2, 90.0)
# A C-centred orthorhombic cell that an indexing run proposed for the monoclinic pattern: 182 lines, most
# of them on no peak, on which Le Bail's partition runs away.
WRONG_CELL = Cell(5.4891, 18.1695, 19.8928)


@pytest.fixture(scope="module")
def monoclinic():
    pattern, _, _ = synthetic_pattern(MONOCLINIC, "P 1 21/c 1", two_theta=np.linspace(15.0, 60.0, 2000), seed=4,
                                      profile=PROFILE)
    return pattern


def test_le_bail_converges_to_the_pawley_cell_within_its_esd(tetragonal):
    pattern, _, _ = tetragonal
    start = Cell(TRUE_CELL.a * 1.001, TRUE_CELL.b * 1.001, TRUE_CELL.c * 0.999)
    pawley = refine(pattern, start, "P 4/m m m", method="pawley")
    lebail = refine(pattern, start, "P 4/m m m", method="lebail")
    assert lebail.converged and not lebail.diverged, lebail.message
    assert "converged" in lebail.message
    for name in ("a", "c"):
        esd = lebail.cell_esd[name]
        assert abs(getattr(lebail.cell, name) - getattr(pawley.cell, name)) < esd
        assert abs(getattr(lebail.cell, name) - getattr(TRUE_CELL, name)) < 3 * esd
    assert lebail.statistics.reduced_chi2 == pytest.approx(1.0, abs=0.05)
    # Le Bail's intensities are partitions of the counts: never negative.
    assert np.all(lebail.line_intensity >= 0)


def test_a_diverging_le_bail_fit_ends_at_its_last_good_state(monoclinic, tmp_path):
    result = refine(monoclinic, WRONG_CELL, "C m c 21", method="lebail")
    assert result.diverged and not result.converged
    assert "diverged" in result.message and "kept" in result.message
    # The state kept is a fit, not the run-away one: finite, and better than no calculated pattern.
    assert 0 < result.statistics.rwp < 1.0
    assert np.all(np.isfinite(result.calculated)) and np.all(np.isfinite(result.line_intensity))
    paths = result.save(tmp_path, plot=False)
    document = json.loads(paths["json"].read_text())
    assert document["diverged"] is True and document["converged"] is False
    assert RefinementResult.from_dict(document).diverged
    assert all(math.isfinite(v) for v in document["pattern"]["calculated"])


def _candidate(cell: Cell, group: str):
    return SimpleNamespace(cell=cell, zero_shift=0.0, space_groups=(SimpleNamespace(space_groups=(group,)),))


def test_rerank_puts_diverged_fits_below_the_others(monoclinic):
    reranking = rerank(monoclinic, [_candidate(WRONG_CELL, "C m c 21"), _candidate(MONOCLINIC, "P 1 21/c 1")])
    assert [fit.candidate for fit in reranking.fits] == [1, 0]
    assert not reranking.fits[0].diverged and reranking.fits[1].diverged


def test_a_diverged_fit_ranks_below_a_worse_fit_that_did_not_diverge(monoclinic, monkeypatch):
    import dataclasses
    import importlib

    module = importlib.import_module("powdex.refinement.rerank")
    fitted = module.refine

    def marking_the_true_cell_diverged(pattern, cell, group, **options):
        result = fitted(pattern, cell, group, **options)
        return dataclasses.replace(result, diverged=True) if group == "P 1 21/c 1" else result

    monkeypatch.setattr(module, "refine", marking_the_true_cell_diverged)
    # The true cell without the screw axis and glide: more lines for the same peaks, a higher criterion.
    reranking = rerank(monoclinic, [_candidate(MONOCLINIC, "P 1 21/c 1"), _candidate(MONOCLINIC, "P 1 2/m 1")])
    assert not reranking.fits[0].diverged
    assert [fit.candidate for fit in reranking.fits] == [1, 0]
    # By the criterion alone the true cell would still be first.
    assert reranking.fits[1].criterion < reranking.fits[0].criterion


def test_rerank_does_not_fit_a_super_cell_that_cannot_rank_first():
    cubic = Cell(4.2, 4.2, 4.2)
    pattern, _, _ = synthetic_pattern(cubic, "P m -3 m", two_theta=np.linspace(15.0, 100.0, 3000), seed=3,
                                      profile=PROFILE)
    # The doubled cell in P1: over a thousand lines, whose charge alone exceeds the true cell's whole criterion.
    reranking = rerank(pattern, [_candidate(cubic, "P m -3 m"), _candidate(Cell(8.4, 8.4, 8.4), "P 1")])
    assert [fit.candidate for fit in reranking.fits] == [0]
    (candidate, group, why), = reranking.skipped
    assert (candidate, group) == (1, "P 1") and "lines" in why
    best = reranking.fits[0]
    lines = int(why.split()[0])
    assert lines * np.log(best.fit.statistics.points) > best.criterion


def test_a_le_bail_ensemble_goes_on_from_its_best_pawley_start(tetragonal):
    pattern, _, _ = tetragonal
    result = refine(pattern, TRUE_CELL, "P 4/m m m", method="lebail", starts=3, cell_error=0.005, seed=1)
    assert result.method == "lebail" and result.converged, result.message
    assert len(result.starts) == 3
    assert abs(result.cell.a - TRUE_CELL.a) < 3 * result.cell_esd["a"]

"""Parametric refinement of a whole series (Stinton & Evans 2007): the cell as a polynomial of the
series variable, the transition placed by BIC."""

import pytest

from powdex.refinement.errors import RefinementError
from powdex.series.parametric import parametric_refine
from powdex.series.refinement import refine_series
from tests.series.conftest import transition_series
from tests.series.test_series_whole_pattern import lebail_plan

COUNT, TRANSITION = 8, 5


@pytest.mark.slow
def test_the_parametric_fit_places_the_transition_by_bic_and_follows_the_true_cell(plan):
    patterns, truth = transition_series(COUNT, TRANSITION, step=0.05)
    sequential = refine_series(patterns, plan, ensemble_starts=6)
    whole = parametric_refine(sequential, patterns, plan, degree=1, candidates=2)
    assert whole.chosen.breakpoints == [TRANSITION]
    no_break = next(m for m in whole.candidates if not m.breakpoints)
    assert no_break.bic > whole.chosen.bic + 1000
    assert whole.chosen.chi2 / whole.chosen.points < 1.1 ** 2
    for (a, c), cell in zip(truth, whole.cells["T"]):
        assert cell[0] == pytest.approx(a, abs=5e-4) and cell[2] == pytest.approx(c, abs=5e-4)
    # Two stretches, each a straight line in the position: 2 × 2 coefficients per cell parameter.
    assert [len(stretch) for stretch in whole.coefficients["T"]] == [2, 2]


def test_a_parametric_fit_needs_a_rietveld_series(tmp_path, plan):
    patterns, _ = transition_series(2, 5, step=0.2)
    with pytest.raises(RefinementError, match="refines CIF phases"):
        parametric_refine(refine_series(patterns[:1], plan), patterns, lebail_plan(tmp_path, 4.0, 4.08))
    with pytest.raises(RefinementError, match="variable: 3 values for 1 patterns"):
        parametric_refine(refine_series(patterns[:1], plan), patterns, plan, variable=[1.0, 2.0, 3.0])

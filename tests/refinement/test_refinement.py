"""Pawley and Le Bail fits: the analytic Jacobian, a synthetic pattern refined back, errors for bad input."""

import numpy as np
import pytest

from powdex.crystal import Cell
from powdex.errors import PowdexError
from powdex.optim import Objective
from powdex.optim.least_squares import LeastSquares
from powdex.patterns import Pattern
from powdex.refinement import RefinementError, RefinementResult, refine
from powdex.refinement.profile import HL, SL, Z

from .conftest import PROFILE, TRUE_CELL

START_PROFILE = {k: v for k, v in PROFILE.items() if k != "zero"}
START_CELL = Cell(5.206, 5.206, 7.392)


@pytest.mark.parametrize("asymmetric", [True, False])
def test_jacobian_matches_central_differences(tetragonal, asymmetric):
    _, model, p = tetragonal
    p = p.copy()
    p[1] = 0.02  # a sample displacement, so that its column is tested off zero
    p[Z] = 0.005  # and a constant Lorentzian width (GSAS-II's Z), refinable on request
    if not asymmetric:
        p[SL] = p[HL] = 0.0
    windows = model.windows(p)
    analytic = model.jacobian(p, windows).toarray()
    for k in range(model.size):
        if not asymmetric and k in (SL, HL):
            continue
        step = 1e-6 * max(abs(p[k]), 1e-2)
        up, down = p.copy(), p.copy()
        up[k] += step
        down[k] -= step
        numeric = (model.evaluate(up, windows) - model.evaluate(down, windows)) / (2 * step)
        scale = max(np.abs(numeric).max(), 1e-12)
        assert np.abs(numeric - analytic[:, k]).max() <= 1e-4 * scale, f"parameter {k}"


def test_pawley_refines_a_synthetic_pattern_back(tetragonal):
    pattern, _, _ = tetragonal
    result = refine(pattern, START_CELL, "P 4/m m m", method="pawley", profile=START_PROFILE)
    for name in ("a", "c"):
        assert abs(getattr(result.cell, name) - getattr(TRUE_CELL, name)) <= 2 * result.cell_esd[name]
    assert 0.9 <= result.statistics.reduced_chi2 <= 1.1
    assert result.statistics.gof == pytest.approx(result.statistics.rwp / result.statistics.rexp, rel=1e-9)
    assert result.parameter("zero").esd > 0


def test_le_bail_and_pawley_agree_on_the_cell(tetragonal):
    pattern, _, _ = tetragonal
    pawley = refine(pattern, START_CELL, "P 4/m m m", method="pawley", profile=START_PROFILE)
    lebail = refine(pattern, START_CELL, "P 4/m m m", method="lebail", profile=START_PROFILE)
    for name in ("a", "c"):
        assert abs(getattr(pawley.cell, name) - getattr(lebail.cell, name)) <= 2 * pawley.cell_esd[name]


def test_result_round_trips_through_json(tetragonal, tmp_path):
    pattern, _, _ = tetragonal
    result = refine(pattern, TRUE_CELL, "P4/mmm", profile=START_PROFILE, zero=0.01,
                    refine_groups=("background", "intensities"), coarse_stages=())
    paths = result.save(tmp_path, plot=False)
    import json

    again = RefinementResult.from_dict(json.loads(paths["json"].read_text()))
    assert again.cell == result.cell
    assert again.statistics == result.statistics
    assert "_cell_length_a" in paths["cif"].read_text()
    # Parameters not refined carry no esd.
    assert result.parameter("U").esd is None and not result.parameter("U").refined


def test_bad_input_raises_one_line_errors(tetragonal):
    pattern, _, _ = tetragonal
    with pytest.raises(RefinementError, match="does not fit the cell"):
        refine(pattern, Cell(5.2, 5.3, 7.4), "P4/mmm")
    with pytest.raises(RefinementError, match="no reflection"):
        refine(pattern, Cell(1.0, 1.0, 1.0), "Pm-3m")
    with pytest.raises(RefinementError, match="points"):
        refine(pattern, TRUE_CELL, "P4/mmm", two_theta_range=(100.0, 120.0))
    with pytest.raises(RefinementError, match="unknown space group"):
        refine(pattern, TRUE_CELL, "Q 4/x")
    bare = Pattern(pattern.two_theta, pattern.intensity, pattern.sigma, source="bare.xy")
    with pytest.raises(RefinementError, match="no wavelength"):
        refine(bare, TRUE_CELL, "P4/mmm")
    assert issubclass(RefinementError, PowdexError)


class _Rosenbrock:
    def __call__(self, x):
        return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    def jacobian(self, x):
        return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])


@pytest.mark.parametrize("method", ["marquardt", "trf"])
def test_least_squares_minimizer_finds_the_rosenbrock_minimum(method):
    residuals = _Rosenbrock()
    objective = Objective.least_squares(residuals, 2, jacobian=residuals.jacobian, bounds=[(-2, 2), (-2, 2)])
    result = LeastSquares(method=method).minimize(objective, [-1.2, 1.0])
    assert result.success
    assert np.allclose(result.x, [1.0, 1.0], atol=1e-6)


def test_least_squares_minimizer_respects_bounds():
    residuals = _Rosenbrock()
    objective = Objective.least_squares(residuals, 2, jacobian=residuals.jacobian, bounds=[(-2, 0.5), (-2, 2)])
    result = LeastSquares().minimize(objective, [-1.2, 1.0])
    assert result.x[0] == pytest.approx(0.5)
    assert result.x[1] == pytest.approx(0.25, abs=1e-6)


def test_least_squares_minimizer_refuses_an_objective_without_residuals():
    from powdex.optim.errors import ConfigError

    with pytest.raises(ConfigError, match="residuals"):
        LeastSquares().minimize(Objective(lambda x: float(x @ x), 2), [1.0, 1.0])


def test_start_from_an_index_result():
    import powdex
    from powdex.refinement import start_from_index

    document = {"candidates": [{"a": 5.2, "b": 5.2, "c": 7.4, "alpha": 90, "beta": 90, "gamma": 90, "zero_shift": 0.02,
                                "space_groups": [{"space_groups": ["P 4/m m m", "P 4 2 2"]}]}]}
    cell, group, zero = start_from_index(document)
    assert cell == Cell(5.2, 5.2, 7.4) and group == "P 4/m m m" and zero == 0.02
    with pytest.raises(RefinementError, match="no candidates"):
        start_from_index({"peaks": []})
    assert powdex.refine is refine


def test_an_ensemble_from_cells_one_percent_off_reaches_the_true_cell(tetragonal):
    from powdex.optim import LocalProcesses

    pattern, _, _ = tetragonal
    result = refine(pattern, START_CELL, "P4/mmm", starts=4, cell_error=0.01, seed=5, executor=LocalProcesses(2))
    assert len(result.starts) == 4
    assert result.starts_at_best == 4
    assert abs(result.cell.a - TRUE_CELL.a) <= 2 * result.cell_esd["a"]


def test_an_ensemble_kept_in_a_results_store_resumes_without_rerunning(tetragonal, tmp_path):
    from powdex.optim.store import ResultsStore

    pattern, _, _ = tetragonal
    location = tmp_path / "refine.sqlite"
    with ResultsStore(location) as store:
        first = refine(pattern, START_CELL, "P4/mmm", starts=3, cell_error=0.01, seed=2, store=store, study="tetragonal")
        assert store.count("tetragonal") == 3
    with ResultsStore(location) as store:
        again = refine(pattern, START_CELL, "P4/mmm", starts=3, cell_error=0.01, seed=2, store=store, study="tetragonal")
        assert store.count("tetragonal") == 3
    assert again.starts == pytest.approx(first.starts)
    assert again.cell.a == pytest.approx(first.cell.a, rel=1e-9)


def test_a_fit_seeded_from_a_neighbour_reaches_the_same_minimum(tetragonal):
    pattern, _, _ = tetragonal
    cold = refine(pattern, START_CELL, "P4/mmm")
    seeded = refine(pattern, Cell(5.201, 5.201, 7.401), "P4/mmm", neighbour=cold)
    assert seeded.statistics.reduced_chi2 == pytest.approx(cold.statistics.reduced_chi2, rel=1e-3)
    assert abs(seeded.cell.c - cold.cell.c) <= 0.1 * cold.cell_esd["c"]

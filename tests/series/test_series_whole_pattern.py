"""A series of a phase given by cell and space group: Le Bail fits whose reflection lists are
regenerated from the neighbour's cell and whose intensities are carried while the cell moves
smoothly, and reset to equal when it jumps."""

import pytest

from powdex.refinement.errors import RefinementError
from powdex.refinement.plan import RefinementPlan
from powdex.series.refinement import refine_series
from tests.series.conftest import transition_series

LEBAIL_PLAN = """
version = 1
background_terms = 3
[[phases]]
name = "T"
cell = [{a}, {a}, {c}, 90, 90, 90]
space_group = "P4/mmm"
method = "lebail"
"""


def lebail_plan(tmp_path, a: float, c: float) -> RefinementPlan:
    path = tmp_path / "plan.toml"
    path.write_text(LEBAIL_PLAN.format(a=a, c=c))
    return RefinementPlan.from_toml(path)


@pytest.mark.slow
def test_lebail_intensities_are_carried_while_the_cell_drifts_and_reset_when_it_jumps(tmp_path):
    # c/a 1.04 → 1 at pattern 3; the cell grows 0.04 % a pattern, far less than a peak width.
    patterns, truth = transition_series(5, 3, step=0.04, drift=0.002, c_over_a=1.04)
    result = refine_series(patterns, lebail_plan(tmp_path, 4.0, 4.16), out=tmp_path / "out")
    flags = [entry.flags for entry in result.entries]
    assert flags[:3] == [[], ["seeded"], ["seeded"]]  # carried: no refit from equal intensities
    assert "cell_jump" in flags[3] and "intensities_reset" in flags[3]
    for entry, (a, c) in zip(result.entries, truth):
        assert entry.kind == "lebail"
        assert entry.result.statistics.gof < 1.1
        assert entry.phases[0].cell[0] == pytest.approx(a, abs=1e-3)
        assert entry.phases[0].cell[2] == pytest.approx(c, abs=1e-3)
    # Each pattern's reflection list was generated for the cell it started from: its lines sit at
    # that pattern's refined positions, not the neighbour's.
    assert result.entries[3].result.line_two_theta[0] != result.entries[2].result.line_two_theta[0]
    table = result.table()
    assert table[0]["T:a"] == pytest.approx(truth[0][0], abs=1e-3) and table[0]["T:weight_fraction"] == 1.0


def test_a_series_refuses_a_cif_phase_beside_a_cell_phase(tmp_path):
    from tests.series.conftest import DATA

    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    (tmp_path / "plan.toml").write_text(LEBAIL_PLAN.format(a=4.0, c=4.08)
                                        + '[[phases]]\nname = "R"\ncif = "tetragonal.cif"\n')
    patterns, _ = transition_series(1, 3, step=0.2)
    with pytest.raises(RefinementError, match="either CIF phases .Rietveld. or one phase given by cell"):
        refine_series(patterns, RefinementPlan.from_toml(tmp_path / "plan.toml"))


def test_a_plan_cell_needs_six_values(tmp_path):
    (tmp_path / "plan.toml").write_text(LEBAIL_PLAN.replace("cell = [{a}, {a}, {c}, 90, 90, 90]", "cell = [4.0]"))
    with pytest.raises(RefinementError, match=r"plan.toml: phases.0: .*a, b, c, alpha, beta, gamma"):
        RefinementPlan.from_toml(tmp_path / "plan.toml")


@pytest.mark.slow
def test_lebail_ensemble_follows_a_cubic_cell_splitting_into_a_tetragonal_one(tmp_path, monkeypatch):
    import powdex.series.refinement as module

    # Read backwards: metrically cubic (c = a) for three patterns, then c/a 1.04, a 4 % jump of c that
    # splits every (h0l) line; the plan starts from the cubic cell.
    patterns, truth = transition_series(6, 3, step=0.04, drift=0.002, c_over_a=1.04)
    plan = lebail_plan(tmp_path, 4.0, 4.0)
    result = refine_series(patterns, plan, reverse=True)
    split = result.entries[3]
    assert split.name == "scan_002.xye"
    assert {"ensemble", "intensities_reset", "cell_jump"} <= set(split.flags)
    assert split.sequential_rwp > 10 * split.result.statistics.rwp  # the fit from the neighbour could not follow
    assert [e.name for e in result.entries if "ensemble" in e.flags] == ["scan_002.xye"]
    true_cell = dict(zip((p.source for p in patterns), truth))
    for entry in result.entries:
        a, c = true_cell[entry.name]
        phase = entry.phases[0]
        assert entry.result.statistics.gof < 1.1
        if c > a:
            assert abs(phase.cell[0] - a) < 3 * phase.cell_esd[0] and abs(phase.cell[2] - c) < 3 * phase.cell_esd[2]
        else:
            # A cubic pattern's few lines leave the cell in the valley of zero shift and displacement
            # (zero −0.17°, displacement +0.16): 4–5 esd, 0.04 %, off.
            assert abs(phase.cell[0] - a) < 2.5e-3 and abs(phase.cell[2] - c) < 2.5e-3

    # One draw within ±2 % cannot reach a 4 % split: the drawn-again wider ensembles do.
    monkeypatch.setattr(module, "ESCALATIONS", 0)
    single = refine_series(patterns[2:4], plan, reverse=True)
    assert single.entries[1].result.statistics.gof > 3


def test_lines_that_were_one_peak_and_stand_apart_are_split(tmp_path):
    from dataclasses import replace

    import numpy as np

    from powdex.series.refinement import PatternData, fits_of, line_fwhm, lines_split
    from tests.series.conftest import splitting_series

    patterns, _ = splitting_series(1, 5)
    fits = fits_of(lebail_plan(tmp_path, 4.0, 4.0))
    cubic = fits.fit(PatternData.of(patterns[0]), fits.cold_cell(), None)
    width = line_fwhm(cubic)
    assert np.all((width > 0.04) & (width < 0.2))  # degrees: the simulated profile's
    # c grows away from a: the (00l) lines leave their (h00) partners by two FWHM.
    along_c = (cubic.hkl[:, 0] == 0) & (cubic.hkl[:, 1] == 0)
    split = replace(cubic, line_two_theta=cubic.line_two_theta - 2 * width * along_c)
    assert lines_split(cubic, split)
    # Every line moving together (the cell growing), or c moving a tenth of a width, splits nothing.
    assert not lines_split(cubic, replace(cubic, line_two_theta=cubic.line_two_theta + 2 * width))
    assert not lines_split(cubic, replace(cubic, line_two_theta=cubic.line_two_theta - 0.1 * width * along_c))


@pytest.mark.slow
def test_intensities_are_reset_where_lines_split_though_the_cell_moves_less_than_a_jump(tmp_path):
    from tests.series.conftest import splitting_series

    # c/a 1 → 1.004 → 1.008: the second step moves c by 0.4 %, under the 0.5 % of a jump, and parts
    # (001) from (100) by more than half their width.
    patterns, truth = splitting_series(4, 2, c_over_a=1.008)
    result = refine_series(patterns, lebail_plan(tmp_path, 4.0, 4.0))
    last = result.entries[3]
    assert "intensities_reset" in last.flags and "cell_jump" not in last.flags and "ensemble" not in last.flags
    assert last.result.statistics.gof < 1.1
    assert abs(last.phases[0].cell[2] - truth[3][1]) < 3 * last.phases[0].cell_esd[2]

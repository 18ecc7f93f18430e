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

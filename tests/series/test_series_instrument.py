"""A series with a calibrated instrument: its profile, asymmetry and zero held in every fit, from the plan or the
command line."""

import pytest

from powdex.instrument import Instrument
from powdex.optim.journal import JournalError
from powdex.refinement.api import DEFAULT_PROFILE
from powdex.refinement.errors import RefinementError
from powdex.refinement.plan import RefinementPlan
from powdex.refinement.synthetic import CU_KALPHA
from powdex.series.refinement import refine_series
from tests.series.conftest import DATA, PLAN_WITH_PROFILE, transition_series

# The instrument ``transition_series`` simulates (DEFAULT_PROFILE, zero 0).
INSTRUMENT = Instrument(wavelengths=CU_KALPHA, ratio=0.5, polarisation=0.5,
                        **{name: DEFAULT_PROFILE[name] for name in "UVWXY"},
                        S_L=DEFAULT_PROFILE["S/L"], H_L=DEFAULT_PROFILE["H/L"])
LEBAIL_PLAN = """
version = 1
background_terms = 3
instrument = "instrument.toml"
[[phases]]
name = "T"
cell = [4.0, 4.0, 4.08, 90, 90, 90]
space_group = "P4/mmm"
method = "lebail"
"""


def test_a_rietveld_series_holds_the_plans_instrument_through_stages_that_free_the_profile(tmp_path):
    INSTRUMENT.save(tmp_path / "instrument.toml")
    (tmp_path / "tetragonal.cif").write_text((DATA / "tetragonal.cif").read_text())
    (tmp_path / "plan.toml").write_text(PLAN_WITH_PROFILE.replace("background_terms = 3",
                                                                  'background_terms = 3\ninstrument = "instrument.toml"'))
    patterns, truth = transition_series(3, 2, step=0.04)
    result = refine_series(patterns, RefinementPlan.from_toml(tmp_path / "plan.toml"))
    for entry, (a, c) in zip(result.entries, truth):
        values = {p.name: p for p in entry.result.parameters}
        for name in ("U", "V", "W", "S/L", "H/L", "zero"):
            assert not values[name].refined, name
        assert (values["U"].value, values["W"].value) == (INSTRUMENT.U, INSTRUMENT.W)
        assert values["X"].refined and values["Y"].refined
        assert entry.result.statistics.gof < 1.1
        assert entry.phases[0].cell[0] == pytest.approx(a, abs=1e-3)
        assert entry.phases[0].cell[2] == pytest.approx(c, abs=1e-3)


def test_a_le_bail_series_holds_the_instrument_and_a_changed_file_is_not_resumed(tmp_path):
    INSTRUMENT.save(tmp_path / "instrument.toml")
    (tmp_path / "plan.toml").write_text(LEBAIL_PLAN)
    plan = RefinementPlan.from_toml(tmp_path / "plan.toml")
    patterns, truth = transition_series(2, 2, step=0.04)
    result = refine_series(patterns, plan, out=tmp_path / "out")
    for entry, (a, c) in zip(result.entries, truth):
        values = {p.name: p for p in entry.result.parameters}
        assert values["U"].value == INSTRUMENT.U and not values["U"].refined
        assert entry.result.statistics.gof < 1.1
        assert entry.phases[0].cell[0] == pytest.approx(a, abs=2e-3)
        assert entry.phases[0].cell[2] == pytest.approx(c, abs=2e-3)
    # The journal knows the instrument by its values: a recalibrated file starts the series afresh.
    INSTRUMENT.with_values(W=INSTRUMENT.W * 1.2).save(tmp_path / "instrument.toml")
    with pytest.raises(JournalError, match="other settings .instrument was"):
        refine_series(patterns, RefinementPlan.from_toml(tmp_path / "plan.toml"), out=tmp_path / "out")


def test_a_plan_naming_a_missing_instrument_file_says_which(tmp_path):
    (tmp_path / "plan.toml").write_text(LEBAIL_PLAN)
    with pytest.raises(RefinementError, match="plan instrument: .*instrument.toml"):
        refine_series(transition_series(1, 1)[0], RefinementPlan.from_toml(tmp_path / "plan.toml"))

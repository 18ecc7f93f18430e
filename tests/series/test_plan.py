import pytest

from powdex.refinement.errors import RefinementError
from powdex.refinement.plan import RefinementPlan


def test_plan_stages_are_cumulative(plan):
    assert plan.cumulative_stages() == (("background", "scale", "cell", "zero"),)
    assert [p.label for p in plan.rietveld_phases()] == ["T"]


def test_plan_errors_name_file_and_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[phases]]\nname = "x"\n')
    with pytest.raises(RefinementError, match=r"bad.toml: phases.0: .*either cif or cell"):
        RefinementPlan.from_toml(path)
    path.write_text('version = 9\n[[phases]]\nname = "x"\ncif = "x.cif"\n')
    with pytest.raises(RefinementError, match="bad.toml: .*plan version 9"):
        RefinementPlan.from_toml(path)
    path.write_text('[[phases]]\nname = "x"\ncell = [4, 4, 4, 90, 90, 90]\nspace_group = "Pm-3m"\n')
    with pytest.raises(RefinementError, match="needs a CIF"):
        RefinementPlan.from_toml(path).rietveld_phases()

"""Rietveld refinement: structure factors against hand values, a two-phase synthetic
pattern with known noise refined back to its cells and Hill–Howard weight fractions."""

from pathlib import Path

import gemmi
import numpy as np
import pytest

from powdex.refinement.errors import RefinementError
from powdex.refinement.rietveld import RietveldPhase, rietveld_refine, simulate_pattern
from powdex.refinement.structure import CrystalStructure, scattering_factors, structure_factors

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def rutile():
    return RietveldPhase(CrystalStructure.from_cif(DATA / "rutile.cif"), "rutile")


@pytest.fixture(scope="module")
def silicon():
    return RietveldPhase(CrystalStructure.from_cif(DATA / "silicon.cif"), "Si")


def test_rutile_structure_factors_match_hand_sums(rutile):
    structure = rutile.structure
    hkl = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 1]])
    s2 = structure.cell.q2(hkl) / 4.0
    xyz = np.array([s.xyz for s in structure.sites])
    f = structure_factors(structure, hkl, s2, xyz=xyz, occupancy=np.ones(2), b_iso=np.array([0.4, 0.6]),
                          form_factors=scattering_factors(["Ti", "O"], s2, "xray"))
    x = 0.3048
    ti = np.array([gemmi.Element("Ti").it92.calculate_sf(v) for v in s2]) * np.exp(-0.4 * s2)
    o = np.array([gemmi.Element("O").it92.calculate_sf(v) for v in s2]) * np.exp(-0.6 * s2)
    # Ti at 0,0,0 and ½,½,½; O at ±(x,x,0) and ½±x,½∓x,½ (P4₂/mnm, 2a and 4f).
    # 110: both Ti in phase; O: 2cos(2π·2x) + 2.  101: every image summed.  001: the 4₂ screw absence.
    positions = np.array([[x, x, 0], [-x, -x, 0], [0.5 + x, 0.5 - x, 0.5], [0.5 - x, 0.5 + x, 0.5]])
    hand = [2 * ti[0] + o[0] * (2 * np.cos(4 * np.pi * x) + 2),
            ti[1] * (1 + np.exp(2j * np.pi * np.dot([0.5, 0.5, 0.5], hkl[1]))) + o[1] * np.exp(2j * np.pi * positions @ hkl[1]).sum(),
            0.0]
    assert f == pytest.approx(np.array(hand), rel=1e-6, abs=1e-5)  # gemmi tabulates in float32
    assert structure.cell_mass() == pytest.approx(2 * 47.867 + 4 * 15.999, rel=1e-3)


def test_neutron_scattering_lengths_are_constant_in_s():
    b = scattering_factors(["O", "Ti"], np.array([0.0, 0.5]), "neutron")
    assert b[0] == pytest.approx([5.803, 5.803]) and b[1] == pytest.approx([-3.438, -3.438])


def test_two_phase_synthetic_pattern_refined_back(rutile, silicon):
    truth = {"rutile:scale": 0.02, "Si:scale": 0.01, "bkg0": 200.0, "rutile:a": 4.60, "rutile:b": 4.60,
             "rutile:c": 2.96, "zero": 0.01}
    pattern = simulate_pattern([rutile, silicon], np.arange(20.0, 100.0, 0.02), seed=1, values=truth)
    result = rietveld_refine(pattern, [rutile, silicon], background_terms=3)
    phase = {p.name: p for p in result.phases}
    assert abs(phase["rutile"].cell[0] - 4.60) < 2 * phase["rutile"].cell_esd[0]
    assert abs(phase["rutile"].cell[2] - 2.96) < 2 * phase["rutile"].cell_esd[2]
    assert abs(phase["Si"].cell[0] - 5.431) < 2 * phase["Si"].cell_esd[0]
    zmv = {"rutile": 0.02 * rutile.structure.cell_mass() * 4.60 ** 2 * 2.96,
           "Si": 0.01 * silicon.structure.cell_mass() * 5.431 ** 3}
    for name in zmv:
        assert phase[name].weight_fraction == pytest.approx(zmv[name] / sum(zmv.values()), abs=0.02)
        assert phase[name].r_bragg < 0.03
    assert result.statistics.gof == pytest.approx(1.0, abs=0.05)
    assert not result.absolute


def test_internal_standard_gives_absolute_fractions_and_amorphous(rutile, silicon):
    pattern = simulate_pattern([rutile, silicon], np.arange(20.0, 80.0, 0.02), seed=2,
                               values={"rutile:scale": 0.02, "Si:scale": 0.01, "bkg0": 100.0})
    result = rietveld_refine(pattern, [rutile, silicon], background_terms=3, internal_standard=("Si", 0.3))
    si = next(p for p in result.phases if p.name == "Si")
    rutile_fraction = next(p for p in result.phases if p.name == "rutile").weight_fraction
    assert si.weight_fraction == pytest.approx(0.3)
    assert result.amorphous == pytest.approx(1.0 - 0.3 - rutile_fraction)


def test_held_out_phase_is_left_out_of_the_model(rutile, silicon):
    """A held-out phase contributes nothing and none of its parameters move or carry an esd; the
    same pattern fits as well as a refinement of the other phase alone."""
    pattern = simulate_pattern([rutile, silicon], np.arange(20.0, 80.0, 0.02), seed=5,
                               values={"rutile:scale": 0.02, "Si:scale": 0.0, "bkg0": 100.0})
    alone = rietveld_refine(pattern, [rutile], background_terms=3)
    result = rietveld_refine(pattern, [rutile, silicon], background_terms=3, held_out=("Si",),
                             start={"Si:x0": 1 / 5.40 ** 2})
    for name in ("Si:scale", "Si:x0"):
        assert not result.parameter(name).refined and result.parameter(name).esd is None
    assert result.parameter("Si:scale").value == 0.0 and result.parameter("Si:x0").value == 1 / 5.40 ** 2
    si = next(p for p in result.phases if p.name == "Si")
    assert si.weight_fraction == 0.0
    assert result.statistics.parameters == alone.statistics.parameters
    assert result.statistics.reduced_chi2 == pytest.approx(alone.statistics.reduced_chi2, rel=1e-4)
    with pytest.raises(RefinementError, match="held-out phase quartz"):
        rietveld_refine(pattern, [rutile, silicon], held_out=("quartz",))


def test_a_phase_whose_scale_stops_at_its_bound_has_no_fraction_esd(rutile, silicon):
    """An absent phase refined with the others settles on the scale's lower bound: flagged, and its
    weight fraction carries no esd (the covariance, without the held scale, would give it one near zero)."""
    pattern = simulate_pattern([rutile, silicon], np.arange(20.0, 80.0, 0.02), seed=2,
                               values={"rutile:scale": 0.02, "Si:scale": 0.0, "bkg0": 100.0})
    result = rietveld_refine(pattern, [rutile, silicon], background_terms=3)
    si = next(p for p in result.phases if p.name == "Si")
    assert "Si:scale" in result.at_bounds and result.parameter("Si:scale").esd is None
    assert si.weight_fraction == pytest.approx(0.0, abs=1e-3) and si.weight_fraction_esd is None


def test_refined_oxygen_coordinate_and_preferred_orientation(rutile):
    pattern = simulate_pattern([rutile], np.arange(20.0, 110.0, 0.02), seed=3,
                               values={"rutile:scale": 0.05, "bkg0": 100.0, "rutile:O1.x": 0.300,
                                       "rutile:O1.y": 0.300, "rutile:po_ratio": 0.85})
    result = rietveld_refine(pattern, [rutile], background_terms=3,
                             stages=(("background", "scale"), ("background", "scale", "cell", "zero"),
                                     ("background", "scale", "cell", "zero", "rutile:O1.x", "preferred_orientation")),
                             constraints=[("rutile:O1.y", "rutile:O1.x", 1.0)])
    x = result.parameter("rutile:O1.x")
    assert abs(x.value - 0.300) < 3 * x.esd
    assert result.parameter("rutile:O1.y").value == x.value
    assert result.parameter("rutile:po_ratio").value == pytest.approx(0.85, abs=0.02)


def test_unknown_parameter_named(rutile):
    pattern = simulate_pattern([rutile], np.arange(20.0, 60.0, 0.05), seed=4, values={"rutile:scale": 0.05})
    with pytest.raises(RefinementError, match="rutile:Q9.x"):
        rietveld_refine(pattern, [rutile], stages=(("rutile:Q9.x",),))


def test_cif_without_sites_is_refused(tmp_path):
    path = tmp_path / "empty.cif"
    path.write_text("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
                    "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P m -3 m'\n")
    with pytest.raises(RefinementError, match="empty.cif: no atom sites"):
        CrystalStructure.from_cif(path)


def test_jacobian_matches_central_differences(rutile):
    from powdex.refinement.api import DEFAULT_PROFILE
    from powdex.refinement.rietveld import PhaseModel, RietveldModel

    two_theta = np.arange(25.0, 70.0, 0.02)
    model = RietveldModel([PhaseModel(rutile, two_theta, (1.540593, 1.544414), 0.5, "xray", 0.0, 3)], two_theta, 3)
    p = model.initial(DEFAULT_PROFILE, 100.0, [0.05])
    p[model.index["rutile:po_ratio"]] = 0.9
    names = ["zero", "U", "Y", "S/L", "bkg1", "rutile:scale", "rutile:x0", "rutile:x1", "rutile:B_overall",
             "rutile:po_ratio", "rutile:O1.x", "rutile:Ti1.B", "rutile:O1.occ"]
    free = np.array([model.index[n] for n in names])
    analytic = model.jacobian(p, free).toarray()
    for column, index in enumerate(free):
        step = 1e-6 * max(abs(p[index]), 1e-2)
        up, down = p.copy(), p.copy()
        up[index] += step
        down[index] -= step
        numeric = (model.evaluate(up) - model.evaluate(down)) / (2 * step)
        scale = np.abs(numeric).max()
        assert np.abs(analytic[:, column] - numeric).max() < 2e-3 * scale, model.names[index]

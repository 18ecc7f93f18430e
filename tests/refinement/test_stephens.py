"""Stephens (1999) anisotropic microstrain: the Laue-class forms, the width's derivatives against central
differences, and a Pawley fit recovering a known anisotropic broadening from a synthetic pattern."""

import itertools

import numpy as np
import pytest

from powdex.crystal import Cell, LatticeSystem
from powdex.patterns import Pattern
from powdex.refinement import refine
from powdex.refinement.errors import RefinementError
from powdex.refinement.profile import GLOBAL_NAMES, ProfileModel
from powdex.refinement.reflections import lattice_system_of, reflection_lines, resolve_space_group
from powdex.refinement.stephens import StephensWidth, stephens_terms

CU = (1.540593, 1.544414)
PROFILE = {"U": 0.003, "V": -0.001, "W": 0.002, "X": 0.005, "Y": 0.005}


@pytest.mark.parametrize("system, count", [(LatticeSystem.CUBIC, 2), (LatticeSystem.TETRAGONAL, 4),
                                           (LatticeSystem.HEXAGONAL, 3), (LatticeSystem.ORTHORHOMBIC, 6),
                                           (LatticeSystem.MONOCLINIC, 9), (LatticeSystem.TRICLINIC, 15)])
def test_each_laue_form_is_invariant_under_its_symmetry(system, count):
    """The form takes the same value on reflections that the Laue class makes equivalent."""
    hkl = np.array([h for h in itertools.product(range(-3, 4), repeat=3) if any(h)])
    names, coefficients = stephens_terms(system, hkl)
    assert len(names) == count
    s = np.random.default_rng(0).uniform(0.5, 1.5, count)
    value = dict(zip(map(tuple, hkl.tolist()), coefficients @ s))
    operations = {
        LatticeSystem.CUBIC: [lambda h, k, l: (k, l, h), lambda h, k, l: (-h, k, l), lambda h, k, l: (k, h, l)],
        LatticeSystem.TETRAGONAL: [lambda h, k, l: (k, -h, l), lambda h, k, l: (h, k, -l), lambda h, k, l: (k, h, l)],
        LatticeSystem.HEXAGONAL: [lambda h, k, l: (-k, h + k, l), lambda h, k, l: (k, h, l), lambda h, k, l: (h, k, -l)],
        LatticeSystem.ORTHORHOMBIC: [lambda h, k, l: (-h, k, l), lambda h, k, l: (h, -k, l)],
        LatticeSystem.MONOCLINIC: [lambda h, k, l: (h, -k, l), lambda h, k, l: (-h, k, -l)],
        LatticeSystem.TRICLINIC: [lambda h, k, l: (-h, -k, -l)],
    }[system]
    for (h, k, l), v in value.items():
        for operation in operations:
            image = operation(h, k, l)
            if image in value:
                assert value[image] == pytest.approx(v), (system, (h, k, l), image)


def test_rhombohedral_axes_are_refused():
    with pytest.raises(RefinementError, match="hexagonal setting"):
        stephens_terms(LatticeSystem.RHOMBOHEDRAL, np.array([[1, 0, 0]]))


def tetragonal_model(two_theta):
    cell = Cell(4.2, 4.2, 6.1, 90, 90, 90)
    group = resolve_space_group("P4/mmm")
    system = lattice_system_of(group)
    q2 = (2.0 * np.sin(np.radians(np.array([two_theta[0] - 1.0, two_theta[-1] + 1.0])) / 2.0) / CU[0]) ** 2
    lines = reflection_lines(cell, group, system, q2[0], q2[1])
    width = StephensWidth.of(system, lines.hkl)
    model = ProfileModel(two_theta, CU, 0.5, lines.design, background_terms=3, extra_width=width)
    p = np.zeros(model.size)
    for name, value in PROFILE.items():
        p[GLOBAL_NAMES.index(name)] = value
    p[model.cell_slice] = system.free_reciprocal_parameters(cell)
    # Strain along c four times that in the plane: 00l lines broaden most.
    p[model.width_slice] = [2e-6, 3e-5, 0.5e-6, 1e-6]
    p[model.background_slice] = [100.0, -10.0, 2.0]
    p[model.intensity_slice] = 3000.0 * lines.multiplicity * np.random.default_rng(1).uniform(0.2, 1.0, len(lines))
    return cell, model, p, lines


def test_strain_and_cell_derivatives_match_central_differences():
    _, model, p, _ = tetragonal_model(np.arange(20.0, 110.0, 0.02))
    windows = model.windows(p)
    columns = np.r_[model.cell_slice.start:model.width_slice.stop]
    analytic = model.jacobian(p, windows, columns).toarray()
    for k, column in enumerate(columns):
        step = 1e-6 * max(abs(p[column]), 1e-6)
        up, down = p.copy(), p.copy()
        up[column] += step
        down[column] -= step
        numeric = (model.evaluate(up, windows) - model.evaluate(down, windows)) / (2 * step)
        scale = np.abs(numeric).max()
        assert np.abs(analytic[:, k] - numeric).max() < 2e-4 * scale, column


def test_a_pawley_fit_recovers_a_known_anisotropic_strain():
    two_theta = np.arange(20.0, 110.0, 0.02)
    cell, model, p, lines = tetragonal_model(two_theta)
    rng = np.random.default_rng(5)
    clean = model.evaluate(p)
    observed = clean + np.sqrt(clean) * rng.standard_normal(clean.size)
    pattern = Pattern(two_theta, observed, np.sqrt(clean), source="synthetic tetragonal strain", wavelengths=CU,
                      ratio=0.5, sigma_from_file=True)
    result = refine(pattern, cell, "P4/mmm", profile=dict(PROFILE, **{"S/L": 0.0, "H/L": 0.0}), asymmetry=False,
                    refine_groups=("background", "intensities", "cell", "zero"), anisotropic_strain=True,
                    background_terms=3)
    fitted = {q.name: q for q in result.parameters}
    truth = dict(zip(("S400", "S004", "S220", "S202"), p[model.width_slice]))
    assert fitted["strain_S004"].value == pytest.approx(truth["S004"], rel=0.1)
    assert fitted["strain_S400"].value == pytest.approx(truth["S400"], rel=0.1)
    # The widths of the lines, which is what the terms are for, within a few per cent everywhere.
    width = StephensWidth.of(LatticeSystem.TETRAGONAL, lines.hkl)
    line_of = np.arange(len(lines))
    tt = np.degrees(2 * np.arcsin(CU[0] * np.sqrt(lines.design @ p[model.cell_slice]) / 2))
    s_fit = np.array([fitted[f"strain_{n}"].value for n in width.names])
    true_width = width.widths(p[model.width_slice], line_of, tt, np.full(tt.size, CU[0]))[0]
    fitted_width = width.widths(s_fit, line_of, tt, np.full(tt.size, CU[0]))[0]
    assert fitted_width == pytest.approx(true_width, rel=0.05)
    assert result.statistics.reduced_chi2 < 1.1

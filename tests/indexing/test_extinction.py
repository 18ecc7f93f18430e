"""Space-group suggestion: extinction classes of each Bravais lattice, and
their ranking from the indexed lines."""

import numpy as np
import pytest

from powdex.crystal import BravaisLattice, Cell, space_group
from powdex.indexing import PeakListFaults, synthetic_peaks
from powdex.indexing.extinction import extinction_classes, short_symbol, suggest_space_groups
from powdex.peaks import CU_KA1, q2_to_two_theta

MODEL = dict(resolution=0.06, two_theta_error=0.02, impurity_fraction=0.05, detection_probability=0.7)


@pytest.mark.parametrize("bravais, count", [
    # The extinction symbols (reflection conditions) of International Tables A, in powdex's settings
    # (mP, mC: unique axis b, every cell choice; hR: hexagonal axes).
    ("aP", 1), ("mP", 8), ("mC", 2), ("oF", 5), ("hR", 2), ("cP", 7), ("cI", 5), ("cF", 5),
])
def test_extinction_classes_are_those_of_international_tables(bravais, count):
    assert len(extinction_classes(BravaisLattice(bravais))) == count


def test_classes_group_space_groups_that_no_peak_position_can_tell_apart():
    classes = {names for names, _ in extinction_classes(BravaisLattice.mP)}
    assert ("P2, Pm, P2/m") in {", ".join(n) for n in classes}
    assert ("P21/c",) in classes and ("P21/n",) in classes and ("P21/a",) in classes
    hexagonal = {", ".join(n) for n, _ in extinction_classes(BravaisLattice.hR)}
    assert hexagonal == {"R3, R-3, R32, R3m, R-3m", "R3c, R-3c"}


@pytest.mark.parametrize("bravais, cell, symbol", [
    ("mP", Cell(7.1, 9.3, 11.2, 90, 104.5, 90), "P 1 21/c 1"),
    ("mP", Cell(7.1, 9.3, 11.2, 90, 104.5, 90), "P 1 21/n 1"),
    ("mC", Cell(12.1, 6.3, 9.2, 90, 112.0, 90), "C 1 2/c 1"),
    ("oP", Cell(5.3, 7.4, 9.9, 90, 90, 90), "P n m a"),
    ("oP", Cell(5.3, 7.4, 9.9, 90, 90, 90), "P b n m"),  # the same group, other axes: another class
    ("oP", Cell(5.3, 7.4, 9.9, 90, 90, 90), "P 21 21 21"),
    ("tI", Cell(5.2, 5.2, 11.3, 90, 90, 90), "I 41/a"),
    ("hP", Cell(3.2, 3.2, 5.2, 90, 90, 120), "P 63/m m c"),
    ("hR", Cell(4.76, 4.76, 12.99, 90, 90, 120), "R -3 c:H"),
    ("cF", Cell(5.43, 5.43, 5.43, 90, 90, 90), "F d -3 m"),
])
def test_the_true_class_ranks_first_on_noisy_peak_lists(bravais, cell, symbol):
    bravais = BravaisLattice(bravais)
    for seed in range(5):
        peaks = synthetic_peaks(cell, bravais, 20, PeakListFaults(two_theta_noise=0.01), np.random.default_rng(seed),
                                space_group=symbol)
        ranked = suggest_space_groups(bravais, cell, peaks.two_theta, peaks.wavelength, **MODEL)
        assert short_symbol(space_group(symbol)) in ranked[0].space_groups
        assert ranked[0].n_forbidden_peaks == 0 and ranked[0].probability > 0.5
        assert sum(c.probability for c in ranked) == pytest.approx(1.0)


def test_an_observed_forbidden_line_rules_a_class_out():
    cell = Cell(7.1, 9.3, 11.2, 90, 104.5, 90)
    peaks = synthetic_peaks(cell, BravaisLattice.mP, 20, PeakListFaults(two_theta_noise=0.0), space_group="P 1 21/c 1")
    assert suggest_space_groups(BravaisLattice.mP, cell, peaks.two_theta, CU_KA1, **MODEL)[0].space_groups == ("P21/c",)
    # A (0 1 0) line, which the 21 screw axis forbids, is seen as well.
    with_010 = np.sort(np.append(peaks.two_theta, q2_to_two_theta(cell.q2(np.array([0, 1, 0])), CU_KA1)))
    ranked = suggest_space_groups(BravaisLattice.mP, cell, with_010, CU_KA1, **MODEL)
    assert ranked[0].space_groups == ("Pc", "P2/c")
    p21c = next(c for c in ranked if c.space_groups == ("P21/c",))
    assert p21c.n_forbidden_peaks == 1 and p21c.probability < 1e-3

"""Which peaks the regression models read, and training on short peak lists."""

import numpy as np
import pytest

from powdex.crystal import Cell, LatticeSystem, reference_miller_indices
from powdex.models.regression import RegressionModel, enough_peaks, min_peaks, model_inputs, peaks_read, peaks_used
from powdex.models.scaling import Scaler
from powdex.models.window import Q2_WINDOW, WAVELENGTH
from powdex.peaks import q2_to_two_theta


def test_the_window_is_the_training_patterns_range():
    assert q2_to_two_theta(Q2_WINDOW, WAVELENGTH) == pytest.approx(60.0)


def test_peaks_read_stop_at_the_window_or_the_models_width():
    magnesium = Cell(3.21, 3.21, 5.21, 90, 90, 120)
    q2 = np.unique(np.round(magnesium.q2(reference_miller_indices(LatticeSystem.HEXAGONAL, limit=400)), 10))[:20]
    read = peaks_read(LatticeSystem.HEXAGONAL, q2)
    # 001, 100, 002, 101, 102, 003, 110 (no absences applied) are the lines of magnesium's lattice below
    # 2θ = 60° at 1.54 Å; the other 13 lie beyond.
    assert len(read) == 7 and read.max() <= Q2_WINDOW < q2[7]
    assert enough_peaks(LatticeSystem.HEXAGONAL, q2) and not enough_peaks(LatticeSystem.HEXAGONAL, q2[:3])
    many = np.linspace(0.01, 0.4, 30)
    assert len(peaks_read(LatticeSystem.ORTHORHOMBIC, many)) == 20 == peaks_used(LatticeSystem.ORTHORHOMBIC)
    assert len(peaks_read(LatticeSystem.CUBIC, many)) == 10
    assert [min_peaks(s) for s in LatticeSystem] == [3, 4, 4, 4, 5, 6, 8]


def test_inputs_mark_the_slots_no_peak_fills():
    scaler = Scaler(q2_mean=0.2, q2_std=0.1, length_mean=0.0, length_std=1.0, angle_scale=1.0)
    x = model_inputs(scaler, [[0.1, 0.3, np.nan, np.nan]])
    np.testing.assert_allclose(x, [[-1.0, 1.0, 0.0, 0.0, 1, 1, 0, 0]], atol=1e-6)


def test_candidates_refuse_a_list_with_fewer_peaks_than_the_models_need_in_their_window():
    model = RegressionModel(LatticeSystem.TETRAGONAL, "tP", (0, 2), 20, None, {}, None)
    with pytest.raises(ValueError, match=r"need 4 peaks with q² ≤ 0\.4217 .*got 3"):
        model.candidates([0.1, 0.2, 0.3, 0.5, 0.6], 10, np.random.default_rng(0))


def test_shortened_lists_are_training_lists_cut_after_at_least_min_peaks(small_orthorhombic):
    pytest.importorskip("torch")
    from powdex.models.train import shortened

    data = small_orthorhombic
    cut = shortened(data, 0.5, seed=3)
    changed = cut.counts < data.counts
    assert 0.4 < changed[data.training].mean() < 0.6 and not changed[~data.training].any()
    assert cut.counts.min() == min_peaks(LatticeSystem.ORTHORHOMBIC) and cut.counts.max() == 20
    kept = np.isfinite(cut.q2)
    np.testing.assert_array_equal(cut.q2[kept], data.q2[kept])  # a prefix of each list, unchanged
    assert np.all(np.diff(kept.astype(int), axis=1) <= 0)

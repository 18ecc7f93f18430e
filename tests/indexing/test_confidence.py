"""The calibrated probability that a candidate is the true cell: its features, equivalent sets, the shipped
calibration and the result document that carries it."""

from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from powdex.cli.main import app
from powdex.crystal import BravaisLattice, Cell
from powdex.indexing import IndexingConfig, IndexingSearch, PeakListFaults, index, synthetic_peaks
from powdex.indexing.confidence import (
    FEATURES,
    GAP_CAP,
    ConfidenceModel,
    candidate_features,
    equivalent_sets,
    shared_in_odds,
    shipped_model,
)
from powdex.indexing.result import IndexingResult, ResultFileError

SILICON = Cell(5.4312, 5.4312, 5.4312)


@pytest.fixture(scope="module")
def silicon_candidate():
    peaks = synthetic_peaks(SILICON, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005),
                            np.random.default_rng(2))
    search = IndexingSearch(peaks)
    return search.polished(BravaisLattice.cF, BravaisLattice.cF.axes.free_reciprocal_parameters(SILICON))


def gap_only_model(weight: float = 0.5) -> ConfidenceModel:
    """Utility = weight × score gap: the arithmetic of the model without a fit."""
    n = len(FEATURES)
    weights = np.zeros(n)
    weights[FEATURES.index("score_gap")] = weight
    return ConfidenceModel(np.zeros(n), np.ones(n), weights, 0.0)


def test_the_score_gap_is_to_the_best_candidate_outside_the_set(silicon_candidate):
    worse = replace(silicon_candidate, score=silicon_candidate.score - 7.0, n_lines_predicted=99)
    features = candidate_features([silicon_candidate, worse])
    gap = FEATURES.index("score_gap")
    assert features[:, gap] == pytest.approx([7.0, -7.0])
    assert candidate_features([silicon_candidate])[0, gap] == GAP_CAP  # no runner-up
    p_best, p_worse = gap_only_model().probabilities([silicon_candidate, worse])
    # The two sets and "neither": utilities 3.5, −3.5 and 0.
    assert p_best == pytest.approx(np.exp(3.5) / (1 + np.exp(3.5) + np.exp(-3.5)))
    assert p_worse == pytest.approx(np.exp(-3.5) / (1 + np.exp(3.5) + np.exp(-3.5)))
    (alone,) = gap_only_model().probabilities([silicon_candidate])
    assert alone == pytest.approx(1 / (1 + np.exp(-0.5 * GAP_CAP)))


def test_candidates_that_index_the_same_lines_share_the_probability_of_their_set(silicon_candidate):
    # A derivative description with the same lines at the same positions and nearly the same score.
    twin = replace(silicon_candidate, bravais=BravaisLattice.tI, score=silicon_candidate.score - 0.5)
    other = replace(silicon_candidate, score=silicon_candidate.score - 4.0, n_lines_predicted=99)
    ranked = [silicon_candidate, twin, other]
    assert equivalent_sets(ranked) == [0, 0, 2]
    features = candidate_features(ranked)
    assert features[:2, FEATURES.index("equivalent_cells")] == pytest.approx([1, 1])
    assert features[0, FEATURES.index("score_gap")] == pytest.approx(4.0)  # the twin is not the runner-up
    p = gap_only_model().probabilities(ranked)
    assert p[0] == p[1] and p[0] > p[2]


def test_the_shipped_calibration_trusts_a_larger_gap_and_a_higher_m20_more(silicon_candidate):
    model = shipped_model()
    features = np.repeat(candidate_features([silicon_candidate]), 5, axis=0)
    features[:, FEATURES.index("score_gap")] = 0.0  # away from certainty, where every change shows
    for name in ("score_gap", "log_m"):
        varied = features.copy()
        varied[:, FEATURES.index(name)] = np.linspace(-5, 5, 5) if name == "score_gap" else np.log([2, 5, 10, 30, 100])
        assert np.all(np.diff(model.utilities(varied)) > 0), name
    with pytest.raises(ValueError, match="features"):
        ConfidenceModel.from_dict(model.to_dict() | {"features": ["score_gap"]})


def test_a_decisive_silicon_indexing_is_nearly_certain_and_its_document_keeps_the_probabilities(tmp_path):
    peaks = synthetic_peaks(SILICON, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005),
                            np.random.default_rng(2))
    result = index(peaks, config=IndexingConfig(systems="cubic", time_limit=10))
    assert result.best.bravais is BravaisLattice.cF
    assert len(result.probabilities) == len(result.candidates)
    assert result.best_probability > 0.9
    assert sum(result.probabilities) <= 1.0 + 1e-9
    result.save(tmp_path / "si.json")
    back = IndexingResult.load(tmp_path / "si.json")
    assert back.probabilities == pytest.approx(result.probabilities)


def test_a_version_1_document_reads_without_probabilities_and_lengths_must_agree(tmp_path):
    peaks = synthetic_peaks(SILICON, BravaisLattice.cF, 12, PeakListFaults(two_theta_noise=0.005),
                            np.random.default_rng(2))
    document = index(peaks, config=IndexingConfig(systems="cubic", time_limit=10)).to_dict()
    old = document | {"schema_version": 1, "candidates": [
        {k: v for k, v in c.items() if k != "probability"} for c in document["candidates"]]}
    result = IndexingResult.from_dict(old)
    assert result.probabilities == () and result.best_probability is None
    assert result.best.bravais is BravaisLattice.cF
    with pytest.raises(ValueError, match="probabilities for"):
        replace(result, probabilities=(0.5,) * (len(result.candidates) + 1))
    with pytest.raises(ResultFileError, match="newer"):
        IndexingResult.from_dict(document | {"schema_version": 99})


def test_powdex_index_shows_the_probability_and_what_a_referee_checks(tmp_path):
    two_theta = np.sort(np.append(synthetic_peaks(SILICON, BravaisLattice.cF, 10, PeakListFaults(two_theta_noise=0.003),
                                                  np.random.default_rng(4)).two_theta, 35.0))
    path = tmp_path / "si.txt"
    path.write_text("# wavelength: 1.5406\n" + "\n".join(f"{t:.4f}" for t in two_theta) + "\n")
    result = CliRunner().invoke(app, ["index", str(path), "--systems", "cubic", "--time-limit", "10",
                                      "--formula", "Si"])
    assert result.exit_code == 0, result.output
    assert "P: calibrated probability" in result.stdout
    assert f"F{len(two_theta)}(|Δ2θ|,Nposs)" in result.stdout
    impurity = int(np.searchsorted(two_theta, 35.0)) + 1
    assert (f"candidate 1: reduced cell 3.84 3.84 3.84 60.00 60.00 60.00; unindexed lines: #{impurity} "
            "(2θ 35.000°)") in result.stdout.replace("3.8405", "3.84").replace("3.8406", "3.84")
    assert "4.30 by Hofmann volumes (37.3 Å³ per formula unit)" in result.output


def test_two_sets_share_their_probability_in_the_odds_given_and_the_others_keep_theirs(silicon_candidate):
    twin = replace(silicon_candidate, bravais=BravaisLattice.tI, score=silicon_candidate.score - 0.5)
    other = replace(silicon_candidate, score=silicon_candidate.score - 4.0, n_lines_predicted=99)
    third = replace(silicon_candidate, score=silicon_candidate.score - 9.0, n_lines_predicted=77)
    ranked = [silicon_candidate, twin, other, third]  # sets: the first two, then one each
    shared = shared_in_odds(ranked, (0.5, 0.5, 0.4, 0.05), 2, 0, 4.0)
    assert shared == pytest.approx((0.18, 0.18, 0.72, 0.05))

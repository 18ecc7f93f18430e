"""A calibrated probability that a ranked candidate cell is the true one.

The ranking score orders candidates but does not say how sure the ranking is:
a score gap of 5 nats means more with 20 clean lines than with 12 lines and an
impurity. A conditional logit (McFadden 1974) over the candidates turns the
ranking evidence into probabilities. Candidates that index the same lines at
the same positions form one equivalent set (``same_lines``: positions cannot
decide between a lattice and its derivatives whose extra reflections coincide
with its lines), and the sets compete with "none of them":

    P(set i holds the true cell) = exp(u_i) / (1 + Σ_j exp(u_j)),  u = b + w · (f − mean) / scale,

with f the evidence of the set's best candidate:

* the score gap to the best candidate outside its set (positive for the best,
  negative below it), capped at ``GAP_CAP`` nats;
* the score per peak, ln M_N (de Wolff 1968), the fraction of peaks indexed and
  the number of unindexed lines among the first N;
* the lattice system's symmetry rank, the number of other candidates in its set,
  |zero shift|, and whether a short lattice vector was penalised.

Every member of a set shows the set's probability. The coefficients are fitted
offline by maximum likelihood (``benchmarks/index_calibration.py``, on synthetic
peak lists, some with hard faults, and on peak lists of real structures, with
held-out reliability diagrams in its report) and ship in ``confidence.json`` beside this module;
inference needs numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from powdex.indexing.candidate import Candidate

COEFFICIENTS = Path(__file__).with_name("confidence.json")

FEATURES = (
    "score_gap",
    "score_per_peak",
    "log_m",
    "indexed_fraction",
    "unindexed_in_n",
    "symmetry_rank",
    "equivalent_cells",
    "abs_zero_shift",
    "short_vector_penalty",
)
# Nats: a gap beyond this decides as much as this (and a lone candidate has no runner-up to be compared with).
GAP_CAP = 30.0
# Largest score difference (nats) and 2θ difference (°) between candidates that positions cannot tell apart.
EQUIVALENT_SCORE = 1.0
EQUIVALENT_TWO_THETA = 0.005


def same_lines(a: Candidate, b: Candidate) -> bool:
    """Whether two candidates predict the same lines at the same positions (derivative lattices whose extra
    reflections all coincide with the other's lines, or lie past the pattern): positions alone cannot decide
    between them; intensities (a whole-pattern fit) can."""
    return (a.n_lines_predicted == b.n_lines_predicted and np.array_equal(a.indexed, b.indexed)
            and abs(a.score - b.score) <= EQUIVALENT_SCORE
            and bool(np.all(np.abs(a.two_theta_calc - b.two_theta_calc)[a.indexed] <= EQUIVALENT_TWO_THETA)))


def equivalent_sets(ranked: Sequence[Candidate]) -> list[int]:
    """For each candidate, the index of the first (best) candidate of its equivalent set."""
    first_of = list(range(len(ranked)))
    for i in range(len(ranked)):
        for j in range(i):
            if first_of[j] == j and same_lines(ranked[j], ranked[i]):
                first_of[i] = j
                break
    return first_of


def candidate_features(ranked: Sequence[Candidate]) -> np.ndarray:
    """(candidates, ``FEATURES``): the ranking evidence of each candidate, best first."""
    sets = equivalent_sets(ranked)
    sizes = np.bincount(sets, minlength=len(ranked))
    scores = np.array([c.score for c in ranked], dtype=float)
    rows = []
    for i, cand in enumerate(ranked):
        others = scores[[j for j in range(len(ranked)) if sets[j] != sets[i]]]
        gap = scores[i] - others.max() if len(others) else GAP_CAP
        n_peaks = max(len(cand.indexed), 1)
        rows.append([
            float(np.clip(gap, -GAP_CAP, GAP_CAP)),
            cand.score / n_peaks,
            float(np.log(np.clip(cand.figures.m, 1.0, 1000.0))),
            cand.n_indexed / n_peaks,
            float(cand.figures.n_unindexed),
            float(cand.bravais.lattice_system.symmetry_rank),
            float(sizes[sets[i]] - 1),
            abs(cand.zero_shift),
            float(bool(cand.penalties)),
        ])
    return np.array(rows, dtype=float).reshape(len(ranked), len(FEATURES))


class ConfidenceModel:
    """The conditional logit of the module docstring: utilities u = b + w · (f − mean) / scale."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, weights: np.ndarray, intercept: float):
        self.mean, self.scale, self.weights, self.intercept = mean, scale, weights, float(intercept)

    @classmethod
    def from_dict(cls, data: dict) -> ConfidenceModel:
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"confidence model features {data['features']} are not {list(FEATURES)}")
        return cls(np.asarray(data["mean"], dtype=float), np.asarray(data["scale"], dtype=float),
                   np.asarray(data["weights"], dtype=float), float(data["intercept"]))

    def to_dict(self, **provenance) -> dict:
        return {"features": list(FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "intercept": self.intercept} | provenance

    def utilities(self, features: np.ndarray) -> np.ndarray:
        """u of each row of features."""
        return self.intercept + ((features - self.mean) / self.scale) @ self.weights

    def probabilities(self, ranked: Sequence[Candidate]) -> tuple[float, ...]:
        """The probability that each candidate's equivalent set holds the true cell (one value per candidate,
        shared by a set's members)."""
        if not ranked:
            return ()
        sets = equivalent_sets(ranked)
        heads = sorted(set(sets))
        u = self.utilities(candidate_features(ranked))[heads]
        # exp(u_i) / (1 + Σ exp(u_j)), with the largest exponent taken out.
        top = max(float(u.max()), 0.0)
        share = np.exp(u - top) / (np.exp(-top) + np.exp(u - top).sum())
        of_head = dict(zip(heads, share))
        return tuple(float(of_head[sets[i]]) for i in range(len(ranked)))


@cache
def shipped_model() -> ConfidenceModel:
    """The calibration that ships with powdex (``confidence.json``)."""
    return ConfidenceModel.from_dict(json.loads(COEFFICIENTS.read_text()))


def candidate_probabilities(ranked: Sequence[Candidate]) -> tuple[float, ...]:
    """``ConfidenceModel.probabilities`` with the shipped calibration."""
    return shipped_model().probabilities(ranked)


def shared_in_odds(ranked: Sequence[Candidate], probabilities: Sequence[float], first: int, second: int,
                   odds: float) -> tuple[float, ...]:
    """``probabilities`` with the equivalent sets of ``ranked[first]`` and ``ranked[second]`` sharing what the two
    hold together in ``odds`` : 1, for evidence the ranking features do not see (a likelihood ratio between the
    two, with equal priors); every other candidate keeps its own."""
    sets = equivalent_sets(ranked)
    head_first, head_second = sets[first], sets[second]
    if head_first == head_second:
        return tuple(probabilities)
    together = probabilities[first] + probabilities[second]
    shared = {head_first: together * odds / (1 + odds), head_second: together / (1 + odds)}
    return tuple(shared.get(sets[i], p) for i, p in enumerate(probabilities))

"""Evaluation of trained models on the validation entries of a prepared dataset (numpy only).

Regression, per lattice system and free parameter, over the unaugmented
validation entries of the groups that have models (each entry through its own
group's models):

* median relative error of the network mean and of the forest mean;
* calibration: fraction of truths within μ ± 1σ and μ ± 2σ, σ² = β / (α − 1), and
  a reliability curve (observed against nominal coverage of normal intervals);
* forest/network disagreement: fraction with |μ_net − μ_forest| > √(σ²_net + σ²_forest),
  σ_forest the spread of the trees (whether the forest adds anything to the network);
* the network's median error and 2σ coverage on the entries with fewer peaks
  than the models read at most (small cells, whose lines below 2θ = 60° are few).

Assignment (the entries with all the peaks it reads): top-1 accuracy of the network and of the nearest-reference
baseline, per source of candidate cells (the regression prediction, the truth
with each noise level in scaled space, and the truth itself); the peaks only the
network labels right and those only the baseline does (a sign test between the
two where the accuracies are close); and how many of the network's errors chose
a line the dataset could not have told from the labelled one: within FWHM / 1.5
of it in 2θ in the candidate cell, where the dataset keeps only the stronger of
two reflections and labels the peak with its index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from powdex.crystal import PARAMETER_NAMES
from powdex.models.assignment import (
    PREDICTED,
    candidate_cells,
    labels,
    nearest_reference,
    predicted_cells,
    reference_q2,
)
from powdex.models.data import SystemData
from powdex.models.store import SystemModels
from powdex.models.window import OVERLAP_DISTANCE, WAVELENGTH
from powdex.peaks import q2_to_two_theta

NOMINAL_COVERAGE = np.linspace(0.05, 0.99, 20)
NOISE_LEVELS = (0.10, 0.05, 0.025, 0.01, 0.0)


@dataclass(frozen=True)
class RegressionRow:
    system: str
    parameter: str
    entries: int
    network_median_relative_error: float
    forest_median_relative_error: float
    within_1_sigma: float
    within_2_sigma: float
    forest_network_disagreement: float
    reliability: list[float]  # observed coverage at NOMINAL_COVERAGE
    short_list_entries: int  # entries with fewer peaks than the models read at most
    short_list_network_median_relative_error: float
    short_list_within_2_sigma: float


@dataclass(frozen=True)
class AssignmentErrors:
    network_wins: int  # peaks the network labels right and the baseline wrong
    network_losses: int  # the reverse
    network_errors: int
    errors_at_overlapping_lines: int  # of those, the chosen line within FWHM / 1.5 of the labelled one


@dataclass(frozen=True)
class AssignmentRow:
    system: str
    cells: str  # "predicted", "truth + N(0, σ²)" or "truth"
    entries: int
    network_accuracy: float
    baseline_accuracy: float
    errors: AssignmentErrors


def assignment_errors(network: np.ndarray, baseline: np.ndarray, truth: np.ndarray, q2_reference: np.ndarray) -> AssignmentErrors:
    """Classes (n, peaks) chosen by the network and the baseline against the labels, with the reference q²
    (n, references) of each pattern's candidate cell; the last class, (000), has no line and is never at one."""
    wrong = network != truth
    outside = q2_reference.shape[1]
    lines = np.concatenate([q2_to_two_theta(q2_reference, WAVELENGTH), np.full((len(q2_reference), 1), np.nan)], axis=1)
    chosen, labelled = np.take_along_axis(lines, network, 1), np.take_along_axis(lines, truth, 1)
    overlapping = wrong & (network != outside) & (truth != outside) & (np.abs(chosen - labelled) <= OVERLAP_DISTANCE)
    return AssignmentErrors(
        int(np.sum(~wrong & (baseline != truth))), int(np.sum(wrong & (baseline == truth))), int(wrong.sum()), int(overlapping.sum())
    )


def validation_originals(data: SystemData) -> SystemData:
    return data.subset(~data.training & ~data.augmented)


def evaluate_regression(models: SystemModels, data: SystemData) -> list[RegressionRow]:
    data = validation_originals(data)
    per_parameter: dict[str, dict[str, list]] = {}
    for group, model in models.regression.items():
        rows = np.flatnonzero(data.group == group)
        if not len(rows):
            continue
        short = data.counts[rows] < data.n_peaks
        columns = list(model.columns)
        truth_scaled = data.scaler.scale_cells(data.cells[rows])[:, columns]
        network = model.network_prediction(data.q2[rows])
        trees = model.forest_prediction(data.q2[rows])
        sigma = np.sqrt(network.variance)
        truth = data.cells[rows][:, columns]
        estimates = {name: model.cells(values)[:, columns] for name, values in (("network", network.mean), ("forest", trees.mean(0)))}
        z = np.abs(truth_scaled - network.mean) / sigma
        disagree = np.abs(network.mean - trees.mean(0)) > np.sqrt(network.variance + trees.var(0))
        for j, column in enumerate(columns):
            # Oblique angles of different settings are one parameter, "angle"; lengths keep their names.
            name = PARAMETER_NAMES[column] if column < 3 or models.system.value != "monoclinic" else "oblique angle"
            store = per_parameter.setdefault(name, {"network": [], "forest": [], "z": [], "disagree": [], "short": []})
            for key, values in estimates.items():
                store[key].append(np.abs(values[:, j] - truth[:, j]) / np.abs(truth[:, j]))
            store["z"].append(z[:, j])
            store["disagree"].append(disagree[:, j])
            store["short"].append(short)
    out = []
    for name, store in per_parameter.items():
        z = np.concatenate(store["z"])
        short = np.concatenate(store["short"])
        network_error = np.concatenate(store["network"])
        out.append(
            RegressionRow(
                models.system.value,
                name,
                len(z),
                float(np.median(network_error)),
                float(np.median(np.concatenate(store["forest"]))),
                float(np.mean(z <= 1.0)),
                float(np.mean(z <= 2.0)),
                float(np.mean(np.concatenate(store["disagree"]))),
                [float(np.mean(z <= norm.ppf(0.5 + p / 2))) for p in NOMINAL_COVERAGE],
                int(short.sum()),
                float(np.median(network_error[short])) if short.any() else float("nan"),
                float(np.mean(z[short] <= 2.0)) if short.any() else float("nan"),
            )
        )
    return out


def evaluate_assignment(models: SystemModels, data: SystemData, seed: int = 0) -> list[AssignmentRow]:
    data = validation_originals(data).full()
    assignment = models.assignment
    target = labels(data.system, assignment.reference, data.cells, data.hkl)
    predicted = predicted_cells(data, models.regression)
    rng = np.random.default_rng(seed)
    out = []
    sources = [("predicted", PREDICTED, ())] + [(f"truth + N(0, {s:g}²)" if s else "truth", 1, (s,)) for s in NOISE_LEVELS]
    for name, source, levels in sources:
        cells, uncertainty = candidate_cells(data, predicted, np.full(len(data.cells), source), levels, rng)
        usable = ~np.isnan(cells[:, 0])
        if not usable.any():
            continue
        q2, cells, truth = data.q2[usable], cells[usable], target[usable]
        network = assignment.probabilities(q2, cells, uncertainty[usable]).argmax(axis=2)
        q2_reference = reference_q2(data.system, assignment.reference, cells)
        baseline = nearest_reference(q2, q2_reference)
        out.append(
            AssignmentRow(
                data.system.value, name, int(usable.sum()), float(np.mean(network == truth)), float(np.mean(baseline == truth)),
                assignment_errors(network, baseline, truth, q2_reference),
            )
        )
    return out


def plot_reliability(rows: list[RegressionRow], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = sorted({r.system for r in rows}, key=[r.system for r in rows].index)
    fig, axes = plt.subplots(1, len(systems), figsize=(3.2 * len(systems), 3.4), squeeze=False)
    for ax, system in zip(axes[0], systems):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for r in rows:
            if r.system == system:
                ax.plot(NOMINAL_COVERAGE, r.reliability, marker=".", label=r.parameter)
        ax.set(title=system, xlabel="nominal coverage", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("observed coverage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Training of the shipped models (cell regression and index assignment) in PyTorch; needs the ``train`` extra.

Per lattice system: a variance network pretrained on all of the system's
training entries, then, from it, a variance network and a random forest for
every group with enough training entries, then one assignment network. Everything is seeded:
the same dataset, configuration and seed give the same weights on the same
hardware and library versions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from scipy.stats import norm

from powdex.crystal import free_parameter_columns
from powdex.models.assignment import (
    AssignmentModel,
    build_reference,
    candidate_cells,
    clipped_uncertainty,
    delta_star,
    labels,
    predicted_cells,
    random_sources,
    reference_q2,
)
from powdex.models.cells import group_columns
from powdex.models.data import SystemData
from powdex.models.errors import ModelError
from powdex.models.forest import MIN_SAMPLES_LEAF, N_TREES, SUBSAMPLE, fit_forest
from powdex.models.losses import beta_nll, inverse_gamma_nll
from powdex.models.regression import RegressionModel, min_peaks, model_inputs
from powdex.models.store import SystemModels
from powdex.models.torch_modules import AssignmentModule, VarianceModule

TWO_SIGMA_COVERAGE = norm.cdf(2.0) - norm.cdf(-2.0)

# report(task, done, total): progress of one named task, called after every epoch.
Report = Callable[[str, int, int], None]


@dataclass(frozen=True)
class VarianceConfig:
    mean_hidden: tuple[int, ...] = (200, 100, 60)
    variance_hidden: tuple[int, ...] = (100, 60)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    batch_size: int = 64
    # One network per set of free parameters on all of a system's training entries, where each
    # group's network starts: a group of a few hundred entries alone gets too few steps to learn.
    pretraining_cycles: int = 20
    cycles: int = 5  # of each group's own training, from the pretrained network
    epochs_per_phase: int = 10  # each cycle: this many epochs of μ, then as many of α and β
    beta_star: float = 0.5
    # Of a group's training crystals (with their augmented copies), held out to choose the
    # group network's cycle and calibrate its variance (never the evaluation's validation entries).
    selection_fraction: float = 0.1


@dataclass(frozen=True)
class ForestConfig:
    n_trees: int = N_TREES
    subsample: float = SUBSAMPLE
    min_samples_leaf: int = MIN_SAMPLES_LEAF


@dataclass(frozen=True)
class AssignmentConfig:
    hidden: tuple[int, ...] = (200, 200, 200, 100)
    dropout: float = 0.25
    learning_rate: float = 2e-3
    batch_size: int = 256
    epochs: int = 20
    epsilon_per_uncertainty: float = 0.2  # ε = 0.2 τ: ε = 0.01 at the middle noise level τ = 0.05
    noise_levels: tuple[float, ...] = (0.10, 0.05, 0.025, 0.01)


@dataclass(frozen=True)
class TrainingConfig:
    variance: VarianceConfig = field(default_factory=VarianceConfig)
    forest: ForestConfig = field(default_factory=ForestConfig)
    assignment: AssignmentConfig = field(default_factory=AssignmentConfig)
    min_group_entries: int = 100  # training entries (augmented included) a group needs for its own models
    # Of the regression's training entries, the share whose peak list is cut after a random number of peaks
    # (from min_peaks to all): otherwise only small cells would come with short lists, and a large cell's list
    # that a user ends early would read as a small cell.
    shortened_fraction: float = 0.25
    seed: int = 0
    device: str = "cpu"


def state_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def _batches(n: int, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=generator).split(size))


def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One optimizer step on ``loss``; none where it is not finite (the caller's history counts those batches).

    A softplus that underflows to zero on one entry of a batch makes that entry's variance zero or infinite and the
    batch loss infinite; a step on it would put NaN into every weight (the triclinic pretraining did so in its
    381st of 400 epochs). Skipping it leaves the weights as they were, and the next batch goes on.
    """
    if not torch.isfinite(loss):
        return float("nan")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _epoch_losses(losses: list[float]) -> dict:
    """The mean training loss of an epoch's stepped batches and how many batches were skipped (``_step``)."""
    losses = np.asarray(losses)
    finite = np.isfinite(losses)
    return {"training": float(losses[finite].mean()) if finite.any() else float("nan"), "skipped_batches": int((~finite).sum())}


def calibrated_variance_scale(y: np.ndarray, mu: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Per parameter, the factor s on β (so on the predicted variance σ² = β / (α − 1)) with which μ ± 2σ holds
    the normal 95.45 % of new entries: of the n held-out entries' r² / 4σ² (r = y − μ, each the smallest s
    that puts its entry within 2σ), the ⌈(n + 1) 0.9545⌉-th smallest, or the largest where n is under 21.

    That rank is split-conformal calibration's: on entries exchangeable with the held-out ones, the interval
    then covers at least 95.45 % in expectation; the plain 95.45 % quantile of a small group's few dozen
    held-out entries covers less (91 % over the small orthorhombic groups). Calibrated on coverage, not on the
    NLL: the NLL-minimising s matches σ² to the residuals' spread whatever their shape, and where they are flat
    (the triclinic angles, which the first lines hardly predict, fill the reduced cell's angle range) that put
    98 % of the truths within 2σ. μ ± 2σ is the interval a user reads and what the indexer's draws from
    N(μ, σ²) span, so it is the one held to its nominal coverage.
    """
    y, mu, alpha, beta = (np.asarray(a, dtype=float) for a in (y, mu, alpha, beta))
    # β underflows to 0 for the odd entry (softplus of a large negative): no finite factor covers it, so it
    # needs inf (nan where r = 0 too), which np.sort puts last, where it counts as uncovered.
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.sort((y - mu) ** 2 / (4.0 * beta / (alpha - 1.0)), axis=0)
    n = len(needed)
    return needed[min(n, int(np.ceil((n + 1) * TWO_SIGMA_COVERAGE))) - 1]


def train_variance_network(
    x: np.ndarray, y: np.ndarray, monitor: tuple[np.ndarray, np.ndarray], config: VarianceConfig, seed: int, cycles: int,
    initial: dict[str, np.ndarray] | None = None, selection: tuple[np.ndarray, np.ndarray] | None = None,
    device: str = "cpu", report: Report | None = None, task: str = "",
) -> tuple[dict[str, np.ndarray], list[dict], dict]:
    """Cyclic training: μ with β-NLL (α, β fixed), then α and β with the NLL (μ fixed), ``cycles`` times.

    ``initial``: weights to start from (a pretrained network) instead of a random initialisation.
    ``monitor``: entries whose NLL is logged after every epoch, watched and never chosen on (the
    evaluation's validation entries). ``selection``: entries held out from training; at the start and
    after every cycle the variance is calibrated on them (``calibrated_variance_scale``) and the
    weights of the cycle with the lowest calibrated NLL there are returned, the scale included.
    Without it, the last cycle's weights, uncalibrated. Longer training sharpens the means and
    makes the variances over-confident; choosing and calibrating on held-out entries keeps both.

    Returns the weights, a history of per-epoch losses (training: running mean over batches in
    training mode; monitor: NLL in evaluation mode) and the selection (cycle, scale, NLL per cycle).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = VarianceModule(x.shape[1], y.shape[1], config.mean_hidden, config.variance_hidden, config.dropout).to(device)
    if initial is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in initial.items()})
        model.variance_scale.fill_(1.0)

    def tensors(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    xt, yt = tensors(x), tensors(y)
    xm, ym = tensors(monitor[0]), tensors(monitor[1])
    mean_optimizer = torch.optim.Adam(model.mean.parameters(), lr=config.learning_rate)
    variance_optimizer = torch.optim.Adam([*model.alpha.parameters(), *model.beta.parameters()], lr=config.learning_rate)
    chosen: dict = {"cycle": cycles, "selection_nll": []}
    best: tuple[float, dict[str, np.ndarray]] | None = None

    def select(cycle: int) -> None:
        nonlocal best
        if selection is None:
            return
        model.eval()
        with torch.no_grad():
            mu, alpha, beta = (t.cpu().numpy() for t in model(tensors(selection[0])))
        scale = calibrated_variance_scale(selection[1], mu, alpha, beta)
        with torch.no_grad():
            nll = inverse_gamma_nll(tensors(selection[1]), *(tensors(a) for a in (mu, alpha, beta * scale))).item()
        chosen["selection_nll"].append(nll)
        if best is None or nll < best[0]:
            weights = state_arrays(model)
            weights["variance_scale"] = scale.astype(np.float32)
            best = (nll, weights)
            chosen.update(cycle=cycle, scale=scale.tolist())

    history, total, done = [], cycles * 2 * config.epochs_per_phase, 0
    select(0)
    for cycle in range(1, cycles + 1):
        for phase in ("mean", "variance"):
            trained = [model.mean] if phase == "mean" else [model.alpha, model.beta]
            optimizer = mean_optimizer if phase == "mean" else variance_optimizer
            for _ in range(config.epochs_per_phase):
                losses = []
                model.eval()  # the fixed networks predict without dropout
                for net in trained:
                    net.train()
                for rows in _batches(len(xt), config.batch_size, generator):
                    xb, yb = xt[rows], yt[rows]
                    if phase == "mean":
                        with torch.no_grad():
                            alpha, beta = model.variance_parameters(xb)
                        loss = beta_nll(yb, model.mean(xb), alpha, beta, config.beta_star)
                    else:
                        with torch.no_grad():
                            mu = model.mean(xb)
                        loss = inverse_gamma_nll(yb, mu, *model.variance_parameters(xb))
                    losses.append(_step(optimizer, loss))
                model.eval()
                with torch.no_grad():
                    monitored = inverse_gamma_nll(ym, *model(xm)).item() if len(xm) else float("nan")
                done += 1
                history.append({"epoch": done, "cycle": cycle, "phase": phase, **_epoch_losses(losses), "validation": monitored})
                if report:
                    report(task, done, total)
        select(cycle)
    return (best[1] if best is not None else state_arrays(model)), history, chosen


def train_assignment_network(
    data: SystemData, reference: np.ndarray, predicted: tuple[np.ndarray, np.ndarray], validation: SystemData,
    validation_predicted: tuple[np.ndarray, np.ndarray], config: AssignmentConfig, seed: int, device: str = "cpu",
    report: Report | None = None, task: str = "",
) -> tuple[AssignmentModel, list[dict]]:
    """Cross-entropy training on the entries' labels; every epoch each entry gets a candidate cell from a source
    drawn at random (its predicted cell, or its true cell with fresh noise of one of the noise levels), and the
    network is told that cell's uncertainty (the prediction's σ, or the noise level).

    ``predicted`` and ``validation_predicted`` are (cells, uncertainty) as from ``predicted_cells``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AssignmentModule(data.n_peaks, len(reference), config.hidden, config.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    # The learning rate decays to zero along a cosine over the run: the last epochs refine
    # the sharpness of the evidence term, where a constant rate keeps it jittering.
    steps = config.epochs * -(-len(data.cells) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    q2_scale = data.scaler.q2_std
    target = torch.as_tensor(labels(data.system, reference, data.cells, data.hkl), device=device)
    validation_target = torch.as_tensor(labels(data.system, reference, validation.cells, validation.hkl), device=device)
    # A fixed draw of validation cells, so the validation curve measures the network and not the noise.
    validation_rng = np.random.default_rng(seed + 1)
    validation_cells, validation_tau = candidate_cells(
        validation, validation_predicted, random_sources(validation_predicted[0], config.noise_levels, validation_rng),
        config.noise_levels, validation_rng,
    )
    validation_tau = clipped_uncertainty(validation_tau)
    validation_inputs = torch.as_tensor(
        delta_star(validation.q2, reference_q2(data.system, reference, validation_cells), q2_scale,
                   config.epsilon_per_uncertainty * validation_tau), device=device
    )
    validation_log_tau = torch.as_tensor(np.log(validation_tau), device=device)
    loss_function = torch.nn.CrossEntropyLoss()
    history = []
    for epoch in range(1, config.epochs + 1):
        cells, tau = candidate_cells(data, predicted, random_sources(predicted[0], config.noise_levels, rng), config.noise_levels, rng)
        tau = clipped_uncertainty(tau)
        model.train()
        losses = []
        for rows in _batches(len(cells), config.batch_size, generator):
            index = rows.numpy()
            inputs = delta_star(data.q2[index], reference_q2(data.system, reference, cells[index]), q2_scale,
                                config.epsilon_per_uncertainty * tau[index])
            logits = model(torch.as_tensor(inputs, device=device), torch.as_tensor(np.log(tau[index]), device=device))
            losses.append(_step(optimizer, loss_function(logits.flatten(0, 1), target[rows].flatten())))
            schedule.step()
        model.eval()
        with torch.no_grad():
            logits = model(validation_inputs, validation_log_tau) if len(validation_inputs) else None
            validation_loss = loss_function(logits.flatten(0, 1), validation_target.flatten()).item() if logits is not None else float("nan")
            accuracy = (logits.argmax(-1) == validation_target).float().mean().item() if logits is not None else float("nan")
        history.append({"epoch": epoch, **_epoch_losses(losses), "validation": validation_loss, "validation_accuracy": accuracy})
        if report:
            report(task, epoch, config.epochs)
    weights = state_arrays(model)
    return AssignmentModel(data.system, reference, config.epsilon_per_uncertainty, q2_scale, data.n_peaks, weights), history


def _seed(config: TrainingConfig, *keys: int) -> int:
    return int(np.random.SeedSequence(config.seed, spawn_key=keys).generate_state(1)[0])


def trained_groups(data: SystemData, min_entries: int, selection: np.ndarray) -> list[str]:
    """Groups with at least ``min_entries`` training entries, of which some are left to fit on once the
    ``selection`` entries (held out to choose the network) are taken: a group of one crystal and its augmented
    copies has none."""
    names, counts = np.unique(data.group[data.training].astype(str), return_counts=True)
    fitted = set(data.group[data.training & ~selection].astype(str))
    return [str(n) for n, c in zip(names, counts) if c >= min_entries and n in fitted]


def selection_mask(data: SystemData, fraction: float, seed: int) -> np.ndarray:
    """Training entries held out for choosing and calibrating the group networks: in every group, ``fraction``
    of its training crystals (at least one), each with its augmented copies, so no crystal is on both sides."""
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(data.cells), dtype=bool)
    if fraction <= 0:
        return held_out
    for group in sorted(set(data.group[data.training].astype(str))):
        members = data.training & (data.group == group)
        origins = np.unique(data.origin[members].astype(str))
        chosen = rng.choice(origins, size=max(1, round(fraction * len(origins))), replace=False)
        held_out |= members & np.isin(data.origin.astype(str), chosen)
    return held_out


def _scaled(data: SystemData, columns: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return model_inputs(data.scaler, data.q2), data.scaler.scale_cells(data.cells)[:, list(columns)]


def shortened(data: SystemData, fraction: float, seed: int) -> SystemData:
    """``data`` with ``fraction`` of its training entries' peak lists cut after a number of peaks drawn uniformly
    from ``min_peaks`` to the entry's own count; validation entries keep theirs."""
    rng = np.random.default_rng(seed)
    cut = data.counts
    chosen = np.flatnonzero(data.training & (rng.random(len(cut)) < fraction))
    cut[chosen] = rng.integers(min_peaks(data.system), cut[chosen] + 1)
    return replace(data, q2=np.where(np.arange(data.n_peaks)[None, :] < cut[:, None], data.q2, np.nan))


def train_system(data: SystemData, config: TrainingConfig, report: Report | None = None) -> tuple[SystemModels, dict]:
    """All models of one lattice system; returns them and the training log (histories and times)."""
    system_key = list(type(data.system)).index(data.system)
    natural, data = data, shortened(data, config.shortened_fraction, _seed(config, system_key, 4000))
    log: dict = {"system": data.system.value, "pretraining": {}, "regression": {}, "times_s": {}}
    start = time.perf_counter()
    selection = selection_mask(data, config.variance.selection_fraction, _seed(config, system_key, 2000))
    groups = trained_groups(data, config.min_group_entries, selection)
    fitted = data.training & ~selection
    entry_columns = [free_parameter_columns(data.system, c) for c in data.cells]
    columns_of = {group: group_columns(data.system, data.cells[data.training & (data.group == group)]) for group in groups}
    pretrained = {}
    for k, columns in enumerate(sorted(set(columns_of.values()))):
        same = np.array([c == columns for c in entry_columns], dtype=bool)
        train, val = data.subset(same & fitted), data.subset(same & ~data.training)
        task = f"{data.system.value} pretraining" + (f" {columns}" if len(set(columns_of.values())) > 1 else "")
        pretrained[columns], history, _ = train_variance_network(
            *_scaled(train, columns), _scaled(val, columns), config.variance, _seed(config, system_key, 3000 + k),
            config.variance.pretraining_cycles, device=config.device, report=report, task=task,
        )
        log["pretraining"][str(columns)] = {"training_entries": len(train.cells), "history": history}

    regression = {}
    for g, group in enumerate(groups):
        members = data.group == group
        columns = columns_of[group]
        train, held_out, val = (data.subset(members & m) for m in (fitted, selection, ~data.training))
        x, y = _scaled(train, columns)
        seed = _seed(config, system_key, g)
        network, history, chosen = train_variance_network(
            x, y, _scaled(val, columns), config.variance, seed, config.variance.cycles, initial=pretrained[columns],
            selection=_scaled(held_out, columns), device=config.device, report=report, task=f"{data.system.value} {group}",
        )
        forest = fit_forest(x, y, seed, config.forest.n_trees, config.forest.subsample, config.forest.min_samples_leaf)
        regression[group] = RegressionModel(data.system, group, columns, data.n_peaks, data.scaler, network, forest)
        log["regression"][group] = {
            "training_entries": len(train.cells), "selection_entries": len(held_out.cells),
            "validation_entries": len(val.cells), "history": history, "selection": chosen,
        }
    log["times_s"]["regression"] = time.perf_counter() - start

    start = time.perf_counter()
    full = natural.full()
    originals = ~full.augmented
    train, val = full.subset(originals & full.training), full.subset(originals & ~full.training)
    if not len(train.cells):
        raise ModelError(
            f"{data.system.value}: no training entry has the {full.n_peaks} peaks the assignment network reads; "
            "build a larger dataset or train the other lattice systems"
        )
    reference = build_reference(data.system, train.cells, _seed(config, system_key, 1000))
    assignment, history = train_assignment_network(
        train, reference, predicted_cells(train, regression), val, predicted_cells(val, regression),
        config.assignment, _seed(config, system_key, 1001), config.device, report, f"{data.system.value} assignment",
    )
    log["assignment"] = {"training_entries": len(train.cells), "validation_entries": len(val.cells), "history": history}
    log["times_s"]["assignment"] = time.perf_counter() - start
    metadata = {
        "config": asdict(config),
        "groups_without_models": sorted(set(data.group.astype(str)) - set(groups)),
        "entries": int(len(data.cells)),
        "entries_with_all_peaks": int(len(full.cells)),
        "entries_shortened": int(np.sum(data.counts < natural.counts)),
        "entries_with_too_few_peaks": data.dropped,
        "times_s": log["times_s"],
    }
    return SystemModels(data.system, data.scaler, regression, assignment, metadata), log

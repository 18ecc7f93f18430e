"""Model files: per lattice system a ``<system>.npz`` of arrays (no pickle) and a ``<system>.json`` of metadata.

Array keys: ``regression/<i>/network/<state-dict key>``, ``regression/<i>/forest/<field>``
for the i-th group listed in the JSON, ``assignment/reference`` and
``assignment/network/<state-dict key>``. Network weights are stored as float16,
half the size (the shipped models were 58 MB in float32), and computed with in
float32: rounding a weight by 2⁻¹¹ moves these layer-normalised networks' outputs
far less than their training noise (``MODEL_CARD.md`` reports the evaluation of
the stored weights). The shipped models live in
``powdex/models/shipped`` (see MODEL_CARD.md there).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.models.assignment import AssignmentModel
from powdex.models.errors import ModelError
from powdex.models.forest import Forest
from powdex.models.regression import RegressionModel
from powdex.models.scaling import Scaler

FORMAT_VERSION = 6  # 2: float16 network weights, the assignment evidence term; 3: the variance networks' calibrated variance_scale;
# 4: the assignment network's other-peak input, context and Gaussian evidence; 5: its matched-line term;
# 6: regression inputs of up to n_peaks peaks with their presence (``regression.model_inputs``)
SHIPPED = Path(__file__).parent / "shipped"


@dataclass(frozen=True)
class SystemModels:
    system: LatticeSystem
    scaler: Scaler
    regression: dict[str, RegressionModel]  # by group
    assignment: AssignmentModel
    metadata: dict = field(default_factory=dict)  # training settings and times, for the model card

    def candidates(self, q2: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Candidate cells for one peak list and their uncertainties (scaled units, what
        ``assignment.assign`` takes), ``count`` split evenly over the groups (the group is unknown)."""
        models = list(self.regression.values())
        shares = np.diff(np.linspace(0, count, len(models) + 1).astype(int))
        drawn = [m.candidates(q2, int(k), rng) for m, k in zip(models, shares) if k]
        return np.concatenate([np.zeros((0, 6))] + [c for c, _ in drawn]), np.concatenate([np.zeros(0)] + [u for _, u in drawn])


def save_system(directory: Path, models: SystemModels) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    groups = []
    for i, (name, model) in enumerate(models.regression.items()):
        groups.append({"name": name, "columns": list(model.columns)})
        arrays.update({f"regression/{i}/network/{k}": v.astype(np.float16) for k, v in model.network.items()})
        arrays.update({f"regression/{i}/forest/{k}": v for k, v in model.forest.arrays().items()})
    assignment = models.assignment
    arrays["assignment/reference"] = assignment.reference
    arrays.update({f"assignment/network/{k}": v.astype(np.float16) for k, v in assignment.weights.items()})
    broken = [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.all(np.isfinite(v))]
    if broken:
        raise ModelError(f"{models.system.value} models have non-finite weights ({', '.join(broken[:3])}…); training diverged")
    np.savez_compressed(directory / f"{models.system.value}.npz", **arrays)
    meta = {
        "format_version": FORMAT_VERSION,
        "system": models.system.value,
        "n_peaks": assignment.n_peaks,
        "scaler": asdict(models.scaler),
        "groups": groups,
        "assignment": {"epsilon_per_uncertainty": assignment.epsilon_per_uncertainty, "q2_scale": assignment.q2_scale},
        "training": models.metadata,
    }
    (directory / f"{models.system.value}.json").write_text(json.dumps(meta, indent=2))


def load_system(system: LatticeSystem | str, directory: Path = SHIPPED) -> SystemModels:
    """The models of one lattice system from ``directory``; :class:`ModelError` names a file that is missing,
    unreadable or of another format version."""
    system = LatticeSystem(system)
    meta_path, arrays_path = Path(directory) / f"{system.value}.json", Path(directory) / f"{system.value}.npz"
    for path in (meta_path, arrays_path):
        if not path.is_file():
            raise ModelError(f"{path}: model file missing (the {system.value} models are {meta_path.name} and {arrays_path.name})")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{meta_path}: cannot read model metadata ({error})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{meta_path}: model format {meta.get('format_version')} is not {FORMAT_VERSION}; retrain with this powdex")
    try:
        with np.load(arrays_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelError(f"{arrays_path}: cannot read model arrays ({error})") from None
    scaler = Scaler(**meta["scaler"])

    def under(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in arrays.items() if k.startswith(prefix)}

    regression = {
        group["name"]: RegressionModel(
            system,
            group["name"],
            tuple(group["columns"]),
            meta["n_peaks"],
            scaler,
            under(f"regression/{i}/network/"),
            Forest(**under(f"regression/{i}/forest/")),
        )
        for i, group in enumerate(meta["groups"])
    }
    a = meta["assignment"]
    assignment = AssignmentModel(
        system, arrays["assignment/reference"], a["epsilon_per_uncertainty"], a["q2_scale"], meta["n_peaks"], under("assignment/network/")
    )
    return SystemModels(system, scaler, regression, assignment, meta["training"])


def shipped_systems(directory: Path = SHIPPED) -> list[LatticeSystem]:
    return [s for s in LatticeSystem if (Path(directory) / f"{s.value}.json").exists()]

"""Scaling of peak positions and cell parameters, fitted on the training entries only; part of the models'
input contract (the models read scaled q² and give scaled cells), so it ships with every model.

* q² of the observable peaks: standard scaler over all peaks of all training entries;
* lengths a, b, c: one standard scaler over all lengths of all training entries;
* angles: radians − π/2 (right angles at zero), divided by the standard
  deviation of the angles that are not 90°.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

_RIGHT_ANGLE_TOLERANCE = 1e-6  # degrees


@dataclass(frozen=True)
class Scaler:
    q2_mean: float
    q2_std: float
    length_mean: float
    length_std: float
    angle_scale: float  # radians

    @classmethod
    def fit(cls, cells: np.ndarray, q2_lists: list[np.ndarray]) -> Scaler:
        """From training cells (n, 6) in degrees and their observable q² lists."""
        cells = np.asarray(cells, dtype=float).reshape(-1, 6)
        q2 = np.concatenate([np.asarray(q, dtype=float) for q in q2_lists])
        angles = cells[:, 3:].ravel()
        oblique = np.radians(angles[np.abs(angles - 90.0) > _RIGHT_ANGLE_TOLERANCE])
        # A system with right angles only (cubic, tetragonal, orthorhombic) keeps scale 1: all its angles scale to 0.
        angle_scale = _spread(oblique) if len(oblique) else 1.0
        lengths = cells[:, :3].ravel()
        return cls(float(q2.mean()), _spread(q2), float(lengths.mean()), _spread(lengths), angle_scale)

    def scale_q2(self, q2: np.ndarray) -> np.ndarray:
        return (np.asarray(q2) - self.q2_mean) / self.q2_std

    def unscale_q2(self, scaled: np.ndarray) -> np.ndarray:
        return np.asarray(scaled) * self.q2_std + self.q2_mean

    def scale_cells(self, cells: np.ndarray) -> np.ndarray:
        cells = np.asarray(cells, dtype=float)
        out = np.empty_like(cells)
        out[..., :3] = (cells[..., :3] - self.length_mean) / self.length_std
        out[..., 3:] = (np.radians(cells[..., 3:]) - np.pi / 2) / self.angle_scale
        return out

    def unscale_cells(self, scaled: np.ndarray) -> np.ndarray:
        scaled = np.asarray(scaled, dtype=float)
        out = np.empty_like(scaled)
        out[..., :3] = scaled[..., :3] * self.length_std + self.length_mean
        out[..., 3:] = np.degrees(scaled[..., 3:] * self.angle_scale + np.pi / 2)
        return out

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Scaler:
        return cls(**json.loads(Path(path).read_text()))


def _spread(values: np.ndarray) -> float:
    # A single training entry (rare lattice systems in small builds) has no spread; keep the unit scale.
    std = float(values.std())
    return std if std > 0 else 1.0

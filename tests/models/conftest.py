"""Small data made on the fly: primitive cubic or orthorhombic cells with some of their first lines."""

import numpy as np
import pytest

from powdex.crystal import Cell, LatticeSystem, reference_miller_indices
from powdex.models.data import SystemData
from powdex.models.regression import peaks_used
from powdex.models.scaling import Scaler


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Small networks train fastest on one thread; more threads on a loaded machine spin and run ten times slower."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def lattice_data(system: LatticeSystem, n: int, seed: int, body_centred: bool = False) -> SystemData:
    """Cells with a ≤ b ≤ c in 4–12 Å (cubic: a); each pattern keeps the peaks the models read (10 cubic, 20
    orthorhombic) from its first 3 × as many lines, at random (overlaps); body centring removes h + k + l odd."""
    rng = np.random.default_rng(seed)
    n_peaks = peaks_used(system)
    lines = reference_miller_indices(system)[:2000]
    if body_centred:
        lines = lines[lines.sum(axis=1) % 2 == 0]
    lengths = np.sort(rng.uniform(4, 12, (n, 3)), axis=1)
    if system is LatticeSystem.CUBIC:
        lengths[:, 1:] = lengths[:, :1]
    cells, q2, hkl = [], [], []
    for abc in lengths:
        cell = Cell(*abc)
        spacing = cell.q2(lines)
        order = np.argsort(spacing)
        kept = order[np.sort(rng.choice(3 * n_peaks, n_peaks, replace=False))]
        cells.append(cell.parameters)
        q2.append(spacing[kept])
        hkl.append(lines[kept])
    cells, q2 = np.array(cells), np.array(q2)
    training = np.arange(n) < int(0.8 * n)
    return SystemData(
        system, Scaler.fit(cells[training], list(q2[training])), cells, q2, np.array(hkl),
        np.full(n, "P", dtype=object), training, np.zeros(n, dtype=bool), np.arange(n).astype(str).astype(object), 0,
    )


@pytest.fixture(scope="session")
def small_orthorhombic() -> SystemData:
    return lattice_data(LatticeSystem.ORTHORHOMBIC, 600, seed=7)


@pytest.fixture(scope="session")
def body_centred_cubic() -> SystemData:
    return lattice_data(LatticeSystem.CUBIC, 1000, seed=8, body_centred=True)

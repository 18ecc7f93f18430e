"""Training / validation split made within each group, so every group is on both sides."""

from __future__ import annotations

import zlib

import numpy as np

VALIDATION_FRACTION = 0.2


def validation_mask(groups: list[str], seed: int, fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """True for validation entries: ``fraction`` of every group (rounded), chosen at random.

    Each group draws from its own stream (seed, CRC of the group name), so adding
    entries of one group never reshuffles another.
    """
    groups = np.asarray(groups)
    mask = np.zeros(len(groups), dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(group.encode()),)))
        mask[rng.permutation(members)[: int(round(fraction * len(members)))]] = True
    return mask

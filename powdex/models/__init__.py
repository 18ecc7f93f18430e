"""Learned models of the data-driven indexer: unit-cell regression from the first peaks (variance networks,
Nix & Weigend 1994, and random forests, Breiman 2001) and Miller-index assignment (a classifier network).

Runtime (numpy only): ``load_system(system)`` gives a lattice system's
``SystemModels``: ``candidates(q2, count, rng)`` draws unit cells, each with its
uncertainty, from the group variance networks and random forests, and
``assignment.assign(q2, cells, uncertainty)`` gives Miller indices per candidate. Training (``powdex.models.train``) needs
PyTorch (the ``train`` extra); ``powdex train`` and ``powdex evaluate-models``
are the commands.
"""

from powdex.models.assignment import AssignmentModel
from powdex.models.regression import RegressionModel
from powdex.models.store import SHIPPED, SystemModels, load_system, save_system, shipped_systems

__all__ = ["SHIPPED", "AssignmentModel", "RegressionModel", "SystemModels", "load_system", "save_system", "shipped_systems"]

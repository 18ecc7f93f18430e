"""powdex: powder diffraction indexing and ensemble refinement.

Layers, lowest first (a layer never imports one above it):

- ``powdex.crystal``  cells, lattice systems, forward models, Bravais lattices,
  systematic absences, reduction.
- ``powdex.peaks``    peak lists: reading, unit conversion, picking.
- ``powdex.optim``    the generic ensemble-optimization engine (knows nothing
  about crystals).
- ``powdex.indexing`` the indexing pipeline (SVD-Index, figures of merit,
  ranking).
- ``powdex.cli``      the ``powdex`` command.
"""

__version__ = "0.1.0"

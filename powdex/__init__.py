"""powdex: powder diffraction indexing and ensemble refinement.

Layers, lowest first (a layer never imports one above it):

- ``powdex.crystal``  cells, lattice systems, forward models, Bravais lattices,
  systematic absences, reduction.
- ``powdex.peaks``    peak lists: reading, unit conversion, picking.
- ``powdex.optim``    the generic ensemble-optimization engine (knows nothing
  about crystals).
- ``powdex.indexing`` the indexing pipeline (SVD-Index, figures of merit,
  ranking).
- ``powdex.refinement`` Pawley and Le Bail whole-pattern fits of a cell
  (``powdex.refine``).
- ``powdex.cli``      the ``powdex`` command.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # The public API loads on first use, so that ``import powdex`` stays fast.
    if name == "refine":
        from powdex.refinement import refine

        return refine
    raise AttributeError(f"module 'powdex' has no attribute {name!r}")

"""Synthetic patterns from a known cell and profile, with known noise: for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from powdex.crystal import Cell
from powdex.patterns import Pattern
from powdex.refinement.profile import GLOBAL_NAMES, ProfileModel, k_beta_line
from powdex.refinement.reflections import lattice_system_of, reflection_lines, resolve_space_group

CU_KALPHA = (1.540593, 1.544414)


def synthetic_pattern(cell: Cell, spacegroup: str | int, *, two_theta: np.ndarray, seed: int,
                      wavelengths: tuple[float, ...] = CU_KALPHA, ratio: float = 0.5,
                      profile: dict[str, float] | None = None, background: float = 200.0,
                      peak_area: float = 2000.0, k_beta: float = 0.0) -> tuple[Pattern, ProfileModel, np.ndarray]:
    """A pattern of ``cell`` with Poisson-like Gaussian noise σ = √y, the model
    that made it (lines up to 1° outside the pattern's range) and its true parameters.
    Line intensities are random (drawn from ``seed``) times ``peak_area``.  ``k_beta`` adds
    every line again at the Kβ wavelength of the tube whose Kα1 is ``wavelengths[0]``, with
    that fraction of its intensity (a β-filtered tube's replicas; not in the returned model)."""
    rng = np.random.default_rng(seed)
    group = resolve_space_group(spacegroup)
    system = lattice_system_of(group)
    # Kβ replicas reach lines up to λ(Kα1)/λ(Kβ) beyond the range's end.
    line = k_beta_line(wavelengths[0], "xray", k_beta, "synthetic pattern")
    shortest = line[0] if line is not None else wavelengths[0]
    q2 = (2.0 * np.sin(np.radians(np.array([two_theta[0] - 1.0, two_theta[-1] + 1.0])) / 2.0)
          / np.array([wavelengths[0], shortest])) ** 2
    lines = reflection_lines(cell, group, system, q2[0], q2[1])
    model = ProfileModel(two_theta, wavelengths, ratio, lines.design, background_terms=3)
    p = np.zeros(model.size)
    for name, value in (profile or {}).items():
        p[GLOBAL_NAMES.index(name)] = value
    p[model.cell_slice] = system.free_reciprocal_parameters(cell)
    p[model.background_slice] = [background, -0.2 * background, 0.05 * background]
    p[model.intensity_slice] = peak_area * lines.multiplicity * rng.uniform(0.1, 1.0, len(lines))
    emitting = model if line is None else ProfileModel(two_theta, wavelengths, ratio, lines.design,
                                                         background_terms=3, k_beta=line)
    clean = emitting.evaluate(p)
    sigma = np.sqrt(clean)
    observed = clean + sigma * rng.standard_normal(clean.size)
    pattern = Pattern(two_theta, observed, sigma, source=f"synthetic {group.xhm()}", wavelengths=wavelengths,
                      ratio=ratio, sigma_from_file=True)
    return pattern, model, p

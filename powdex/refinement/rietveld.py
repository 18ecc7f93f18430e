"""Rietveld (1969) refinement of one or several crystal structures against a powder pattern.

Each phase's line intensities come from its structure instead of being free
(Pawley) or partitioned (Le Bail):

    I_k = S · Σ_{h ∈ line k} |F(h)|² · exp(−2 B_ov s²) · P(h) · LP(θ_k),

with the Lorentz–polarization factor LP = (f + (1 − f) cos² 2θ) / (sin² θ cos θ),
f the fraction of the beam polarised perpendicular to the scattering plane
(½ unpolarised; after a monochromator at 2θ_m, 1 / (1 + cos² 2θ_m); an
instrument file's polarisation; neutrons: LP = 1 / (sin² θ cos θ)), X-ray form
factors with the anomalous dispersion at the main wavelength, and the
March–Dollase preferred-orientation factor P = (r² cos² α + sin² α / r)^(−3/2),
α the angle between h and the preferred direction (Dollase 1986).  Peak
positions and shapes are the whole-pattern model's (``ProfileModel``: TCH
pseudo-Voigt, FCJ asymmetry, Kα doublet, zero, displacement), shared by all
phases; one Chebyshev background.

Weight fractions: Hill & Howard (1987), W_p = S_p (ZMV)_p / Σ_i S_i (ZMV)_i;
relative unless an internal standard of known weight fraction is named, which
makes them absolute, W_p = W_std S_p (ZMV)_p / (S_std (ZMV)_std), the rest
amorphous.  R_Bragg per phase: Σ|I_obs − I_calc| / Σ I_obs with I_obs
apportioned from the observed counts by the calculated profiles (Rietveld's
"observed" intensities).  Standard uncertainties are the least-squares ones
scaled by √χ²_red, as for Pawley and Le Bail fits (``RefinementResult``).

The Jacobian is analytic for the profile (positions, widths, background) and
chains the line-intensity columns with central differences of the intensity
function, which costs structure factors only, no profile evaluation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from powdex.crystal import PARAMETER_NAMES, Cell, spacing_invariants, systematically_absent
from powdex.instrument import monochromator_polarisation
from powdex.optim import Objective
from powdex.optim.least_squares import LeastSquares
from powdex.patterns import Pattern
from powdex.refinement.errors import RefinementError
from powdex.refinement.profile import GLOBAL_NAMES, SHIFTS, ProfileModel, chebyshev_basis, k_beta_line
from powdex.refinement.reflections import lattice_system_of, reflection_lines
from powdex.refinement.result import Parameter, Statistics
from powdex.refinement.structure import (
    CrystalStructure,
    scattering_factors,
    site_structure_factors,
    structure_factors,
)

logger = logging.getLogger(__name__)

LINE_MARGIN = 1.0  # degrees 2θ beyond the pattern for which lines are kept
SITE_FIELDS = ("x", "y", "z", "occ", "B")
PHASE_FIELDS = ("scale", "B_overall", "po_ratio")
# Relative steps of the central differences of the line intensities.
_INTENSITY_STEP = 1e-6
# A parameter within this fraction of its range of a bound is held there.
_AT_BOUND = 1e-6
DEFAULT_BOUNDS = {"zero": (-1.0, 1.0), "displacement": (-1.0, 1.0), "U": (0.0, 1.0), "V": (-1.0, 1.0),
                  "W": (1e-6, 1.0), "X": (0.0, 1.0), "Y": (0.0, 1.0), "Z": (-1.0, 1.0), "S/L": (1e-4, 0.2),
                  "H/L": (1e-4, 0.2), "scale": (0.0, np.inf), "B_overall": (-2.0, 10.0), "po_ratio": (0.3, 3.0), "occ": (0.0, 1.0),
                  "B": (-1.0, 20.0)}


@dataclass(frozen=True)
class RietveldPhase:
    """A structure to refine, with the preferred direction (reciprocal hkl) of March–Dollase."""

    structure: CrystalStructure
    name: str = ""
    preferred_direction: tuple[int, int, int] = (0, 0, 1)

    @property
    def label(self) -> str:
        return self.name or self.structure.name


class PhaseModel:
    """One phase's reflections, their grouping into lines and its intensity function."""

    def __init__(self, phase: RietveldPhase, two_theta: np.ndarray, wavelengths: tuple[float, ...], ratio: float,
                 radiation: str, polarisation: float, background_terms: int,
                 k_beta: tuple[float, float] | None = None):
        self.phase, self.structure = phase, phase.structure
        group = self.structure.space_group
        self.system = lattice_system_of(group)
        self.wavelength = wavelengths[0]
        edges = np.radians(np.array([max(two_theta[0] - LINE_MARGIN, 0.5), min(two_theta[-1] + LINE_MARGIN, 179.0)]) / 2)
        # A fitted Kβ (``k_beta``) brings in the lines past the range whose replicas fall in it.
        shortest = min(wavelengths[: 2 if ratio > 0 else 1] + ((k_beta[0],) if k_beta else ()))
        q2 = (2.0 * np.sin(edges) / shortest) ** 2
        q2[0] = (2.0 * np.sin(edges[0]) / max(wavelengths[: 2 if ratio > 0 else 1])) ** 2
        # Lines for a cell up to 3 % larger: a series' cell may grow within one model.
        self.lines = reflection_lines(self.structure.cell, group, self.system, q2[0] * 0.94, q2[1] * 1.06)
        if not len(self.lines):
            raise RefinementError(f"phase {phase.label}: no reflection in {two_theta[0]:.2f}–{two_theta[-1]:.2f}° 2θ")
        hkl, _ = self.structure.cell.miller_indices_within(q2[1] * 1.07)
        invariant_of_line = {tuple(v): k for k, v in enumerate(spacing_invariants(self.system, self.lines.hkl))}
        line_of = np.array([invariant_of_line.get(tuple(v), -1) for v in spacing_invariants(self.system, hkl)])
        keep = (line_of >= 0) & ~systematically_absent(group, hkl)
        self.hkl, self.line_of = hkl[keep], line_of[keep]
        self.design = self.system.design_matrix(self.hkl)
        self.profile = ProfileModel(two_theta, wavelengths, ratio, self.lines.design, background_terms=1, k_beta=k_beta)
        self.radiation = radiation
        self.polarisation = polarisation
        self.elements = [s.element for s in self.structure.sites]
        self.n_cell = self.system.n_free
        self.n_sites = len(self.structure.sites)

    def intensities(self, x: np.ndarray, scale: float, b_overall: float, po_ratio: float, sites: np.ndarray) -> np.ndarray:
        """Line intensities at reciprocal cell ``x``; ``sites`` (n_sites, 5): x, y, z, occ, B."""
        s2, form, common = self._reflection_factors(x, b_overall, po_ratio)
        f = structure_factors(self.structure, self.hkl, s2, xyz=sites[:, :3], occupancy=sites[:, 3],
                              b_iso=sites[:, 4], form_factors=form)
        return self._line_intensities(x, scale, (f.real ** 2 + f.imag ** 2) * common)

    def site_derivatives(self, x: np.ndarray, scale: float, b_overall: float, po_ratio: float, sites: np.ndarray,
                         wanted: list[tuple[int, int, float]]) -> list[np.ndarray]:
        """∂(line intensities)/∂ sites[site, field] for each (site, field, step) in ``wanted``,
        by central differences that recompute only the moved site's part of F."""
        s2, form, common = self._reflection_factors(x, b_overall, po_ratio)
        parts = site_structure_factors(self.structure, self.hkl, s2, xyz=sites[:, :3], occupancy=sites[:, 3],
                                       b_iso=sites[:, 4], form_factors=form)
        total = parts.sum(axis=0)
        derivatives = []
        for site, column, step in wanted:
            shifted = []
            for sign in (1.0, -1.0):
                moved = sites[site].copy()
                moved[column] += sign * step
                part = site_structure_factors(self.structure, self.hkl, s2, xyz=moved[None, :3],
                                              occupancy=moved[3:4], b_iso=moved[4:5], form_factors=form[site:site + 1])[0]
                f = total - parts[site] + part
                shifted.append(self._line_intensities(x, scale, (f.real ** 2 + f.imag ** 2) * common))
            derivatives.append((shifted[0] - shifted[1]) / (2.0 * step))
        return derivatives

    def _reflection_factors(self, x: np.ndarray, b_overall: float, po_ratio: float):
        """s² per reflection, the sites' form factors there, and the overall Debye–Waller and
        March–Dollase factors."""
        s2 = np.maximum(self.design @ x, 1e-12) / 4.0
        form = scattering_factors(self.elements, s2, self.radiation,
                                  wavelength=self.wavelength if self.radiation == "xray" else None)
        return s2, form, np.exp(-2.0 * b_overall * s2) * self._march_dollase(x, po_ratio)

    def _line_intensities(self, x: np.ndarray, scale: float, weight: np.ndarray) -> np.ndarray:
        """Reflection weights summed into lines, times the scale and Lorentz–polarisation."""
        summed = np.bincount(self.line_of, weight, minlength=len(self.lines))
        line_q2 = np.maximum(self.lines.design @ x, 1e-12)
        sine = np.clip(self.wavelength * np.sqrt(line_q2) / 2.0, 1e-6, 1 - 1e-9)
        theta = np.arcsin(sine)
        lorentz = 1.0 / (sine ** 2 * np.cos(theta))
        if self.radiation == "xray":
            lorentz *= self.polarisation + (1.0 - self.polarisation) * np.cos(2 * theta) ** 2
        return scale * summed * lorentz

    def _march_dollase(self, x: np.ndarray, ratio: float) -> np.ndarray:
        if ratio == 1.0:
            return np.ones(len(self.hkl))
        gstar = np.linalg.inv(self.system.cell(x).metric_tensor)
        direction = np.array(self.phase.preferred_direction, float)
        dot = self.hkl @ gstar @ direction
        norm = np.sqrt(np.einsum("hi,ij,hj->h", self.hkl, gstar, self.hkl) * (direction @ gstar @ direction))
        cos2 = np.clip((dot / norm) ** 2, 0.0, 1.0)
        return (ratio ** 2 * cos2 + (1.0 - cos2) / ratio) ** -1.5


@dataclass
class RietveldModel:
    """The parameter vector of a Rietveld refinement and the calculated pattern.

    Names: the profile's ``GLOBAL_NAMES``, ``bkg0…``, then per phase
    ``<phase>:scale``, ``<phase>:B_overall``, ``<phase>:po_ratio``, the free
    reciprocal cell parameters ``<phase>:x0…`` and per site
    ``<phase>:<site>.x|y|z|occ|B``."""

    phases: list[PhaseModel]
    two_theta: np.ndarray
    background_terms: int
    names: list[str] = field(init=False)
    slices: list[dict] = field(init=False)

    def __post_init__(self) -> None:
        names = list(GLOBAL_NAMES) + [f"bkg{k}" for k in range(self.background_terms)]
        self.slices = []
        for phase in self.phases:
            label = phase.phase.label
            start = len(names)
            names += [f"{label}:{f}" for f in PHASE_FIELDS] + [f"{label}:x{k}" for k in range(phase.n_cell)]
            names += [f"{label}:{s.label}.{f}" for s in phase.structure.sites for f in SITE_FIELDS]
            self.slices.append({"start": start, "cell": slice(start + 3, start + 3 + phase.n_cell),
                                "sites": slice(start + 3 + phase.n_cell, len(names)), "stop": len(names)})
        self.names = names
        self.index = {name: k for k, name in enumerate(names)}
        self.background = chebyshev_basis(self.two_theta, self.background_terms)
        self.n_global = len(GLOBAL_NAMES)

    @property
    def size(self) -> int:
        return len(self.names)

    def initial(self, profile: dict[str, float], background: float, scales: list[float]) -> np.ndarray:
        p = np.zeros(self.size)
        for name, value in profile.items():
            p[self.index[name]] = value
        p[self.index["bkg0"]] = background
        for phase, where, scale in zip(self.phases, self.slices, scales):
            p[where["start"]: where["start"] + 3] = [scale, 0.0, 1.0]
            p[where["cell"]] = phase.system.free_reciprocal_parameters(phase.structure.cell)
            p[where["sites"]] = np.array([[*s.xyz, s.occupancy, s.b_iso] for s in phase.structure.sites]).ravel()
        return p

    def phase_intensities(self, p: np.ndarray, k: int) -> np.ndarray:
        phase, where = self.phases[k], self.slices[k]
        scale, b_overall, po = p[where["start"]: where["start"] + 3]
        return phase.intensities(p[where["cell"]], scale, b_overall, po, p[where["sites"]].reshape(-1, 5))

    def _profile_vector(self, p: np.ndarray, k: int, intensities: np.ndarray) -> np.ndarray:
        profile = self.phases[k].profile
        q = np.zeros(profile.size)
        q[: self.n_global] = p[: self.n_global]
        q[profile.cell_slice] = p[self.slices[k]["cell"]]
        q[profile.intensity_slice] = intensities
        return q

    def background_of(self, p: np.ndarray) -> np.ndarray:
        return self.background @ p[self.n_global: self.n_global + self.background_terms]

    def phase_patterns(self, p: np.ndarray) -> list[np.ndarray]:
        """Each phase's calculated peaks, without background."""
        return [phase.profile.evaluate(self._profile_vector(p, k, self.phase_intensities(p, k)))
                for k, phase in enumerate(self.phases)]

    def evaluate(self, p: np.ndarray) -> np.ndarray:
        return self.background_of(p) + np.sum(self.phase_patterns(p), axis=0)

    def jacobian(self, p: np.ndarray, free: np.ndarray) -> sp.csc_matrix:
        """∂(calculated)/∂p[free], points × free."""
        n = self.two_theta.size
        columns = np.zeros((n, self.size))
        in_free = np.zeros(self.size, bool)
        in_free[free] = True
        background = slice(self.n_global, self.n_global + self.background_terms)
        columns[:, background] = self.background
        for k, phase in enumerate(self.phases):
            where, profile = self.slices[k], phase.profile
            intensities = self.phase_intensities(p, k)
            q = self._profile_vector(p, k, intensities)
            wanted = np.concatenate([np.flatnonzero(in_free[: self.n_global]),
                                     profile.cell_slice.start + np.flatnonzero(in_free[where["cell"]]),
                                     np.arange(profile.intensity_slice.start, profile.intensity_slice.stop)])
            block = profile.jacobian(q, columns=wanted).toarray()
            n_geometry = wanted.size - profile.n_lines
            for column, index in zip(block[:, :n_geometry].T, wanted[:n_geometry]):
                target = index if index < self.n_global else where["cell"].start + index - profile.cell_slice.start
                columns[:, target] += column
            line_block = block[:, n_geometry:]
            site_wanted = []
            for index in np.flatnonzero(in_free[where["start"]: where["stop"]]) + where["start"]:
                step = _INTENSITY_STEP * max(abs(p[index]), 1e-3)
                if index >= where["sites"].start:
                    offset = index - where["sites"].start
                    site_wanted.append((index, (offset // len(SITE_FIELDS), offset % len(SITE_FIELDS), step)))
                    continue
                if index == where["start"] and p[index] != 0:  # intensities are proportional to the scale
                    derivative = intensities / p[index]
                else:
                    up, down = p.copy(), p.copy()
                    up[index] += step
                    down[index] -= step
                    derivative = (self.phase_intensities(up, k) - self.phase_intensities(down, k)) / (2 * step)
                columns[:, index] += line_block @ derivative
            if site_wanted:
                scale, b_overall, po = p[where["start"]: where["start"] + 3]
                derivatives = phase.site_derivatives(p[where["cell"]], scale, b_overall, po,
                                                     p[where["sites"]].reshape(-1, 5), [w for _, w in site_wanted])
                for (index, _), derivative in zip(site_wanted, derivatives):
                    columns[:, index] += line_block @ derivative
        return sp.csc_matrix(columns[:, free])


class _Residuals:
    """Weighted residuals over the free parameters (a class, so that it pickles)."""

    def __init__(self, model: RietveldModel, observed: np.ndarray, sigma: np.ndarray, p: np.ndarray,
                 free: np.ndarray, constraints: list[tuple[int, int, float]]):
        self.model, self.observed, self.weight = model, observed, 1.0 / sigma
        self.p, self.free, self.constraints = p.copy(), free, constraints

    def expand(self, u: np.ndarray) -> np.ndarray:
        p = self.p.copy()
        p[self.free] = u
        for dependent, source, ratio in self.constraints:
            p[dependent] = ratio * p[source]
        return p

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return self.weight * (self.observed - self.model.evaluate(self.expand(u)))

    def jacobian(self, u: np.ndarray) -> sp.csr_matrix:
        p = self.expand(u)
        # The free parameters' columns, and those of the dependents of free sources.
        free = set(self.free.tolist())
        needed = np.union1d(self.free, np.array([d for d, s, _ in self.constraints if s in free], int)).astype(int)
        full = np.zeros((self.observed.size, self.model.size))
        full[:, needed] = self.model.jacobian(p, needed).toarray()
        for dependent, source, ratio in self.constraints:
            full[:, source] += ratio * full[:, dependent]
        return sp.csr_matrix(-self.weight[:, None] * full[:, self.free])


@dataclass
class PhaseResult:
    name: str
    space_group: str
    cell: list[float]
    cell_esd: list[float | None]
    volume: float
    weight_fraction: float
    weight_fraction_esd: float | None
    r_bragg: float


@dataclass
class RietveldResult:
    """A Rietveld refinement: parameters with esd (None when fixed or at a bound),
    phases with weight fractions (``absolute`` when an internal standard was
    given; then ``amorphous`` is the rest), agreement factors, the pattern."""

    source: str
    parameters: list[Parameter]
    phases: list[PhaseResult]
    statistics: Statistics
    absolute: bool
    amorphous: float | None
    two_theta: np.ndarray
    observed: np.ndarray
    calculated: np.ndarray
    background: np.ndarray
    converged: bool
    message: str

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    @property
    def at_bounds(self) -> list[str]:
        return [p.name for p in self.parameters if p.at_bound]

    def to_dict(self) -> dict:
        return {"source": self.source, "parameters": [asdict(p) for p in self.parameters],
                "phases": [asdict(p) for p in self.phases], "statistics": asdict(self.statistics),
                "absolute": self.absolute, "amorphous": self.amorphous,
                "two_theta": self.two_theta.tolist(), "observed": self.observed.tolist(),
                "calculated": self.calculated.tolist(), "background": self.background.tolist(),
                "converged": self.converged, "message": self.message}

    @classmethod
    def from_dict(cls, d: dict) -> RietveldResult:
        return cls(d["source"], [Parameter(**p) for p in d["parameters"]], [PhaseResult(**p) for p in d["phases"]],
                   Statistics(**d["statistics"]), d["absolute"], d["amorphous"],
                   *(np.array(d[k], float) for k in ("two_theta", "observed", "calculated", "background")),
                   d["converged"], d["message"])


def default_bounds(model: RietveldModel, p: np.ndarray, cell_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds by parameter kind; reciprocal cell parameters within ±2·``cell_range`` (relative) of ``p``."""
    lower, upper = np.full(model.size, -np.inf), np.full(model.size, np.inf)
    for k, name in enumerate(model.names):
        kind = name.split(":")[-1].split(".")[-1]
        if kind in DEFAULT_BOUNDS:
            lower[k], upper[k] = DEFAULT_BOUNDS[kind]
    for where in model.slices:
        cell = p[where["cell"]]
        lower[where["cell"]], upper[where["cell"]] = cell * (1 - 2 * cell_range), cell * (1 + 2 * cell_range)
    return lower, upper


# What a calibrated instrument holds in a Rietveld fit (``rietveld_refine(instrument=...)``); the sample shifts it
# only starts.
INSTRUMENT_HELD = ("U", "V", "W", "Z", "S/L", "H/L", "zero")
DEFAULT_STAGES: tuple[tuple[str, ...], ...] = (
    ("background", "scale"),
    ("background", "scale", "cell", "zero"),
    ("background", "scale", "cell", "zero", "profile", "B_overall"),
)


def names_of_group(model: RietveldModel, group: str) -> list[str]:
    """The parameter names a stage group stands for; any other word is a parameter name or a
    ``*``-suffix pattern (``rutile:O1.*``).  ``coordinates`` are the site coordinates that
    the site symmetry leaves free (``CrystalStructure.free_coordinates``), ``B_iso`` every
    site's B (not with ``B_overall``, which is their common part)."""
    groups = {"background": [n for n in model.names if n.startswith("bkg")],
              "scale": [n for n in model.names if n.endswith(":scale")],
              "cell": [n for n in model.names if ":x" in n and n.split(":")[-1][1:].isdigit()],
              "coordinates": [f"{ph.phase.label}:{ph.structure.sites[k].label}.{'xyz'[axis]}"
                              for ph in model.phases for k, axis in ph.structure.free_coordinates()],
              "B_iso": [f"{ph.phase.label}:{site.label}.B" for ph in model.phases for site in ph.structure.sites],
              "profile": ["U", "V", "W", "X", "Y"], "asymmetry": ["S/L", "H/L"],
              "B_overall": [n for n in model.names if n.endswith(":B_overall")],
              "preferred_orientation": [n for n in model.names if n.endswith(":po_ratio")]}
    if group in groups:
        return groups[group]
    if group.endswith("*"):
        return [n for n in model.names if n.startswith(group[:-1])]
    if group not in model.index:
        raise RefinementError(f"parameter '{group}': not a parameter of this refinement "
                              f"(groups: {', '.join(groups)}; names such as {model.names[-1]})")
    return [group]


def rietveld_refine(pattern: Pattern, phases: list[RietveldPhase], *, stages=DEFAULT_STAGES,
                    profile: dict[str, float] | None = None, background_terms: int = 6, radiation: str | None = None,
                    monochromator_two_theta: float = 0.0, polarisation: float | None = None,
                    start: dict[str, float] | None = None,
                    bounds: dict[str, tuple[float, float]] | None = None,
                    constraints: list[tuple[str, str, float]] = (), internal_standard: tuple[str, float] | None = None,
                    cell_range: float = 0.03, max_iter: int = 60, held_out: tuple[str, ...] = (),
                    instrument=None, k_beta_ratio: float | None = None) -> RietveldResult:
    """Refine ``phases`` against ``pattern`` in ``stages`` (each a tuple of groups or
    parameter names freed, cumulatively as listed); ``start`` overrides any starting
    value by name (a neighbour's result seeds a series); ``constraints`` are
    (dependent, source, ratio): dependent = ratio · source; ``internal_standard``
    (phase name, known weight fraction) makes weight fractions absolute.
    The phases named in ``held_out`` are left out of the model: their scale fixed at zero and none of
    their parameters refined (one side of a model comparison between phase sets).
    ``polarisation``, the perpendicular-polarised fraction of an instrument
    file (``Instrument.polarisation``), replaces the one that
    ``monochromator_two_theta`` implies.

    ``instrument`` (a calibrated ``powdex.instrument.Instrument``) gives the profile, polarisation, zero
    shift and sample shifts to start from (``profile``, ``polarisation`` and ``start`` override it) and
    holds its profile (U, V, W, Z), asymmetry and zero through every stage, as ``powdex.refine`` does: the
    sample's Lorentzian X and Y and its displacement stay free where the stages free them.  ``k_beta_ratio``
    (the instrument's when None) fits every line again at the tube's Kβ (``powdex.refine``)."""
    from powdex.refinement.api import DEFAULT_PROFILE
    if not phases:
        raise RefinementError("a Rietveld refinement needs at least one phase")
    if len({p.label for p in phases}) != len(phases):
        raise RefinementError("phases need distinct names: " + ", ".join(p.label for p in phases))
    if not pattern.wavelengths:
        raise RefinementError(f"{pattern.source}: no wavelength; give one for a Rietveld refinement")
    two_theta, observed, sigma = pattern.two_theta, pattern.intensity, pattern.sigma
    radiation = radiation or pattern.radiation
    held_by_instrument: tuple[str, ...] = ()
    if instrument is not None:
        profile = dict(instrument.profile, **(profile or {}))
        polarisation = instrument.polarisation if polarisation is None else polarisation
        start = {"zero": instrument.zero, **{GLOBAL_NAMES[k]: getattr(instrument, GLOBAL_NAMES[k]) for k in SHIFTS},
                 **(start or {})}
        held_by_instrument = INSTRUMENT_HELD
        if k_beta_ratio is None:
            k_beta_ratio = instrument.k_beta_ratio
    k_beta = k_beta_line(pattern.wavelengths[0], radiation, k_beta_ratio, pattern.source)
    # Reflections are listed for the starting cell (a neighbour's, in a series): a cell that has
    # drifted far from the CIF's moves lines into and out of the pattern's range.
    phases = [_started_at(phase, start or {}) for phase in phases]
    if polarisation is None:
        polarisation = monochromator_polarisation(monochromator_two_theta)
    elif not 0.0 <= polarisation <= 1.0:
        raise RefinementError(f"polarisation {polarisation}: a fraction of the beam, in [0, 1]")
    models = [PhaseModel(phase, two_theta, tuple(pattern.wavelengths), pattern.ratio, radiation,
                         polarisation, background_terms, k_beta) for phase in phases]
    model = RietveldModel(models, two_theta, background_terms)
    p = model.initial({**DEFAULT_PROFILE, **(profile or {})}, float(np.percentile(observed, 10)), [1.0] * len(models))
    for name, value in (start or {}).items():
        if name in model.index:
            p[model.index[name]] = value
    if not start or not any(n.endswith(":scale") for n in start):
        _initial_scales(model, p, observed)
    lower, upper = default_bounds(model, p, cell_range)
    for name, (low, high) in (bounds or {}).items():
        for resolved in names_of_group(model, name):
            lower[model.index[resolved]], upper[model.index[resolved]] = low, high
    p = np.clip(p, lower, upper)
    resolved_constraints = [(model.index[d], model.index[s], float(r)) for d, s, r in constraints]
    dependents = {d for d, _, _ in resolved_constraints}
    unknown = set(held_out) - {phase.label for phase in phases}
    if unknown:
        raise RefinementError(f"held-out phase {', '.join(sorted(unknown))}: not a phase of the refinement")
    fixed = {model.index[name] for name in held_by_instrument}
    for k, phase in enumerate(phases):
        if phase.label in held_out:
            p[model.slices[k]["start"]] = 0.0
            fixed |= {index for index, name in enumerate(model.names) if name.startswith(f"{phase.label}:")}
    minimizer = LeastSquares(max_iter=max_iter, ftol=1e-7)
    free = np.empty(0, int)
    message, success = "no stage", True
    released: list[str] = []
    for stage in stages:
        released += [n for group in stage for n in names_of_group(model, group)]
        free = np.array(sorted({model.index[n] for n in released} - dependents - fixed), int)
        residuals = _Residuals(model, observed, sigma, p, free, resolved_constraints)
        objective = Objective.least_squares(residuals, free.size, jacobian=residuals.jacobian,
                                            bounds=list(zip(lower[free], upper[free])), name="Rietveld")
        outcome = minimizer.minimize(objective, p[free])
        if outcome.admissible:
            p = residuals.expand(outcome.x)
        message, success = outcome.message, bool(outcome.success)
        logger.debug("stage %s: %d free, chi2 %.6g (%s)", stage, free.size, outcome.value, message)
    return _result(pattern, model, p, free, lower, upper, resolved_constraints, internal_standard, success, message)


def _started_at(phase: RietveldPhase, start: dict[str, float]) -> RietveldPhase:
    system = lattice_system_of(phase.structure.space_group)
    names = [f"{phase.label}:x{k}" for k in range(system.n_free)]
    if not all(name in start for name in names):
        return phase
    cell = system.cell(np.array([start[name] for name in names]))
    return replace(phase, structure=replace(phase.structure, cell=cell))


def _initial_scales(model: RietveldModel, p: np.ndarray, observed: np.ndarray) -> None:
    """Scales that put each phase's calculated area at an equal share of the area above background."""
    net = max(float(np.sum(observed - model.background_of(p))), 1.0)
    for k, pattern in enumerate(model.phase_patterns(p)):
        area = float(pattern.sum())
        if area > 0:
            p[model.slices[k]["start"]] *= net / len(model.phases) / area


def _result(pattern, model: RietveldModel, p, free, lower, upper, constraints, internal_standard, success, message):
    observed, sigma = pattern.intensity, pattern.sigma
    calculated = model.evaluate(p)
    weight = 1.0 / sigma ** 2
    chi2 = float(np.sum(weight * (observed - calculated) ** 2))
    span = np.maximum(upper - lower, 1e-300)
    held = ((p - lower) <= _AT_BOUND * np.where(np.isfinite(span), span, np.abs(p) + 1)) | \
           ((upper - p) <= _AT_BOUND * np.where(np.isfinite(span), span, np.abs(p) + 1))
    varied = np.array([k for k in free if not held[k]], int)
    if varied.size:
        # A parameter the pattern does not depend on (the cell of a phase whose scale is zero) has no esd.
        jacobian = _Residuals(model, observed, sigma, p, varied, constraints).jacobian(p[varied]).toarray()
        informed = np.abs(jacobian).max(axis=0) > 0
        varied, jacobian = varied[informed], jacobian[:, informed]
    n_points = observed.size
    dof = max(n_points - varied.size, 1)
    covariance = np.zeros((model.size, model.size))
    if varied.size:
        try:
            inverse = np.linalg.inv(jacobian.T @ jacobian)
        except np.linalg.LinAlgError:
            inverse = np.linalg.pinv(jacobian.T @ jacobian)
        covariance[np.ix_(varied, varied)] = inverse * chi2 / dof
    esd = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    free_set, varied_set = set(free.tolist()), set(varied.tolist())
    parameters = [Parameter(name, float(p[k]), float(esd[k]) if k in varied_set else None, k in free_set,
                            bool(k in free_set and held[k])) for k, name in enumerate(model.names)]
    sum_wy2 = float(np.sum(weight * observed ** 2))
    rwp, rexp = math.sqrt(chi2 / sum_wy2), math.sqrt(dof / sum_wy2)
    statistics = Statistics(rwp, float(np.sum(np.abs(observed - calculated)) / np.sum(np.abs(observed))), rexp,
                            rwp / rexp, chi2 / dof, n_points, int(varied.size))
    fractions, gradients, absolute, amorphous = _weight_fractions(model, p, internal_standard)
    r_bragg = _r_bragg(model, p, observed)
    phases = []
    for k, phase in enumerate(model.phases):
        where = model.slices[k]
        x = p[where["cell"]]
        cell = phase.system.lattice_parameters(x)
        cell_jacobian = _numeric_jacobian(phase.system.lattice_parameters, x)
        block = covariance[where["cell"], where["cell"]]
        cell_var = np.einsum("ij,jk,ik->i", cell_jacobian, block, cell_jacobian)
        cell_free = set(range(where["cell"].start, where["cell"].stop)) <= varied_set
        volume = phase.system.cell(x).volume
        fraction_var = float(gradients[k] @ covariance @ gradients[k])
        # A scale held at its bound has no esd, so neither has its phase's fraction: the covariance would
        # give it a spuriously small one from the other phases' scales alone.
        scale_held = where["start"] in free_set and bool(held[where["start"]])
        phases.append(PhaseResult(phase.phase.label, phase.structure.space_group.xhm(), cell.tolist(),
                                  [math.sqrt(max(v, 0.0)) if cell_free else None for v in cell_var], float(volume),
                                  float(fractions[k]), math.sqrt(fraction_var) if varied.size and not scale_held else None,
                                  float(r_bragg[k])))
    return RietveldResult(pattern.source, parameters, phases, statistics, absolute, amorphous,
                          pattern.two_theta.copy(), observed.copy(), calculated, model.background_of(p), success,
                          message)


def _numeric_jacobian(fn, x: np.ndarray) -> np.ndarray:
    columns = []
    for i in range(x.size):
        step = 1e-7 * max(abs(x[i]), 1e-6)
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        columns.append((np.asarray(fn(up)) - np.asarray(fn(down))) / (2 * step))
    return np.column_stack(columns)


def _weight_fractions(model: RietveldModel, p: np.ndarray, internal_standard):
    """Hill & Howard (1987) fractions, their gradients with respect to p, whether absolute, amorphous."""
    def fractions(q: np.ndarray) -> np.ndarray:
        zmv = np.array([q[w["start"]] * ph.structure.cell_mass(q[w["sites"]].reshape(-1, 5)[:, 3])
                        * ph.system.cell(q[w["cell"]]).volume for ph, w in zip(model.phases, model.slices)])
        if internal_standard is None:
            # Every scale at zero (no phase found): the fractions are undefined, NaN.
            with np.errstate(invalid="ignore", divide="ignore"):
                return zmv / zmv.sum()
        name, known = internal_standard
        labels = [ph.phase.label for ph in model.phases]
        if name not in labels:
            raise RefinementError(f"internal standard '{name}': not a phase ({', '.join(labels)})")
        return known * zmv / zmv[labels.index(name)]
    value = fractions(p)
    gradients = np.zeros((len(model.phases), model.size))
    for where in model.slices:
        for index in [where["start"], *range(where["cell"].start, where["cell"].stop)]:
            step = 1e-6 * max(abs(p[index]), 1e-9)
            up, down = p.copy(), p.copy()
            up[index] += step
            down[index] -= step
            gradients[:, index] = (fractions(up) - fractions(down)) / (2 * step)
    amorphous = None if internal_standard is None else float(1.0 - value.sum())
    return value, gradients, internal_standard is not None, amorphous


def _r_bragg(model: RietveldModel, p: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """R_Bragg of each phase, with observed intensities apportioned by all phases' profiles."""
    net = observed - model.background_of(p)
    parts = []
    for k, phase in enumerate(model.phases):
        intensities = model.phase_intensities(p, k)
        windows, unit = phase.profile.peak_profiles(model._profile_vector(p, k, intensities))
        parts.append((windows, unit, intensities))
    total = np.zeros(observed.size)
    for (windows, unit, intensities), phase in zip(parts, model.phases):
        total += np.bincount(windows.point, unit * intensities[phase.profile.line_of[windows.component]],
                             minlength=observed.size)
    ratio = np.where(total > 1e-12 * max(total.max(initial=0.0), 1e-300), net / np.where(total > 0, total, 1), 0.0)
    values = []
    for (windows, unit, intensities), phase in zip(parts, model.phases):
        line = phase.profile.line_of[windows.component]
        contribution = unit * intensities[line]
        observed_lines = np.bincount(line, contribution * ratio[windows.point], minlength=len(intensities))
        calculated_lines = np.bincount(line, contribution, minlength=len(intensities))
        covered = calculated_lines > 0
        values.append(float(np.sum(np.abs(observed_lines - calculated_lines)[covered])
                            / max(np.sum(np.abs(observed_lines[covered])), 1e-300)))
    return np.array(values)


__all__ = ["RietveldModel", "RietveldPhase", "RietveldResult", "rietveld_refine"]


def simulate_pattern(phases: list[RietveldPhase], two_theta: np.ndarray, *, seed: int, values: dict[str, float],
                     wavelengths: tuple[float, ...] = (1.540593, 1.544414), ratio: float = 0.5,
                     background_terms: int = 3, radiation: str = "xray", source: str = "synthetic",
                     k_beta: float = 0.0) -> Pattern:
    """A pattern of ``phases`` with Gaussian noise σ = √y drawn from ``seed``: every
    parameter at its structure's or ``DEFAULT_PROFILE`` value unless named in
    ``values`` (by ``RietveldModel`` name; ``<phase>:a`` … ``<phase>:gamma`` set the
    phase's cell); ``k_beta`` adds every line at the tube's Kβ with that fraction of its
    intensity; for tests and benchmarks with a known truth."""
    from powdex.refinement.api import DEFAULT_PROFILE
    cells = {}
    for phase in phases:
        given = {k.split(":")[1]: v for k, v in values.items() if k.startswith(phase.label + ":")
                 and k.split(":")[1] in PARAMETER_NAMES}
        if given:
            parameters = phase.structure.cell.parameters.copy()
            for name, value in given.items():
                parameters[PARAMETER_NAMES.index(name)] = value
            cells[phase.label] = parameters
    phases = [RietveldPhase(p.structure if p.label not in cells else
                            _with_cell(p.structure, cells[p.label]), p.name, p.preferred_direction) for p in phases]
    line = k_beta_line(wavelengths[0], radiation, k_beta, source)
    models = [PhaseModel(phase, two_theta, wavelengths, ratio, radiation, 0.5, background_terms, line)
              for phase in phases]
    model = RietveldModel(models, two_theta, background_terms)
    p = model.initial(DEFAULT_PROFILE, 0.0, [1.0] * len(models))
    for name, value in values.items():
        if name in model.index:
            p[model.index[name]] = value
    clean = model.evaluate(p)
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(np.maximum(clean, 1.0))
    return Pattern(two_theta, clean + sigma * rng.standard_normal(clean.size), sigma, source=source,
                   wavelengths=wavelengths, ratio=ratio, sigma_from_file=True)


def _with_cell(structure: CrystalStructure, parameters: np.ndarray) -> CrystalStructure:
    cell = Cell.from_parameters(parameters)
    if not lattice_system_of(structure.space_group).is_compatible(cell):
        raise RefinementError(f"cell {cell} does not fit {structure.space_group.xhm()}: give every length and "
                              "angle its metric ties (a and b of a tetragonal cell)")
    return replace(structure, cell=cell)

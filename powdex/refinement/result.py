"""The outcome of a whole-pattern refinement, and its JSON, CIF and plot files."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from powdex.crystal import PARAMETER_NAMES, Cell
from powdex.refinement.errors import RefinementError

SCHEMA_VERSION = 1
LEAST_SQUARES_CONVENTION = "least-squares s.u. scaled by sqrt(reduced chi2)"


@dataclass(frozen=True)
class Parameter:
    """A model parameter: ``esd`` is its standard uncertainty (None when not
    refined or held at a bound: ``at_bound`` flags the latter)."""

    name: str
    value: float
    esd: float | None
    refined: bool
    at_bound: bool = False


@dataclass(frozen=True)
class Statistics:
    """Agreement factors over the fitted points (weights w = 1/σ²):
    Rwp = √(Σw(y−y_c)² / Σwy²), Rp = Σ|y−y_c| / Σ|y|, Rexp = √((N−P) / Σwy²),
    GoF = Rwp / Rexp, reduced χ² = Σw(y−y_c)² / (N−P), P counting every
    refined parameter and, for Le Bail, every partitioned intensity."""

    rwp: float
    rp: float
    rexp: float
    gof: float
    reduced_chi2: float
    points: int
    parameters: int

    def information_criterion(self, chi2_scale: float = 1.0) -> float:
        """Schwarz's (1978) Bayesian information criterion, χ² / ``chi2_scale`` + P ln N over the N fitted points
        and the P parameters counted above: a parameter (a line's intensity, a phase) must lower χ² by more than
        ln N to pay for itself.  ``chi2_scale`` > 1 is the quasi-likelihood scaling of a systematic misfit
        (Burnham and Anderson 2002)."""
        chi2 = self.reduced_chi2 * max(self.points - self.parameters, 1)
        return chi2 / chi2_scale + self.parameters * math.log(self.points)


@dataclass
class RefinementResult:
    """A Pawley or Le Bail refinement.

    Standard uncertainties are the least-squares ones, the square roots of the
    diagonal of (JᵀWJ)⁻¹ · χ²_red over the refined parameters not held at a
    bound (the usual convention of GSAS-II and TOPAS, which assumes independent
    residuals), times ``esd_factor``: 1, or with the Bérar–Lelann (1991)
    correction for serially correlated residuals asked for, √((4 − d)/d) from
    the Durbin–Watson statistic d of the weighted residuals (``durbin_watson``;
    the lag-one correlation ρ = 1 − d/2 inflates variances by (1 + ρ)/(1 − ρ)),
    never below 1.  ``esd_convention`` says which, in words, and goes into every
    output.  Cell esds are propagated from those of the
    reciprocal cell parameters the fit refines.  ``starts`` holds the final χ²
    of every start of the ensemble and ``starts_at_best`` how many ended within
    0.1 % of the best.  ``diverged`` marks a fit whose χ² rose (or became
    infinite, or passed Rwp 100 %) on the way: it ends at its state of lowest χ²,
    ``converged`` is False and ``message`` says what happened; such a fit is no
    evidence for its cell.  ``k_beta`` is the tube's Kβ line the fit held with
    every line (wavelength, ratio to Kα1), None where it fitted none.
    """

    method: str
    space_group: str
    lattice_system: str
    source: str
    wavelengths: tuple[float, ...]
    ratio: float
    radiation: str
    cell: Cell
    cell_esd: dict[str, float | None]
    parameters: list[Parameter]
    statistics: Statistics
    hkl: np.ndarray
    multiplicity: np.ndarray
    line_two_theta: np.ndarray
    line_intensity: np.ndarray
    line_intensity_esd: np.ndarray
    two_theta: np.ndarray
    observed: np.ndarray
    calculated: np.ndarray
    background: np.ndarray
    sigma: np.ndarray
    starts: list[float]
    starts_at_best: int
    converged: bool
    message: str
    schema_version: int = SCHEMA_VERSION
    notes: tuple[str, ...] = field(default_factory=tuple)
    durbin_watson: float | None = None
    esd_factor: float = 1.0
    esd_convention: str = LEAST_SQUARES_CONVENTION
    diverged: bool = False
    k_beta: tuple[float, float] | None = None

    def parameter(self, name: str) -> Parameter:
        return next(p for p in self.parameters if p.name == name)

    @property
    def at_bounds(self) -> list[str]:
        return [p.name for p in self.parameters if p.at_bound]

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version, "method": self.method, "space_group": self.space_group,
            "lattice_system": self.lattice_system, "source": self.source, "wavelengths": list(self.wavelengths),
            "ratio": self.ratio, "radiation": self.radiation,
            "cell": dict(zip(PARAMETER_NAMES, self.cell.parameters.tolist())), "volume": self.cell.volume,
            "cell_esd": self.cell_esd,
            "parameters": [asdict(p) for p in self.parameters],
            "statistics": asdict(self.statistics),
            "reflections": {
                "hkl": self.hkl.tolist(), "multiplicity": self.multiplicity.tolist(),
                "two_theta": _finite(self.line_two_theta), "intensity": _finite(self.line_intensity),
                "intensity_esd": _finite(self.line_intensity_esd),
            },
            "pattern": {name: _finite(getattr(self, name))
                        for name in ("two_theta", "observed", "calculated", "background", "sigma")},
            "starts": _finite(np.array(self.starts)), "starts_at_best": self.starts_at_best,
            "converged": self.converged, "diverged": self.diverged, "message": self.message, "notes": list(self.notes),
            "durbin_watson": self.durbin_watson, "esd_factor": self.esd_factor, "esd_convention": self.esd_convention,
            "k_beta": list(self.k_beta) if self.k_beta is not None else None,
        }

    @classmethod
    def from_dict(cls, document: dict) -> RefinementResult:
        version = document.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RefinementError(f"refinement result: schema version {version}, this powdex reads {SCHEMA_VERSION}")
        reflections, pattern = document["reflections"], document["pattern"]

        def array(values, dtype=float):
            return np.array([np.nan if v is None else v for v in values], dtype=dtype)

        return cls(
            method=document["method"], space_group=document["space_group"],
            lattice_system=document["lattice_system"], source=document["source"],
            wavelengths=tuple(document["wavelengths"]), ratio=document["ratio"], radiation=document["radiation"],
            cell=Cell(**document["cell"]), cell_esd=document["cell_esd"],
            parameters=[Parameter(**p) for p in document["parameters"]],
            statistics=Statistics(**document["statistics"]),
            hkl=np.array(reflections["hkl"], dtype=int).reshape(-1, 3),
            multiplicity=np.array(reflections["multiplicity"], dtype=int),
            line_two_theta=array(reflections["two_theta"]), line_intensity=array(reflections["intensity"]),
            line_intensity_esd=array(reflections["intensity_esd"]),
            **{name: array(pattern[name]) for name in ("two_theta", "observed", "calculated", "background", "sigma")},
            starts=array(document["starts"]).tolist(), starts_at_best=document["starts_at_best"],
            converged=document["converged"], diverged=document.get("diverged", False), message=document["message"], notes=tuple(document["notes"]),
            schema_version=version, durbin_watson=document.get("durbin_watson"),
            esd_factor=document.get("esd_factor", 1.0),
            esd_convention=document.get("esd_convention", LEAST_SQUARES_CONVENTION),
            k_beta=tuple(document["k_beta"]) if document.get("k_beta") else None,
        )

    @classmethod
    def load(cls, path: str | Path) -> RefinementResult:
        """A refinement written by ``save`` (its ``.json``)."""
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RefinementError(f"{path}: cannot read a refinement ({error})") from None
        if not cls.is_refinement(document):
            raise RefinementError(f"{path}: not a powdex refinement (no statistics, reflections and pattern)")
        try:
            return cls.from_dict(document)
        except (KeyError, TypeError, ValueError) as error:
            raise RefinementError(f"{path}: damaged refinement ({type(error).__name__}: {error})") from None

    @staticmethod
    def is_refinement(document) -> bool:
        """Whether a JSON ``document`` is a refinement (not, say, an index result)."""
        return isinstance(document, dict) and {"statistics", "reflections", "pattern"} <= document.keys()

    def to_cif(self) -> str:
        """A CIF block of the refined cell with its esds and the agreement factors."""
        def value(name: str) -> str:
            v, e = getattr(self.cell, name), self.cell_esd.get(name)
            return _with_esd(v, e)

        stats = self.statistics
        lines = [
            "data_powdex_refinement",
            f"_symmetry_space_group_name_H-M '{self.space_group}'",
            f"_space_group_crystal_system {self.lattice_system}",
            *(f"_cell_{cif}  {value(name)}" for cif, name in (
                ("length_a", "a"), ("length_b", "b"), ("length_c", "c"),
                ("angle_alpha", "alpha"), ("angle_beta", "beta"), ("angle_gamma", "gamma"))),
            f"_cell_volume  {self.cell.volume:.4f}",
            f"_diffrn_radiation_type {'neutron' if self.radiation == 'neutron' else 'X-ray'}",
            f"_diffrn_radiation_wavelength {self.wavelengths[0]:.6f}",
            f"_pd_proc_ls_prof_wR_factor {stats.rwp:.5f}",
            f"_pd_proc_ls_prof_R_factor {stats.rp:.5f}",
            f"_pd_proc_ls_prof_wR_expected {stats.rexp:.5f}",
            f"_refine_ls_goodness_of_fit_all {stats.gof:.4f}",
            f"_refine_ls_number_parameters {stats.parameters}",
            f"_refine_special_details 'standard uncertainties: {self.esd_convention}'",
            f"_pd_proc_number_of_points {stats.points}",
            f"_computing_structure_refinement 'powdex ({self.method.capitalize()} fit)'",
        ]
        return "\n".join(lines) + "\n"

    def save(self, directory: str | Path, stem: str = "refinement", plot: bool = True) -> dict[str, Path]:
        """Write ``stem``.json, ``stem``.cif and (with ``plot``) ``stem``.png into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"json": directory / f"{stem}.json", "cif": directory / f"{stem}.cif"}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        paths["cif"].write_text(self.to_cif())
        if plot:
            from powdex.refinement.plot import plot_refinement

            paths["png"] = plot_refinement(self, directory / f"{stem}.png")
        return paths


def durbin_watson(weighted_residuals: np.ndarray) -> float:
    """The Durbin–Watson (1950) statistic d = Σ(r_i − r_(i−1))² / Σr_i² of residuals
    in pattern order: 2 for independent ones, towards 0 as neighbours correlate."""
    r = np.asarray(weighted_residuals, dtype=float)
    total = float(r @ r)
    return float(np.sum(np.diff(r) ** 2) / total) if total > 0 else 2.0


def berar_lelann_factor(d: float) -> float:
    """Bérar and Lelann's (1991) factor for the standard uncertainties of a fit whose
    residuals are serially correlated: with the lag-one correlation ρ = 1 − d/2 of
    Durbin–Watson ``d``, a residual series correlated as an AR(1) process inflates
    the variances by (1 + ρ)/(1 − ρ), so the s.u. by √((4 − d)/d).  Residuals
    anticorrelated (d > 2) are not taken to make the s.u. smaller: at least 1."""
    if not d > 0:
        return math.inf
    return max(1.0, math.sqrt(max(4.0 - d, 0.0) / d))


def _finite(values: np.ndarray) -> list:
    """JSON has no NaN: a value that is not finite is written as null."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float).ravel()]


def _with_esd(value: float, esd: float | None) -> str:
    """CIF's value(esd) notation, the esd to two significant digits at most."""
    if esd is None or not math.isfinite(esd) or esd <= 0:
        return f"{value:.5f}"
    decimals = max(0, 1 - math.floor(math.log10(esd)))
    digits = round(esd * 10 ** decimals)
    if digits >= 20 and decimals > 0:
        decimals -= 1
        digits = round(esd * 10 ** decimals)
    return f"{value:.{decimals}f}({digits})"

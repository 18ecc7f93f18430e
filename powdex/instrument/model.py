"""The instrument: what a diffractometer adds to every pattern it measures.

Units follow the Thompson–Cox–Hastings (1987) pseudo-Voigt of
``powdex.refinement.profile``: Γ_G² = U tan²θ + V tanθ + W (deg², the
Gaussian FWHM squared), Γ_L = X tanθ + Y / cosθ + Z (deg, the Lorentzian FWHM;
Z is GSAS-II's constant Lorentzian term, 0 in FullProf's and GSAS's profiles);
S/L and H/L are the Finger–Cox–Jephcoat (1994) axial-divergence ratios.
Peak shifts are in degrees 2θ (see ``powdex.instrument.corrections``):
Bragg–Brentano ``zero + displacement·cosθ + transparency·sin2θ``,
Debye–Scherrer ``zero + x_displacement·cos2θ + y_displacement·sin2θ``.
``polarisation`` is the fraction of the beam polarised perpendicular to the
scattering plane (0.5 unpolarised, about 0.95 at a synchrotron; a
monochromator's Bragg angle gives it through ``monochromator_polarisation``).
``k_beta_ratio`` is the integrated intensity of the tube's Kβ replica of a
line relative to the line's Kα1 (a β filter leaves about 0.5–2 %), as
``powdex.calibrate`` measures it on a standard; 0 where no Kβ reaches the
detector (a monochromator), None where it was not measured.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from powdex.files import write_atomically
from powdex.instrument.errors import InstrumentFileError

Geometry = Literal["bragg-brentano", "debye-scherrer"]
GEOMETRIES = ("bragg-brentano", "debye-scherrer")
Slit = Literal["fixed", "variable"]
# A key added later with a default that means what a file without it meant (Z = 0: no constant Lorentzian
# term; no k_beta_ratio: not measured) keeps the version: ``from_toml`` takes a missing key at its default, and
# ``to_toml`` leaves out a value that is None (TOML has no null).
FORMAT_VERSION = 1
PROFILE_NAMES = ("U", "V", "W", "X", "Y", "Z", "S/L", "H/L")
# Thompson–Cox–Hastings (1987): the pseudo-Voigt's FWHM Γ from its Gaussian and Lorentzian parts,
# Γ⁵ = Σ c_k Γ_G^(5−k) Γ_L^k.
TCH_FWHM_COEFFICIENTS = (1.0, 2.69269, 2.42843, 4.47163, 0.07842, 1.0)
# and its Lorentzian fraction η = Σ c_k q^(k+1), q = Γ_L / Γ.
TCH_ETA_COEFFICIENTS = (1.36603, -0.47719, 0.11116)


def tch_fwhm(gaussian, lorentzian):
    """Γ of a pseudo-Voigt from the FWHM of its Gaussian and Lorentzian parts (Thompson–Cox–Hastings 1987)."""
    import numpy as np

    g, l_ = np.asarray(gaussian, dtype=float), np.asarray(lorentzian, dtype=float)
    return sum(c * g ** (5 - k) * l_ ** k for k, c in enumerate(TCH_FWHM_COEFFICIENTS)) ** 0.2


def monochromator_polarisation(two_theta_monochromator: float) -> float:
    """The perpendicular-polarised fraction after a monochromator crystal
    reflecting at ``two_theta_monochromator`` degrees (0: none, fraction ½):
    1 / (1 + cos²2θ_M), so that P(2θ) = (1 + cos²2θ_M cos²2θ) / (1 + cos²2θ_M)."""
    c2 = math.cos(math.radians(two_theta_monochromator)) ** 2
    return 1.0 / (1.0 + c2)


@dataclass(frozen=True)
class Instrument:
    """A constant-wavelength powder diffractometer (see the module's units)."""

    wavelengths: tuple[float, ...]
    ratio: float = 0.0
    radiation: Literal["xray", "neutron"] = "xray"
    geometry: Geometry = "bragg-brentano"
    zero: float = 0.0
    displacement: float = 0.0
    transparency: float = 0.0
    x_displacement: float = 0.0
    y_displacement: float = 0.0
    mu_r: float = 0.0
    polarisation: float = 0.5
    divergence_slit: Slit = "fixed"
    U: float = 0.0
    V: float = 0.0
    W: float = 0.0
    X: float = 0.0
    Y: float = 0.0
    Z: float = 0.0
    S_L: float = 0.0
    H_L: float = 0.0
    k_beta_ratio: float | None = None
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        where = self.source or "instrument"
        if not self.wavelengths or any(not (0.0 < w < 100.0) for w in self.wavelengths):
            raise InstrumentFileError(f"{where}: implausible wavelengths {self.wavelengths} Å")
        if not 0.0 <= self.ratio <= 1.0 or (self.ratio > 0 and len(self.wavelengths) < 2):
            raise InstrumentFileError(f"{where}: Kα2/Kα1 ratio {self.ratio} needs two wavelengths and must lie in [0, 1]")
        if self.geometry not in GEOMETRIES:
            raise InstrumentFileError(f"{where}: geometry {self.geometry!r} is not one of {', '.join(GEOMETRIES)}")
        if self.divergence_slit not in ("fixed", "variable"):
            raise InstrumentFileError(f"{where}: divergence slit {self.divergence_slit!r} is neither fixed nor variable")
        if not 0.0 <= self.polarisation <= 1.0:
            raise InstrumentFileError(f"{where}: polarisation fraction {self.polarisation} outside [0, 1]")
        if self.k_beta_ratio is not None and not 0.0 <= self.k_beta_ratio <= 1.0:
            raise InstrumentFileError(f"{where}: Kβ/Kα1 ratio {self.k_beta_ratio} outside [0, 1]")
        if self.radiation not in ("xray", "neutron"):
            raise InstrumentFileError(f"{where}: radiation {self.radiation!r} is neither xray nor neutron")
        object.__setattr__(self, "wavelengths", tuple(float(w) for w in self.wavelengths))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def profile(self) -> dict[str, float]:
        """U, V, W, X, Y, Z, S/L, H/L as ``powdex.refine``'s ``profile`` takes them."""
        return {"U": self.U, "V": self.V, "W": self.W, "X": self.X, "Y": self.Y, "Z": self.Z, "S/L": self.S_L,
                "H/L": self.H_L}

    def gaussian_fwhm(self, two_theta):
        """Γ_G (deg) at ``two_theta`` (deg): √(U tan²θ + V tanθ + W), 0 where that is negative."""
        import numpy as np

        t = np.tan(np.radians(np.asarray(two_theta, dtype=float)) / 2)
        return np.sqrt(np.clip(self.U * t * t + self.V * t + self.W, 0.0, None))

    def lorentzian_fwhm(self, two_theta):
        """Γ_L (deg) at ``two_theta`` (deg): X tanθ + Y / cosθ + Z, 0 where that is negative.  A fit of a
        real standard can leave a term negative where another makes up for it over the fitted range (Xerus'
        MiniFlex calibration: GSAS-II's X, powdex's Y, at −0.042° against Z = +0.064°), and the sum then
        falls below zero beyond that range (above 97° 2θ there); a width cannot be negative, and the
        pseudo-Voigt is then the Gaussian alone."""
        import numpy as np

        theta = np.radians(np.asarray(two_theta, dtype=float)) / 2
        return np.clip(self.X * np.tan(theta) + self.Y / np.cos(theta) + self.Z, 0.0, None)

    def fwhm(self, two_theta):
        """The instrument's whole FWHM (deg) at ``two_theta``: its Gaussian and Lorentzian parts mixed
        by ``tch_fwhm`` (axial-divergence asymmetry left out)."""
        return tch_fwhm(self.gaussian_fwhm(two_theta), self.lorentzian_fwhm(two_theta))

    def with_values(self, **changes) -> Instrument:
        return replace(self, **changes)

    # instrument.toml -------------------------------------------------------------------------

    def to_toml(self) -> str:
        values = asdict(self)
        lines = ["# powdex instrument file", f"version = {FORMAT_VERSION}"]
        for name, value in values.items():
            if value is not None:
                lines.append(f"{name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        """Write ``instrument.toml`` (whole or not at all)."""
        write_atomically(Path(path), self.to_toml())

    @classmethod
    def from_toml(cls, text: str, source: str = "instrument.toml") -> Instrument:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InstrumentFileError(f"{source}: not TOML ({error})") from None
        version = data.pop("version", None)
        if version != FORMAT_VERSION:
            raise InstrumentFileError(f"{source}: instrument file version {version!r}; this powdex reads version "
                                      f"{FORMAT_VERSION}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InstrumentFileError(f"{source}: unknown keys {', '.join(unknown)}")
        data["wavelengths"] = tuple(data.get("wavelengths", ()))
        data["notes"] = tuple(data.get("notes", ()))
        data.setdefault("source", source)
        try:
            return cls(**data)
        except TypeError as error:
            raise InstrumentFileError(f"{source}: {error}") from None

    @classmethod
    def load(cls, path: str | Path) -> Instrument:
        """Read an instrument file: ``instrument.toml`` or any format of
        ``powdex.instrument.formats`` (chosen by the file's suffix)."""
        from powdex.instrument.formats import read_instrument

        return read_instrument(path)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")

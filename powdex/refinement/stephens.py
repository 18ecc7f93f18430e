"""Anisotropic microstrain broadening: Stephens (1999), J. Appl. Cryst. 32, 281.

Strain spreads each reflection's M = 1/d² = q²; the spread is a quartic form
in h, k, l whose coefficients S_HKL (H + K + L = 4) the Laue class restricts.
Here the form is the squared FWHM of M's distribution:

    Γ_M² = Σ S_HKL h^H k^K l^L

with Stephens's own forms (the triclinic one, restricted by symmetry: the
squared-product terms carry 3, the cubed-times-one terms 2, the h²kl-type 4).
A spread ΔM/M is a spread Δ2θ = tanθ ΔM/M in radians, so each line gains a
Lorentzian FWHM

    Γ_S = (180/π) Γ_M tanθ / M = (180/π) Γ_M λ² / (2 sin 2θ)   (deg)

added to the Thompson–Cox–Hastings Γ_L (``ProfileModel``'s ``extra_width``
hook).  S_HKL are in Å⁻⁴.  An isotropic strain of Stokes–Wilson ε (FWHM
4ε tanθ) is Γ_M = 4ε M: for a cubic cell S400 = (4ε)²/a⁴ and S220 = ⅔ S400.
One representative hkl per line: reflections that are not symmetry-equivalent
but share a d-spacing for every cell of the lattice system (cubic 333 and
511) take the representative's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from powdex.crystal import LatticeSystem
from powdex.refinement.errors import RefinementError

DEG = 180.0 / math.pi
# Smallest Γ_M² the width accepts: a fit that drives the quartic form negative at a line gets no
# strain width there (instead of a NaN), and the square root's slope stays finite.
_MIN_VARIANCE = 1e-14


def _terms(h: np.ndarray, k: np.ndarray, l: np.ndarray) -> dict[str, np.ndarray]:
    """Stephens's triclinic monomials with their coefficients, by S_HKL name."""
    return {
        "S400": h**4, "S040": k**4, "S004": l**4,
        "S220": 3 * h**2 * k**2, "S202": 3 * h**2 * l**2, "S022": 3 * k**2 * l**2,
        "S310": 2 * h**3 * k, "S103": 2 * h * l**3, "S031": 2 * k**3 * l,
        "S130": 2 * h * k**3, "S301": 2 * h**3 * l, "S013": 2 * k * l**3,
        "S211": 4 * h**2 * k * l, "S121": 4 * h * k**2 * l, "S112": 4 * h * k * l**2,
    }


def _cubic(t):
    return {"S400": t["S400"] + t["S040"] + t["S004"], "S220": t["S220"] + t["S202"] + t["S022"]}


def _tetragonal(t):
    return {"S400": t["S400"] + t["S040"], "S004": t["S004"], "S220": t["S220"], "S202": t["S202"] + t["S022"]}


def _hexagonal(t):
    # Stephens's 6/mmm form: S400 (h⁴ + k⁴ + 3h²k² + 2h³k + 2hk³), S004 l⁴, 3 S202 (h²l² + k²l² + hkl²).
    return {"S400": t["S400"] + t["S040"] + t["S220"] + t["S310"] + t["S130"], "S004": t["S004"],
            "S202": t["S202"] + t["S022"] + 0.75 * t["S112"]}


def _orthorhombic(t):
    return {name: t[name] for name in ("S400", "S040", "S004", "S220", "S202", "S022")}


def _monoclinic(t):
    # Unique axis b: the terms even in k.
    return {name: t[name] for name in ("S400", "S040", "S004", "S220", "S202", "S022", "S301", "S103", "S121")}


def _triclinic(t):
    return t


FORMS = {
    LatticeSystem.CUBIC: _cubic,
    LatticeSystem.TETRAGONAL: _tetragonal,
    LatticeSystem.HEXAGONAL: _hexagonal,
    LatticeSystem.ORTHORHOMBIC: _orthorhombic,
    LatticeSystem.MONOCLINIC: _monoclinic,
    LatticeSystem.TRICLINIC: _triclinic,
}


def stephens_terms(system: LatticeSystem, hkl: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The S_HKL names of ``system``'s Laue class and, per row of ``hkl``, the
    coefficient of each in Γ_M²: (names, (n, len(names)))."""
    if system not in FORMS:
        raise RefinementError(f"anisotropic strain: no Stephens form for the {system.value} lattice system in "
                              "rhombohedral axes; use the hexagonal setting")
    hkl = np.asarray(hkl, dtype=float)
    form = FORMS[system](_terms(hkl[:, 0], hkl[:, 1], hkl[:, 2]))
    return tuple(form), np.column_stack(list(form.values()))


@dataclass(frozen=True)
class StephensWidth:
    """Γ_S per line from S_HKL: ``ProfileModel``'s ``extra_width`` (see the module notes).

    ``coefficients`` (lines × terms) from :func:`stephens_terms`."""

    names: tuple[str, ...]
    coefficients: np.ndarray

    @classmethod
    def of(cls, system: LatticeSystem, hkl: np.ndarray) -> StephensWidth:
        return cls(*stephens_terms(system, hkl))

    @property
    def n_parameters(self) -> int:
        return len(self.names)

    def widths(self, s: np.ndarray, line_of: np.ndarray, two_theta: np.ndarray, wavelength: np.ndarray):
        """Γ_S (deg) of the components (lines ``line_of``, at ``two_theta`` deg with ``wavelength`` Å), and
        its derivatives with respect to S_HKL, (components × terms), and to θ (radians)."""
        variance = self.coefficients[line_of] @ s
        positive = variance > _MIN_VARIANCE
        root = np.sqrt(np.where(positive, variance, _MIN_VARIANCE))
        sin2 = np.sin(np.radians(two_theta))
        scale = DEG * wavelength**2 / (2.0 * sin2)
        gamma = np.where(positive, scale * root, 0.0)
        d_gamma_ds = np.where(positive, scale / (2.0 * root), 0.0)[:, None] * self.coefficients[line_of]
        # d/dθ of 1 / sin 2θ is −2 cos 2θ / sin² 2θ.
        d_gamma_dtheta = -gamma * 2.0 * np.cos(np.radians(two_theta)) / sin2
        return gamma, d_gamma_ds, d_gamma_dtheta


# Relative spread of M = 1/d² that a fit's strain terms start from: a width well below a lab instrument's.
START_SPREAD = 2e-4


def strain_start(width: StephensWidth, q2: np.ndarray) -> np.ndarray:
    """S_HKL giving a spread Γ_M/M of about ``START_SPREAD`` at the median line (``q2`` = M per line): the
    terms of even powers equal (their form is then positive at every line), those of odd powers zero.  Not
    all zero, where the square root's slope vanishes and a fit could not leave it."""
    even = np.array([all(int(power) % 2 == 0 for power in name[1:]) for name in width.names])
    totals = width.coefficients[:, even].sum(axis=1)
    useful = totals > 0
    level = float(np.median((START_SPREAD * q2[useful]) ** 2 / totals[useful])) if useful.any() else 0.0
    return np.where(even, level, 0.0)

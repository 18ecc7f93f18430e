"""The calculated powder pattern of a set of lines, and its analytic sparse Jacobian.

Peak shape: the Thompson–Cox–Hastings (1987) pseudo-Voigt,

    Γ_G² = U tan²θ + V tanθ + W,    Γ_L = X tanθ + Y / cosθ + Z     (U, V, W in deg², X, Y, Z in deg)

mixed into one FWHM Γ and Lorentzian fraction η by their fifth-order polynomial,
with unit area in degrees 2θ.  Axial divergence: Finger–Cox–Jephcoat (1994),
the pseudo-Voigt convolved with their weight over the detector's 2φ range,
integrated by Gauss–Legendre quadrature in u = h/L (the singularity at 2φ = 2θ
vanishes in that variable, cos 2φ = cos 2θ √(1 + u²)).  S/L and H/L enter the
shape only through S/L + H/L and |S/L − H/L|, so the two are exchangeable.

Positions: 2θ from Bragg's law for each wavelength (Kα1 and Kα2 with the
pattern's intensity ratio, and a β-filtered tube's Kβ with its measured ratio
where one is given: ``Instrument.k_beta_ratio``), plus a zero shift and the geometric shifts of
``powdex.instrument.shift_terms`` (degrees): Bragg–Brentano sample
displacement · cos θ (Δ2θ = −2 s cos θ / R for a sample s off the
goniometer axis of radius R) and transparency · sin 2θ; Debye–Scherrer
capillary x · cos 2θ and y · sin 2θ.  Background: a Chebyshev series in 2θ
mapped onto [−1, 1] over the fitted range.

The intensities are free per line (Pawley, Le Bail), so X-ray and
constant-wavelength neutron patterns differ only in their wavelengths: no
Lorentz–polarisation or form factors enter.

Each peak is evaluated only over its window of ``window_fwhm`` FWHM either
side (widened by its asymmetric tail), tapered smoothly to zero over the
window's outer quarter, as (point, peak) pairs: cost and the
Jacobian's non-zeros grow with the peaks, not with points × peaks.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp

from powdex.instrument import fcj_nodes, shift_terms
from powdex.instrument.model import TCH_ETA_COEFFICIENTS, TCH_FWHM_COEFFICIENTS
from powdex.patterns.radiation import tube_of_k_alpha1
from powdex.refinement.errors import RefinementError

# glibc's M_TOP_PAD: how much freed memory the heap keeps instead of returning it to the system.
_MALLOPT_TOP_PAD = -2
_KEPT_HEAP = 64 << 20


@cache
def _keep_freed_heap() -> None:
    """Once per process, when the first profile model is built (not at import, so
    that importing powdex changes nothing of the process): let the C heap keep 64 MiB of freed memory.  A profile evaluation makes a few
    dozen temporaries of a few hundred kB; by default glibc returns each to the
    system when freed, and the next evaluation pays its page faults again (half
    of an evaluation's time, measured on the benchmark pattern of
    benchmarks/refinement.py).  Elsewhere than glibc this does nothing."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_MALLOPT_TOP_PAD, _KEPT_HEAP)

GLOBAL_NAMES = ("zero", "displacement", "U", "V", "W", "X", "Y", "Z", "S/L", "H/L", "transparency", "x_displacement",
                "y_displacement")
ZERO, DISPLACEMENT, U, V, W, X, Y, Z, SL, HL, TRANSPARENCY, X_DISPLACEMENT, Y_DISPLACEMENT = range(len(GLOBAL_NAMES))
# The geometric shift terms, as powdex.instrument.shift_terms gives their functions of 2θ: Bragg–Brentano
# displacement (cosθ) and transparency (sin2θ), Debye–Scherrer capillary x (cos2θ) and y (sin2θ).
SHIFTS = (DISPLACEMENT, TRANSPARENCY, X_DISPLACEMENT, Y_DISPLACEMENT)
DEG = 180.0 / math.pi
# Thompson–Cox–Hastings (1987): Γ⁵ = Σ c_k Γ_G^(5−k) Γ_L^k and η(q), q = Γ_L / Γ.
_TCH = TCH_FWHM_COEFFICIENTS
_ETA = TCH_ETA_COEFFICIENTS
_GAUSS_NORM = 2.0 * math.sqrt(math.log(2.0) / math.pi)
_FOUR_LN2 = 4.0 * math.log(2.0)
# Smallest Γ_G² the shape accepts: a refinement that drives U tan²θ + V tanθ + W negative gets a
# needle-sharp Gaussian part instead of a NaN.
_MIN_GAUSS2 = 1e-8


def tch_widths(theta: np.ndarray, u: float, v: float, w: float, x: float, y: float, z: float,
               lorentzian: np.ndarray | None = None, lorentzian_dtheta: np.ndarray | None = None, *,
               derivatives: bool = True):
    """Γ (FWHM, deg), η and (with ``derivatives``, else None) their derivatives with
    respect to U, V, W, X, Y, Z and θ (radians).

    ``lorentzian`` (deg, per peak) adds to Γ_L, with its derivative ``lorentzian_dtheta``
    with respect to θ.  Returns (gamma, eta, d_gamma, d_eta), the derivatives as (7, n) arrays in
    the order U, V, W, X, Y, Z, θ (so ∂/∂Γ_L is the Z column).  A Γ_L below zero is taken as
    zero, as ``powdex.instrument.Instrument.lorentzian_fwhm`` takes it, its derivatives zero there."""
    t = np.tan(theta)
    sec = 1.0 / np.cos(theta)
    g2 = u * t * t + v * t + w
    clamped = g2 < _MIN_GAUSS2
    gg = np.sqrt(np.where(clamped, _MIN_GAUSS2, g2))
    gl = x * t + y * sec + z
    if lorentzian is not None:
        gl = gl + lorentzian
    # An instrument whose terms make up for each other over its calibrated range (GSAS-II's X < 0 against
    # its Z > 0) gives Γ_L < 0 beyond it: a pure Gaussian there, not a NaN from Γ⁵ < 0.
    lorentzian_free = gl < 0.0
    gl = np.where(lorentzian_free, 0.0, gl)
    powers_g = [gg ** (5 - k) for k in range(6)]
    powers_l = [gl ** k for k in range(6)]
    p = sum(c * powers_g[k] * powers_l[k] for k, c in enumerate(_TCH))
    gamma = p ** 0.2
    q = gl / gamma
    eta = _ETA[0] * q + _ETA[1] * q * q + _ETA[2] * q ** 3
    if not derivatives:
        return gamma, eta, None, None
    dp_dg = sum(c * (5 - k) * gg ** (4 - k) * powers_l[k] for k, c in enumerate(_TCH) if k < 5)
    dp_dl = sum(c * k * powers_g[k] * gl ** (k - 1) for k, c in enumerate(_TCH) if k > 0)
    dgamma_dp = 0.2 * gamma / p
    dgamma_dg, dgamma_dl = dgamma_dp * dp_dg, dgamma_dp * dp_dl
    deta_dq = _ETA[0] + 2 * _ETA[1] * q + 3 * _ETA[2] * q * q
    deta_dg = deta_dq * (-gl / gamma ** 2) * dgamma_dg
    deta_dl = deta_dq * (1.0 / gamma - gl / gamma ** 2 * dgamma_dl)
    half = np.where(clamped, 0.0, 0.5 / gg)
    # ∂Γ_G/∂(U, V, W, θ) and ∂Γ_L/∂(X, Y, Z, θ)
    zero = np.zeros_like(t)
    dg = np.stack([half * t * t, half * t, half, zero, zero, zero, half * (2 * u * t + v) * sec * sec])
    dl = np.stack([zero, zero, zero, t, sec, np.ones_like(t),
                   (x * sec + y * t) * sec + (0.0 if lorentzian_dtheta is None else lorentzian_dtheta)])
    dl = np.where(lorentzian_free, 0.0, dl)
    d_gamma = dgamma_dg * dg + dgamma_dl * dl
    d_eta = deta_dg * dg + deta_dl * dl
    return gamma, eta, d_gamma, d_eta


# The window's outer quarter tapers each peak smoothly to zero (a cubic smoothstep): a peak cut
# off abruptly would jump by its tail height wherever a window edge crosses a point.  The window
# is centred on the peak's centroid (its position less the mean asymmetry shift), so that one
# taper per (point, peak) pair serves all its quadrature nodes.
_TAPER_START = 0.75
# Beyond this many FWHM from its node a pseudo-Voigt's Gaussian part is below exp(−4 ln2 · 3.5²) ≈ 2e−15
# of its height: it is left at zero, not evaluated (the exponential is most of a profile's cost).
_GAUSS_REACH2 = 3.5 ** 2


def _gaussian_shape(z2: np.ndarray) -> np.ndarray:
    """exp(−4 ln2 z²) at squared offsets ``z2`` (in FWHM²), zero beyond ``_GAUSS_REACH2``."""
    out = np.zeros_like(z2)
    np.exp(z2 * -_FOUR_LN2, out=out, where=z2 < _GAUSS_REACH2)
    return out


def _weighted_sum(weight: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ_j weight_j values_j over the nodes (rows) of two (nodes × pairs) arrays."""
    return np.einsum("jm,jm->m", weight, values)


def taper(offset: np.ndarray, gamma: np.ndarray, reach: float, derivatives: bool):
    """The window's smooth edge at ``offset`` (deg) from a peak's centroid: 1 within
    0.75 ``reach`` FWHM, a cubic smoothstep down to 0 at ``reach`` FWHM; with
    ``derivatives`` also its derivatives with respect to the offset and to Γ."""
    scale = 1.0 / (reach * gamma)
    z = np.abs(offset) * scale
    s = np.clip((z - _TAPER_START) * (1.0 / (1.0 - _TAPER_START)), 0.0, 1.0)
    value = 1.0 - s * s * (3.0 - 2.0 * s)
    if not derivatives:
        return value, None, None
    dvalue_dz = s * (1.0 - s)
    dvalue_dz *= -6.0 / (1.0 - _TAPER_START)
    return value, dvalue_dz * np.sign(offset) * scale, -dvalue_dz * z / gamma


# Per peak, the Finger–Cox–Jephcoat rule is reduced to the fewest nodes whose error stays far
# below counting noise: a k-node Gauss rule of the peak's own weight (the full rule's nodes as a
# discrete measure) integrates the shift's moments up to 2k − 1 exactly, so its error falls as
# (spread of the shift / FWHM)^(2k).  Thresholds on that ratio for 1, 2, 3, 4 nodes; above the
# last, the full rule.  At high angle (the shift vanishes towards 90° 2θ) one node suffices.
_NODE_THRESHOLDS = (0.01, 0.05, 0.12, 0.25)


def asymmetry_node_counts(delta: np.ndarray, omega: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Quadrature nodes each peak needs: from the spread of its shifts ``delta``
    (weights ``omega``, rows per peak) relative to its FWHM ``gamma``."""
    mean = np.sum(omega * delta, axis=1)
    spread = np.sqrt(np.maximum(np.sum(omega * delta * delta, axis=1) - mean * mean, 0.0))
    ratio = spread / np.where(gamma > 0, gamma, np.inf)
    counts = 1 + np.searchsorted(np.asarray(_NODE_THRESHOLDS), ratio)
    return np.where(counts > len(_NODE_THRESHOLDS), delta.shape[1], np.minimum(counts, delta.shape[1]))


def reduced_nodes(delta: np.ndarray, omega: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``counts``-node Gauss rule for the discrete measure (``delta``, ``omega``),
    by the Stieltjes procedure and the Golub–Welsch (1969) eigenproblem; rows that
    keep every node are returned as they are.  Returns (delta, omega) of
    ``counts.max()`` columns, padded with zero weights."""
    width = int(counts.max(initial=1))
    out_delta = np.zeros((delta.shape[0], width))
    out_omega = np.zeros((delta.shape[0], width))
    for k in np.unique(counts):
        rows = np.flatnonzero(counts == k)
        x, w = delta[rows], omega[rows]
        if k >= delta.shape[1]:
            out_delta[rows, : x.shape[1]], out_omega[rows, : x.shape[1]] = x, w
            continue
        mean = np.sum(w * x, axis=1, keepdims=True)
        if k == 1:
            out_delta[rows, 0], out_omega[rows, 0] = mean[:, 0], 1.0
            continue
        scale = np.sqrt(np.maximum(np.sum(w * (x - mean) ** 2, axis=1, keepdims=True), 1e-300))
        t = (x - mean) / scale
        if k == 2:
            # In standard units the two-node rule has the closed form of its third moment γ:
            # nodes (γ ∓ √(γ² + 4))/2, weights keeping the mean at zero.
            skew = np.sum(w * t * t * t, axis=1, keepdims=True)
            root = np.sqrt(skew * skew + 4.0)
            nodes = np.hstack([(skew - root) / 2.0, (skew + root) / 2.0])
            out_delta[rows, :2] = mean + scale * nodes
            out_omega[rows, :2] = np.hstack([nodes[:, 1:], -nodes[:, :1]]) / root
            continue
        alpha, beta = np.zeros((rows.size, k)), np.zeros((rows.size, k))
        previous, current, norm_previous = np.zeros_like(t), np.ones_like(t), np.ones((rows.size, 1))
        for j in range(k):
            norm = np.sum(w * current * current, axis=1, keepdims=True)
            a = np.sum(w * t * current * current, axis=1, keepdims=True) / norm
            b = norm / norm_previous if j else np.zeros_like(norm)
            alpha[:, j], beta[:, j] = a[:, 0], b[:, 0]
            previous, current, norm_previous = current, (t - a) * current - b * previous, norm
        beta = np.maximum(beta, 1e-300)
        if k == 3:
            nodes = _three_nodes(alpha, beta)
        else:
            jacobi = np.zeros((rows.size, k, k))
            index = np.arange(k)
            jacobi[:, index, index] = alpha
            off = np.sqrt(beta[:, 1:])
            jacobi[:, index[:-1], index[1:]] = off
            jacobi[:, index[1:], index[:-1]] = off
            nodes = np.linalg.eigvalsh(jacobi)
        out_delta[rows, :k] = mean + scale * nodes
        out_omega[rows, :k] = _christoffel_weights(nodes, alpha, beta)
    return out_delta, out_omega


def _three_nodes(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Nodes (ascending) of three-node Gauss rules from their recurrence coefficients
    (rows of ``alpha``, ``beta``; β₀ unused), in closed form: the Jacobi matrix's
    eigenvalues are the roots of its characteristic cubic, by the trigonometric
    solution (three real roots).  A batched eigensolver spends most of its time
    per matrix on matrices this small."""
    a0, a1, a2 = alpha.T
    b1, b2 = beta[:, 1], beta[:, 2]
    # x³ + A x² + B x + C, the determinant of x − J expanded along the tridiagonal.
    big_a = -(a0 + a1 + a2)
    big_b = a0 * a1 + a0 * a2 + a1 * a2 - b1 - b2
    big_c = -a0 * a1 * a2 + a0 * b2 + a2 * b1
    # x = t − A/3: t³ + p t + q, p < 0 for three distinct real roots.
    p = np.minimum(big_b - big_a * big_a / 3.0, -1e-300)
    q = 2.0 * big_a ** 3 / 27.0 - big_a * big_b / 3.0 + big_c
    radius = 2.0 * np.sqrt(-p / 3.0)
    angle = np.arccos(np.clip(3.0 * q / (p * radius), -1.0, 1.0)) / 3.0
    turns = np.array([0.0, 2.0, 4.0]) * (np.pi / 3.0)
    return np.sort(radius[:, None] * np.cos(angle[:, None] - turns) - big_a[:, None] / 3.0, axis=1)


def _christoffel_weights(nodes: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The Gauss weights at ``nodes`` (rows), the Christoffel numbers
    1/Σ_m p_m(x)²/(β₁⋯β_m) of the monic orthogonal polynomials p_m of the
    recurrence (``alpha``, ``beta``) for a measure of unit mass: the squared first
    components of the Jacobi matrix's normalized eigenvectors, without them."""
    previous, current = np.zeros_like(nodes), np.ones_like(nodes)
    total, norm = np.ones_like(nodes), np.ones((nodes.shape[0], 1))
    for m in range(nodes.shape[1] - 1):
        previous, current = current, (nodes - alpha[:, m:m + 1]) * current - (beta[:, m:m + 1] * previous if m else 0.0)
        norm = norm * beta[:, m + 1:m + 2]
        total += current * current / norm
    return 1.0 / total


def geometric_shift_terms(two_theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The functions of 2θ that multiply ``SHIFTS`` in a position, (4, n), and their derivatives per degree."""
    bragg_brentano, bb_slopes = shift_terms("bragg-brentano", two_theta)
    debye_scherrer, ds_slopes = shift_terms("debye-scherrer", two_theta)
    return np.concatenate([bragg_brentano, debye_scherrer]), np.concatenate([bb_slopes, ds_slopes])


def shifted_positions(p: np.ndarray, two_theta: np.ndarray) -> np.ndarray:
    """Bragg angles ``two_theta`` (deg) where parameters ``p`` put the peaks: plus the zero and geometric shifts."""
    return two_theta + p[ZERO] + p[list(SHIFTS)] @ geometric_shift_terms(two_theta)[0]


def chebyshev_basis(two_theta: np.ndarray, order: int) -> np.ndarray:
    span = two_theta[-1] - two_theta[0]
    mapped = 2.0 * (two_theta - two_theta[0]) / (span if span > 0 else 1.0) - 1.0
    return np.polynomial.chebyshev.chebvander(mapped, order - 1)


def _node_blocks(pair_counts: np.ndarray) -> list[tuple[slice, int]]:
    """Runs of pairs for the profile's blocks, each with its number of quadrature nodes.

    Windows ordered by nodes, most first (``ProfileModel._windows_of``) give one
    run per node count.  Windows laid out at other parameters may no longer be
    in that order: then one run with the most nodes any pair needs (the rules
    are padded with zero weights, so the extra nodes add nothing)."""
    if not pair_counts.size:
        return []
    if np.all(pair_counts[1:] <= pair_counts[:-1]):
        edges = np.flatnonzero(pair_counts[1:] != pair_counts[:-1]) + 1
        starts, stops = np.r_[0, edges], np.r_[edges, pair_counts.size]
        return [(slice(int(a), int(b)), int(pair_counts[a])) for a, b in zip(starts, stops)]
    return [(slice(0, pair_counts.size), int(pair_counts.max()))]


def k_beta_line(wavelength: float, radiation: str, k_beta_ratio: float | None,
                source: str) -> tuple[float, float] | None:
    """(wavelength, Kβ/Kα1 ratio) of the Kβ line a fit of a pattern whose first wavelength is ``wavelength``
    fits at ``k_beta_ratio`` (``ProfileModel``'s ``k_beta``), None for no ratio or 0; an error, naming ``source``,
    where the ratio is not a fraction or the wavelength no X-ray tube's Kα1."""
    if not k_beta_ratio:
        return None
    if not 0 < k_beta_ratio <= 1:
        raise RefinementError(f"k_beta_ratio: {k_beta_ratio} is not in (0, 1]")
    tube = tube_of_k_alpha1(wavelength) if radiation == "xray" else None
    if tube is None:
        raise RefinementError(f"{source}: a Kβ/Kα1 ratio of {k_beta_ratio:g} needs an X-ray tube's Kα1, "
                              f"not λ = {wavelength} Å")
    return tube.k_beta, float(k_beta_ratio)


@dataclass(frozen=True)
class Windows:
    """Which points each peak component covers, as flattened (point, component) pairs."""

    point: np.ndarray
    component: np.ndarray


class ProfileModel:
    """The pattern model over one set of lines.

    The parameter vector is ``GLOBAL_NAMES``, then the lattice system's free
    reciprocal parameters (q² = ``design`` @ x), then the parameters of
    ``extra_width``, then ``background_terms`` Chebyshev coefficients, then one
    integrated intensity per line.
    ``width_factor`` multiplies every FWHM: coarse stages of a fit widen the
    peaks so that a cell a percent off still overlaps its lines.
    ``extra_width`` (e.g. ``powdex.refinement.stephens.StephensWidth``) adds a
    per-line Lorentzian width: ``n_parameters`` and
    ``widths(params, line_of, two_theta, wavelength)`` → (Γ, ∂Γ/∂params, ∂Γ/∂θ) per component.
    ``k_beta`` (wavelength, intensity ratio to Kα1; ``k_beta_line``) adds every line once more
    at a tube's Kβ line, with the line's own intensity times that ratio: each line is then a
    component per wavelength of ``emission``, Kα1 first.
    """

    def __init__(self, two_theta: np.ndarray, wavelengths: tuple[float, ...], ratio: float,
                 design: np.ndarray, *, background_terms: int = 6, window_fwhm: float = 6.0,
                 asymmetry_order: int = 3, width_factor: float = 1.0, extra_width=None,
                 k_beta: tuple[float, float] | None = None):
        _keep_freed_heap()
        self.two_theta = np.asarray(two_theta, dtype=float)
        self.wavelengths = tuple(wavelengths[:2] if ratio > 0 else wavelengths[:1])
        self.k_beta = k_beta
        self.emission = self.wavelengths + ((self.k_beta[0],) if self.k_beta else ())
        factors = [1.0, ratio][: len(self.wavelengths)] + ([self.k_beta[1]] if self.k_beta else [])
        self.component_factor = np.array(factors)
        self.design = np.asarray(design, dtype=float)
        self.background = chebyshev_basis(self.two_theta, background_terms)
        self.window_fwhm = window_fwhm
        self.asymmetry_order = asymmetry_order
        self.width_factor = width_factor
        self.n_lines, self.n_cell = self.design.shape
        self.n_components = self.n_lines * len(self.emission)
        self.line_of = np.tile(np.arange(self.n_lines), len(self.emission))
        self.factor = np.repeat(self.component_factor, self.n_lines)
        start = len(GLOBAL_NAMES)
        self.cell_slice = slice(start, start + self.n_cell)
        self.extra_width = extra_width
        self.width_slice = slice(self.cell_slice.stop,
                                 self.cell_slice.stop + (extra_width.n_parameters if extra_width is not None else 0))
        self.background_slice = slice(self.width_slice.stop, self.width_slice.stop + background_terms)
        self.intensity_slice = slice(self.background_slice.stop, self.background_slice.stop + self.n_lines)
        self.size = self.intensity_slice.stop

    def coarsened(self, width_factor: float, asymmetry_order: int, window_fwhm: float) -> ProfileModel:
        """The same model with every FWHM ``width_factor`` times wider, ``asymmetry_order``
        quadrature nodes and windows of ``window_fwhm``."""
        twin = object.__new__(ProfileModel)
        twin.__dict__.update(self.__dict__)
        twin.width_factor, twin.asymmetry_order, twin.window_fwhm = width_factor, asymmetry_order, window_fwhm
        return twin

    def up_to_line(self, p: np.ndarray, lines: int) -> ProfileModel:
        """The model over the points up to the window's end of line ``lines`` (counted
        from low angle; all points if there are fewer), for stages that fit the
        low-angle part only."""
        if lines >= self.n_lines:
            return self
        windows = self.windows(p)
        reach = windows.point[self.line_of[windows.component] < lines]
        end = int(reach.max()) + 1 if reach.size else self.two_theta.size
        twin = object.__new__(ProfileModel)
        twin.__dict__.update(self.__dict__)
        twin.two_theta, twin.background = self.two_theta[:end], self.background[:end]
        return twin

    # -- peak geometry -------------------------------------------------------------------------
    def _components(self, p: np.ndarray, derivatives: bool, asymmetry_derivatives: bool = True):
        """Per component: observed position, FWHM, η, FCJ nodes and (optionally) their
        derivatives; those with respect to S/L and H/L only with ``asymmetry_derivatives``."""
        q2 = self.design @ p[self.cell_slice]
        q2 = np.where(q2 > 0, q2, np.nan)
        sine = np.concatenate([lam * np.sqrt(q2) / 2.0 for lam in self.emission])
        inside = sine < 1.0
        sine = np.where(inside, sine, np.nan)
        two_theta = 2.0 * DEG * np.arcsin(sine)
        theta = np.radians(two_theta) / 2.0
        shift_basis, shift_slopes = geometric_shift_terms(two_theta)
        position = two_theta + p[ZERO] + p[list(SHIFTS)] @ shift_basis
        extra = (None, None, None)
        if self.extra_width is not None:
            extra = self.extra_width.widths(p[self.width_slice], self.line_of, two_theta,
                                            np.repeat(np.array(self.emission), self.n_lines))
        gamma, eta, d_gamma, d_eta = tch_widths(theta, *p[U:Z + 1], extra[0], extra[2], derivatives=derivatives)
        gamma = gamma * self.width_factor
        asymmetric = p[SL] + p[HL] > 0
        if asymmetric:
            delta, omega = fcj_nodes(position, p[SL], p[HL], self.asymmetry_order)
            counts = asymmetry_node_counts(delta, omega, gamma)
            delta, omega = reduced_nodes(delta, omega, counts)
        else:
            delta, omega = np.zeros((self.n_components, 1)), np.ones((self.n_components, 1))
            counts = np.ones(self.n_components, dtype=int)
        geometry = {"position": position, "gamma": gamma, "eta": eta, "delta": delta, "omega": omega,
                    "counts": counts, "valid": inside & np.isfinite(gamma) & (gamma > 0), "theta": theta}
        if not derivatives:
            return geometry
        d_gamma = d_gamma * self.width_factor
        lam = np.repeat(np.array(self.emission), self.n_lines)
        q2_all = np.tile(q2, len(self.emission))
        dtth_dq2 = DEG * lam / (2.0 * np.sqrt(q2_all) * np.sqrt(1.0 - sine * sine))
        dpos_dtth = 1.0 + p[list(SHIFTS)] @ shift_slopes
        dtth_dcell = dtth_dq2[:, None] * self.design[self.line_of]            # (nc, n_cell)
        dtheta_dtth = 1.0 / (2.0 * DEG)
        geometry.update(
            dpos_dcell=dpos_dtth[:, None] * dtth_dcell,
            dgamma_dcell=(d_gamma[-1] * dtheta_dtth)[:, None] * dtth_dcell,
            deta_dcell=(d_eta[-1] * dtheta_dtth)[:, None] * dtth_dcell,
            dpos_dshift=shift_basis, d_gamma=d_gamma[:-1], d_eta=d_eta[:-1],
        )
        if self.extra_width is not None:
            # ∂/∂Γ_L is the Z column.
            geometry.update(dgamma_dwidth=d_gamma[Z - U][:, None] * extra[1],
                            deta_dwidth=d_eta[Z - U][:, None] * extra[1])
        if asymmetric:
            geometry.update(self._fcj_derivatives(position, p, counts, delta, omega, asymmetry_derivatives))
        return geometry

    def _fcj_derivatives(self, position: np.ndarray, p: np.ndarray, counts: np.ndarray, delta: np.ndarray,
                         omega: np.ndarray, asymmetry: bool) -> dict:
        """∂(delta, omega)/∂(position and, with ``asymmetry``, S/L, H/L) by forward differences of the node
        function from its value (``delta``, ``omega``): per component, a few
        hundred numbers, against the full pattern's pairs everywhere else.  The
        displaced rules are reduced in one batch."""
        displaced, steps = [], {}
        for name, index, step in (("pos", None, 1e-5), ("sl", SL, 1e-6), ("hl", HL, 1e-6))[: 3 if asymmetry else 1]:
            if index is None:
                displaced.append(fcj_nodes(position + step, p[SL], p[HL], self.asymmetry_order))
            else:
                up = p.copy()
                up[index] += step
                displaced.append(fcj_nodes(position, up[SL], up[HL], self.asymmetry_order))
            steps[name] = step
        moved_delta, moved_omega = reduced_nodes(np.concatenate([d for d, _ in displaced]),
                                                 np.concatenate([w for _, w in displaced]),
                                                 np.tile(counts, len(displaced)))
        n = position.size
        out = {}
        for k, (name, step) in enumerate(steps.items()):
            rows = slice(k * n, (k + 1) * n)
            out[f"ddelta_d{name}"] = (moved_delta[rows] - delta) / step
            out[f"domega_d{name}"] = (moved_omega[rows] - omega) / step
        return out

    def windows(self, p: np.ndarray) -> Windows:
        """The (point, component) pairs of every peak's window at parameters ``p``."""
        return self._windows_of(self._components(p, derivatives=False))

    def _windows_of(self, g: dict) -> Windows:
        """The windows of components ``g``, ordered by their quadrature nodes, most
        first: the pairs that node j serves are then a prefix of the pairs."""
        reach = self.window_fwhm * g["gamma"]
        centroid = g["position"] - np.sum(g["omega"] * g["delta"], axis=1)
        valid = g["valid"]
        order = np.argsort(-g["counts"], kind="stable")
        start = np.searchsorted(self.two_theta, np.where(valid, centroid - reach, np.inf)[order])
        stop = np.searchsorted(self.two_theta, np.where(valid, centroid + reach, -np.inf)[order])
        counts = np.maximum(stop - start, 0)
        component = np.repeat(order, counts)
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        point = np.arange(counts.sum()) - offsets + np.repeat(start, counts)
        return Windows(point, component)

    # -- pattern and Jacobian ------------------------------------------------------------------
    def _pairs(self, p: np.ndarray, windows: Windows | None, derivatives: bool, asymmetry_derivatives: bool = True):
        """Geometry, windows, each pair's unit profile and (with ``derivatives``) its
        derivatives with respect to position, Γ, η and (with ``asymmetry_derivatives``,
        else zero) S/L and H/L.

        The pairs are taken in blocks of peaks with the same number of quadrature
        nodes k (``_windows_of`` orders them so), each block as (k × pairs)
        arrays, node-major, so that every node of every pair costs a handful of
        array operations, and each window's points stay contiguous along a row
        (the Gaussian's cut-off then skips runs).  A node at offset x from its
        shifted position contributes, with z² = x²/Γ², e = exp(−4 ln2 z²) and
        r = 1/(1 + 4z²), the pseudo-Voigt g·e + l·r with g = (1 − η)·2√(ln2/π)/Γ
        and l = η·2/(πΓ); its derivatives are
            ∂/∂x = −8x/Γ² (ln2 g e + l r²),  ∂/∂Γ = (8z² (ln2 g e + l r²) − g e − l r)/Γ,
            ∂/∂η = 2/(πΓ) r − 2√(ln2/π)/Γ e,
        so every pair needs only node sums of e, r and a few products with them."""
        g = self._components(p, derivatives, asymmetry_derivatives)
        windows = windows if windows is not None else self._windows_of(g)
        c, i = windows.component, windows.point
        dx0 = self.two_theta[i] - g["position"][c]
        gamma, eta = g["gamma"][c], g["eta"][c]
        asymmetric = "ddelta_dpos" in g
        # The parameters that move the quadrature nodes, each with its ∂δ/∂· and ∂ω/∂·.
        shifted = [key for key in ("pos", "sl", "hl") if f"ddelta_d{key}" in g]
        mean_shift = np.sum(g["omega"] * g["delta"], axis=1)
        edge, dedge_doffset, dedge_dgamma = taper(dx0 + mean_shift[c], gamma, self.window_fwhm, derivatives)
        inv = 1.0 / gamma
        inv2 = inv * inv
        # Node-major tables (nodes × components) from which each block takes its columns.
        delta, weight = g["delta"].T.copy(), g["omega"].T.copy()
        coefficients = {}
        if derivatives:
            if asymmetric:
                # Per node and component: f(2θ' − pos + δ_j), so ∂/∂pos = −ω_j f'(1 − ∂δ_j/∂pos) + f ∂ω_j/∂pos,
                # ∂/∂(S/L) = ω_j f' ∂δ_j/∂(S/L) + f ∂ω_j/∂(S/L): the coefficients of f' (slope) and f (level).
                for key in shifted:
                    slope = g["omega"] * g[f"ddelta_d{key}"]
                    coefficients[f"slope_{key}"] = (slope - g["omega"] if key == "pos" else slope).T.copy()
                    coefficients[f"level_{key}"] = g[f"domega_d{key}"].T.copy()
            else:
                coefficients["slope_pos"] = -weight
        # Per pair, node sums by name: e, r (weights ω); z2e, z2r2; slope_e_pos, level_r_sl...
        sums: dict[str, np.ndarray] = {}

        def put(name: str, block: slice, values: np.ndarray) -> None:
            sums.setdefault(name, np.empty(c.size))[block] = values

        for block, k in _node_blocks(g["counts"][c]):
            cb = c[block]
            x = dx0[block] + delta[:k].take(cb, axis=1)
            z2 = x * x
            z2 *= inv2[block]
            e = _gaussian_shape(z2)
            r = 4.0 * z2
            r += 1.0
            np.reciprocal(r, out=r)
            omega = weight[:k].take(cb, axis=1)
            put("e", block, _weighted_sum(omega, e))
            put("r", block, _weighted_sum(omega, r))
            if not derivatives:
                continue
            r2 = r * r
            put("z2e", block, _weighted_sum(omega, z2 * e))
            put("z2r2", block, _weighted_sum(omega, z2 * r2))
            # f' needs x·e and x·r² (its slope coefficients), f needs e and r (its level coefficients).
            bases = {"slope": {"e": x * e, "r2": x * r2}, "level": {"e": e, "r": r}}
            for name, table in coefficients.items():
                kind, key = name.split("_")
                taken = table[:k].take(cb, axis=1)
                for basis, values in bases[kind].items():
                    put(f"{kind}_{basis}_{key}", block, _weighted_sum(taken, values))
        gauss_norm, lorentz_norm = _GAUSS_NORM * inv, (2.0 / math.pi) * inv
        gauss_height, lorentz_height = (1.0 - eta) * gauss_norm, eta * lorentz_norm
        shape = gauss_height * sums["e"] + lorentz_height * sums["r"]
        unit = shape * edge
        if not derivatives:
            return g, windows, unit, None
        ln2_gauss = math.log(2.0) * gauss_height
        parts = {
            "gamma": (8.0 * (ln2_gauss * sums["z2e"] + lorentz_height * sums["z2r2"]) - shape) * inv,
            "eta": lorentz_norm * sums["r"] - gauss_norm * sums["e"],
        }
        for key in ("pos", "sl", "hl"):
            if f"slope_{key}" not in coefficients:
                parts[key] = np.zeros(c.size)
                continue
            parts[key] = -8.0 * inv2 * (ln2_gauss * sums[f"slope_e_{key}"] + lorentz_height * sums[f"slope_r2_{key}"])
            if f"level_{key}" in coefficients:
                parts[key] += gauss_height * sums[f"level_e_{key}"] + lorentz_height * sums[f"level_r_{key}"]
        for key in parts:
            parts[key] *= edge
        # The taper moves with the centroid, pos − Σω_j δ_j, and scales with Γ.
        along = shape * dedge_doffset
        for key in shifted:
            parts[key] += np.sum(g[f"domega_d{key}"] * g["delta"] + g["omega"] * g[f"ddelta_d{key}"], axis=1)[c] * along
        parts["pos"] -= along
        parts["gamma"] += shape * dedge_dgamma
        return g, windows, unit, parts

    def background_of(self, p: np.ndarray) -> np.ndarray:
        return self.background @ p[self.background_slice]

    def peak_profiles(self, p: np.ndarray, windows: Windows | None = None) -> tuple[Windows, np.ndarray]:
        """The windows and, per pair, the line's unit-intensity profile (Kα2 and Kβ ratios included)."""
        _, windows, unit, _ = self._pairs(p, windows, derivatives=False)
        return windows, unit * self.factor[windows.component]

    def evaluate(self, p: np.ndarray, windows: Windows | None = None) -> np.ndarray:
        """The calculated pattern at the model's points."""
        windows, unit = self.peak_profiles(p, windows)
        intensity = p[self.intensity_slice][self.line_of[windows.component]]
        return self.background_of(p) + np.bincount(windows.point, unit * intensity, minlength=self.two_theta.size)

    def peak_derivatives(self, p: np.ndarray, windows: Windows | None, columns: np.ndarray,
                         pairs: tuple | None = None) -> np.ndarray:
        """∂(calculated pattern)/∂p for global, cell and extra-width ``columns`` (each below
        ``background_slice.start``), as a dense (points × columns) array.

        Each pair's derivative with respect to a parameter is its derivative
        with respect to position, Γ, η (or S/L, H/L) times a per-peak factor, so
        the block is one sparse product: (points × peaks) matrices of the pairs'
        position, Γ, η, S/L and H/L derivatives, side by side, times the stacked
        (peaks × columns) factors."""
        if pairs is None:
            pairs = self._pairs(p, windows, derivatives=True, asymmetry_derivatives=bool(np.isin([SL, HL], columns).any()))
        g, windows, _, parts = pairs
        c, i = windows.component, windows.point
        n = self.two_theta.size
        amplitude = self.factor[c] * p[self.intensity_slice][self.line_of[c]]
        # Each peak's pairs are contiguous (``_windows_of``): one sparse column per run of pairs.
        run_start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if c.size else np.empty(0, int)
        run = c[run_start]
        factors = {key: np.zeros((run.size, len(columns))) for key in ("pos", "gamma", "eta", "sl", "hl")}
        for k, column in enumerate(columns):
            if column == ZERO:
                factors["pos"][:, k] = 1.0
            elif column in SHIFTS:
                factors["pos"][:, k] = g["dpos_dshift"][SHIFTS.index(column)][run]
            elif U <= column <= Z:
                factors["gamma"][:, k] = g["d_gamma"][column - U][run]
                factors["eta"][:, k] = g["d_eta"][column - U][run]
            elif column in (SL, HL):
                factors["sl" if column == SL else "hl"][:, k] = 1.0
            elif column >= self.width_slice.start:
                m = column - self.width_slice.start
                factors["gamma"][:, k] = g["dgamma_dwidth"][run, m]
                factors["eta"][:, k] = g["deta_dwidth"][run, m]
            else:
                m = column - self.cell_slice.start
                factors["pos"][:, k] = g["dpos_dcell"][run, m]
                factors["gamma"][:, k] = g["dgamma_dcell"][run, m]
                factors["eta"][:, k] = g["deta_dcell"][run, m]
        keys = [key for key, factor in factors.items() if factor.any()]
        if not keys or not c.size:
            return np.zeros((n, len(columns)))
        indptr = np.r_[run_start, c.size]
        blocks = len(keys)
        data = np.concatenate([parts[key] * amplitude for key in keys])
        pointer = np.concatenate([indptr[:-1] + b * c.size for b in range(blocks)] + [[blocks * c.size]])
        derivatives = sp.csc_matrix((data, np.tile(i, blocks), pointer), shape=(n, blocks * run.size))
        return np.asarray(derivatives @ np.vstack([factors[key] for key in keys]))

    def jacobian(self, p: np.ndarray, windows: Windows | None = None, columns: np.ndarray | None = None) -> sp.csc_matrix:
        """∂(calculated pattern)/∂p, (points × parameters), as a sparse matrix:
        the intensity block has one window of non-zeros per line; the global,
        cell and background columns are dense.  ``columns`` (ascending) limits it
        to those parameters, and the work to what they need."""
        wanted = np.arange(self.size) if columns is None else np.asarray(columns, dtype=int)
        peak_columns = wanted[wanted < self.width_slice.stop]
        background_columns = wanted[(wanted >= self.background_slice.start) & (wanted < self.background_slice.stop)]
        line_columns = wanted[wanted >= self.intensity_slice.start] - self.intensity_slice.start
        n = self.two_theta.size
        blocks, dense = [], []
        if peak_columns.size or line_columns.size:
            pairs = self._pairs(p, windows, derivatives=bool(peak_columns.size),
                                asymmetry_derivatives=bool(np.isin([SL, HL], peak_columns).any()))
            _, windows, unit, _ = pairs
        if peak_columns.size:
            dense.append(self.peak_derivatives(p, windows, peak_columns, pairs))
        if background_columns.size:
            dense.append(self.background[:, background_columns - self.background_slice.start])
        if dense:
            block = np.hstack(dense)
            # Dense columns straight into compressed form: every row stored, no scan for zeros.
            k = block.shape[1]
            blocks.append(sp.csc_matrix((block.T.ravel(), np.tile(np.arange(n), k), np.arange(0, n * k + 1, n)),
                                        shape=(n, k)))
        if line_columns.size:
            lines = self.line_matrix(windows, unit * self.factor[windows.component])
            blocks.append(lines if line_columns.size == self.n_lines else lines[:, line_columns])
        if not blocks:
            return sp.csc_matrix((n, 0))
        return sp.hstack(blocks, format="csc")

    def line_matrix(self, windows: Windows, values: np.ndarray) -> sp.csc_matrix:
        """The (points × lines) matrix of the pairs' ``values``, each line's
        components (Kα1, Kα2) summed.  Built without sorting: each component's
        pairs are one run of ascending points (``_windows_of``), so its column is
        that run, and the lines are sums of per-component columns."""
        c, i = windows.component, windows.point
        n = self.two_theta.size
        run_start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if c.size else np.empty(0, int)
        run_length = np.diff(np.r_[run_start, c.size])
        by_component = np.argsort(c[run_start], kind="stable")
        starts, lengths = run_start[by_component], run_length[by_component]
        # The pairs reordered run by run into component order.
        order = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(c.size)
        counts = np.bincount(c[run_start], weights=run_length, minlength=self.n_components).astype(np.int64)
        indptr = np.r_[0, np.cumsum(counts)]
        components = sp.csc_matrix((values[order], i[order], indptr), shape=(n, self.n_components))
        lines = components[:, : self.n_lines]
        for k in range(1, len(self.emission)):
            lines = lines + components[:, k * self.n_lines:(k + 1) * self.n_lines]
        return lines.tocsc()

    def partition(self, p: np.ndarray, observed: np.ndarray, windows: Windows | None = None) -> np.ndarray:
        """Le Bail (1988) intensities: each line's share of the observed counts
        above background, apportioned by the current calculated profiles,
        I_k ← I_k Σ_i φ_ki (y_i − b_i)/(y_calc,i − b_i) / Σ_i φ_ki."""
        windows, unit = self.peak_profiles(p, windows)
        intensity = p[self.intensity_slice]
        background = self.background_of(p)
        peaks = np.bincount(windows.point, unit * intensity[self.line_of[windows.component]],
                            minlength=self.two_theta.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(peaks > 1e-12 * max(peaks.max(initial=0.0), 1e-300),
                             (observed - background) / peaks, 0.0)
        ratio = np.clip(ratio, 0.0, None)
        line = self.line_of[windows.component]
        numerator = np.bincount(line, unit * ratio[windows.point], minlength=self.n_lines)
        denominator = np.bincount(line, unit, minlength=self.n_lines)
        with np.errstate(divide="ignore", invalid="ignore"):
            # A line with no point in reach keeps its intensity.
            share = np.where(denominator > 0, numerator / denominator, 1.0)
        return intensity * share

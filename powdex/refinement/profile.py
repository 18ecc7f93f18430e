"""The calculated powder pattern of a set of lines, and its analytic sparse Jacobian.

Peak shape: the Thompson–Cox–Hastings (1987) pseudo-Voigt,

    Γ_G² = U tan²θ + V tanθ + W,    Γ_L = X tanθ + Y / cosθ     (U, V, W in deg², X, Y in deg)

mixed into one FWHM Γ and Lorentzian fraction η by their fifth-order polynomial,
with unit area in degrees 2θ.  Axial divergence: Finger–Cox–Jephcoat (1994),
the pseudo-Voigt convolved with their weight over the detector's 2φ range,
integrated by Gauss–Legendre quadrature in u = h/L (the singularity at 2φ = 2θ
vanishes in that variable, cos 2φ = cos 2θ √(1 + u²)).  S/L and H/L enter the
shape only through S/L + H/L and |S/L − H/L|, so the two are exchangeable.

Positions: 2θ from Bragg's law for each wavelength (Kα1 and Kα2 with the
pattern's intensity ratio), plus a zero shift and a sample displacement
term ``displacement · cos θ`` (degrees; Δ2θ = −2 s cos θ / R for a sample
s off the goniometer axis of radius R).  Background: a Chebyshev series in 2θ
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

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp

GLOBAL_NAMES = ("zero", "displacement", "U", "V", "W", "X", "Y", "S/L", "H/L")
ZERO, DISPLACEMENT, U, V, W, X, Y, SL, HL = range(len(GLOBAL_NAMES))
DEG = 180.0 / math.pi
# Thompson–Cox–Hastings (1987): Γ⁵ = Σ c_k Γ_G^(5−k) Γ_L^k and η(q), q = Γ_L / Γ.
_TCH = (1.0, 2.69269, 2.42843, 4.47163, 0.07842, 1.0)
_ETA = (1.36603, -0.47719, 0.11116)
_GAUSS_NORM = 2.0 * math.sqrt(math.log(2.0) / math.pi)
_FOUR_LN2 = 4.0 * math.log(2.0)
# Smallest Γ_G² the shape accepts: a refinement that drives U tan²θ + V tanθ + W negative gets a
# needle-sharp Gaussian part instead of a NaN.
_MIN_GAUSS2 = 1e-8


def tch_widths(theta: np.ndarray, u: float, v: float, w: float, x: float, y: float):
    """Γ (FWHM, deg), η and their derivatives with respect to U, V, W, X, Y and θ (radians).

    Returns (gamma, eta, d_gamma, d_eta), the derivatives as (6, n) arrays in
    the order U, V, W, X, Y, θ."""
    t = np.tan(theta)
    sec = 1.0 / np.cos(theta)
    g2 = u * t * t + v * t + w
    clamped = g2 < _MIN_GAUSS2
    gg = np.sqrt(np.where(clamped, _MIN_GAUSS2, g2))
    gl = x * t + y * sec
    powers_g = [gg ** (5 - k) for k in range(6)]
    powers_l = [gl ** k for k in range(6)]
    p = sum(c * powers_g[k] * powers_l[k] for k, c in enumerate(_TCH))
    dp_dg = sum(c * (5 - k) * gg ** (4 - k) * powers_l[k] for k, c in enumerate(_TCH) if k < 5)
    dp_dl = sum(c * k * powers_g[k] * gl ** (k - 1) for k, c in enumerate(_TCH) if k > 0)
    gamma = p ** 0.2
    dgamma_dp = 0.2 * gamma / p
    dgamma_dg, dgamma_dl = dgamma_dp * dp_dg, dgamma_dp * dp_dl
    q = gl / gamma
    eta = _ETA[0] * q + _ETA[1] * q * q + _ETA[2] * q ** 3
    deta_dq = _ETA[0] + 2 * _ETA[1] * q + 3 * _ETA[2] * q * q
    deta_dg = deta_dq * (-gl / gamma ** 2) * dgamma_dg
    deta_dl = deta_dq * (1.0 / gamma - gl / gamma ** 2 * dgamma_dl)
    half = np.where(clamped, 0.0, 0.5 / gg)
    # ∂Γ_G/∂(U, V, W, θ) and ∂Γ_L/∂(X, Y, θ)
    dg = np.stack([half * t * t, half * t, half, np.zeros_like(t), np.zeros_like(t),
                   half * (2 * u * t + v) * sec * sec])
    dl = np.stack([np.zeros_like(t), np.zeros_like(t), np.zeros_like(t), t, sec,
                   (x * sec + y * t) * sec])
    d_gamma = dgamma_dg * dg + dgamma_dl * dl
    d_eta = deta_dg * dg + deta_dl * dl
    return gamma, eta, d_gamma, d_eta


# The window's outer quarter tapers each peak smoothly to zero (a cubic smoothstep): a peak cut
# off abruptly would jump by its tail height wherever a window edge crosses a point.
_TAPER_START = 0.75
# Pieces of the Finger–Cox–Jephcoat weight's sloping part, each with its own Gauss–Legendre nodes.
_FCJ_PIECES = 3
_FCJ_SMOOTHING = 2e-3


def pseudo_voigt(dx: np.ndarray, gamma: np.ndarray, eta: np.ndarray, reach: float, derivatives: bool):
    """Unit-area pseudo-Voigt at offsets ``dx`` (deg), tapered to zero between
    0.75 and 1 times ``reach`` FWHM; with ``derivatives`` also ∂/∂dx, ∂/∂Γ and ∂/∂η."""
    inv = 1.0 / gamma
    z2 = dx * dx * inv * inv
    gauss = _GAUSS_NORM * inv * np.exp(-_FOUR_LN2 * z2)
    denominator = 1.0 / (1.0 + 4.0 * z2)
    lorentz = (2.0 / math.pi) * inv * denominator
    shape = eta * lorentz + (1.0 - eta) * gauss
    z = np.abs(dx) * inv / reach
    s = np.clip((z - _TAPER_START) / (1.0 - _TAPER_START), 0.0, 1.0)
    taper = 1.0 - s * s * (3.0 - 2.0 * s)
    value = shape * taper
    if not derivatives:
        return value, None, None, None
    dtaper_dz = -6.0 * s * (1.0 - s) / (1.0 - _TAPER_START)
    dz_ddx = np.sign(dx) * inv / reach
    dgauss_dx = gauss * (-2.0 * _FOUR_LN2 * dx * inv * inv)
    dlorentz_dx = lorentz * (-8.0 * dx * inv * inv) * denominator
    d_dx = (eta * dlorentz_dx + (1.0 - eta) * dgauss_dx) * taper + shape * dtaper_dz * dz_ddx
    dgauss_dg = gauss * inv * (2.0 * _FOUR_LN2 * z2 - 1.0)
    dlorentz_dg = lorentz * inv * (8.0 * z2 * denominator - 1.0)
    d_dgamma = (eta * dlorentz_dg + (1.0 - eta) * dgauss_dg) * taper - shape * dtaper_dz * z * inv
    return value, d_dx, d_dgamma, (lorentz - gauss) * taper


def fcj_nodes(two_theta: np.ndarray, s_l: float, h_l: float, order: int):
    """Finger–Cox–Jephcoat (1994) axial-divergence quadrature for peaks at ``two_theta`` (deg).

    Returns (delta, weight), each (n, 4·order): the profile is
    Σ_j weight_j · pV(2θ' − (2θ − delta_j)), weights summing to one.  The
    weight W(u) = 2 min(S, H)/L for u ≤ |H − S|/L and (H + S)/L − u above, as
    a density in u = h/L: W / ((1 + u²) sin 2φ).  Gauss–Legendre of ``order``
    nodes on [0, |H − S|/L] and on each of ``_FCJ_PIECES`` pieces of the rest
    in equal steps of u², nearly equal steps of the shift (δ ∝ u²), where the
    far tail of a low-angle peak would otherwise fall between nodes."""
    # |H − S| smoothed over _FCJ_SMOOTHING: S and H are exchangeable, and a fit that passes from
    # S > H to S < H would otherwise cross a kink that stalls Levenberg–Marquardt.
    a, b = math.hypot(h_l - s_l, _FCJ_SMOOTHING) - _FCJ_SMOOTHING, h_l + s_l
    nodes, gl_weights = _gauss_legendre(order)
    edges = np.sqrt(a * a + (b * b - a * a) * np.linspace(0.0, 1.0, _FCJ_PIECES + 1))
    edges = np.concatenate([[0.0], edges])
    low, high = edges[:-1, None], edges[1:, None]
    u = (low + (high - low) / 2 * (nodes + 1)).ravel()
    du = ((high - low) / 2 * gl_weights).ravel()
    height = np.concatenate([np.full(order, b - a), b - u[order:]])
    c = np.cos(np.radians(two_theta))[:, None]
    cos_phi = np.clip(c * np.sqrt(1.0 + u * u), -1.0, 1.0)
    two_phi = np.arccos(cos_phi)
    density = du * height / ((1.0 + u * u) * np.maximum(np.sin(two_phi), 1e-9))
    total = density.sum(axis=1, keepdims=True)
    return two_theta[:, None] - np.degrees(two_phi), density / np.where(total > 0, total, 1.0)


@cache
def _gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(order)


def chebyshev_basis(two_theta: np.ndarray, order: int) -> np.ndarray:
    span = two_theta[-1] - two_theta[0]
    mapped = 2.0 * (two_theta - two_theta[0]) / (span if span > 0 else 1.0) - 1.0
    return np.polynomial.chebyshev.chebvander(mapped, order - 1)


@dataclass(frozen=True)
class Windows:
    """Which points each peak component covers, as flattened (point, component) pairs."""

    point: np.ndarray
    component: np.ndarray


class ProfileModel:
    """The pattern model over one set of lines.

    The parameter vector is ``GLOBAL_NAMES``, then the lattice system's free
    reciprocal parameters (q² = ``design`` @ x), then ``background_terms``
    Chebyshev coefficients, then one integrated intensity per line.
    ``width_factor`` multiplies every FWHM: coarse stages of a fit widen the
    peaks so that a cell a percent off still overlaps its lines.
    """

    def __init__(self, two_theta: np.ndarray, wavelengths: tuple[float, ...], ratio: float,
                 design: np.ndarray, *, background_terms: int = 6, window_fwhm: float = 6.0,
                 asymmetry_order: int = 3, width_factor: float = 1.0):
        self.two_theta = np.asarray(two_theta, dtype=float)
        self.wavelengths = tuple(wavelengths[:2] if ratio > 0 else wavelengths[:1])
        self.component_factor = np.array([1.0, ratio][: len(self.wavelengths)])
        self.design = np.asarray(design, dtype=float)
        self.background = chebyshev_basis(self.two_theta, background_terms)
        self.window_fwhm = window_fwhm
        self.asymmetry_order = asymmetry_order
        self.width_factor = width_factor
        self.n_lines, self.n_cell = self.design.shape
        self.n_components = self.n_lines * len(self.wavelengths)
        self.line_of = np.tile(np.arange(self.n_lines), len(self.wavelengths))
        self.factor = np.repeat(self.component_factor, self.n_lines)
        start = len(GLOBAL_NAMES)
        self.cell_slice = slice(start, start + self.n_cell)
        self.background_slice = slice(self.cell_slice.stop, self.cell_slice.stop + background_terms)
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
    def _components(self, p: np.ndarray, derivatives: bool):
        """Per component: observed position, FWHM, η, FCJ nodes and (optionally) their derivatives."""
        q2 = self.design @ p[self.cell_slice]
        q2 = np.where(q2 > 0, q2, np.nan)
        sine = np.concatenate([lam * np.sqrt(q2) / 2.0 for lam in self.wavelengths])
        inside = sine < 1.0
        sine = np.where(inside, sine, np.nan)
        two_theta = 2.0 * DEG * np.arcsin(sine)
        theta = np.radians(two_theta) / 2.0
        position = two_theta + p[ZERO] + p[DISPLACEMENT] * np.cos(theta)
        gamma, eta, d_gamma, d_eta = tch_widths(theta, *p[U:Y + 1])
        gamma = gamma * self.width_factor
        d_gamma = d_gamma * self.width_factor
        asymmetric = p[SL] + p[HL] > 0
        if asymmetric:
            delta, omega = fcj_nodes(position, p[SL], p[HL], self.asymmetry_order)
        else:
            delta, omega = np.zeros((self.n_components, 1)), np.ones((self.n_components, 1))
        geometry = {"position": position, "gamma": gamma, "eta": eta, "delta": delta, "omega": omega,
                    "valid": inside & np.isfinite(gamma) & (gamma > 0), "theta": theta}
        if not derivatives:
            return geometry
        lam = np.repeat(np.array(self.wavelengths), self.n_lines)
        q2_all = np.tile(q2, len(self.wavelengths))
        dtth_dq2 = DEG * lam / (2.0 * np.sqrt(q2_all) * np.sqrt(1.0 - sine * sine))
        dpos_dtth = 1.0 - p[DISPLACEMENT] * np.sin(theta) / (2.0 * DEG)
        dtth_dcell = dtth_dq2[:, None] * self.design[self.line_of]            # (nc, n_cell)
        dtheta_dtth = 1.0 / (2.0 * DEG)
        geometry.update(
            dpos_dcell=dpos_dtth[:, None] * dtth_dcell,
            dgamma_dcell=(d_gamma[5] * dtheta_dtth)[:, None] * dtth_dcell,
            deta_dcell=(d_eta[5] * dtheta_dtth)[:, None] * dtth_dcell,
            dpos_ddisp=np.cos(theta), d_gamma=d_gamma[:5], d_eta=d_eta[:5],
        )
        if asymmetric:
            geometry.update(self._fcj_derivatives(position, p))
        return geometry

    def _fcj_derivatives(self, position: np.ndarray, p: np.ndarray) -> dict:
        """∂(delta, omega)/∂(position, S/L, H/L) by central differences of the node
        function: per component, a few hundred numbers, against the full pattern's
        pairs everywhere else."""
        out = {}
        for name, index, step in (("pos", None, 1e-5), ("sl", SL, 1e-6), ("hl", HL, 1e-6)):
            if index is None:
                plus = fcj_nodes(position + step, p[SL], p[HL], self.asymmetry_order)
                minus = fcj_nodes(position - step, p[SL], p[HL], self.asymmetry_order)
            else:
                up, down = p.copy(), p.copy()
                up[index] += step
                down[index] = max(down[index] - step, 0.0)
                step = (up[index] - down[index]) / 2.0
                plus = fcj_nodes(position, up[SL], up[HL], self.asymmetry_order)
                minus = fcj_nodes(position, down[SL], down[HL], self.asymmetry_order)
            out[f"ddelta_d{name}"] = (plus[0] - minus[0]) / (2 * step)
            out[f"domega_d{name}"] = (plus[1] - minus[1]) / (2 * step)
        return out

    def windows(self, p: np.ndarray) -> Windows:
        """The (point, component) pairs of every peak's window at parameters ``p``."""
        g = self._components(p, derivatives=False)
        reach = self.window_fwhm * g["gamma"]
        low = g["position"] - reach - np.maximum(g["delta"].max(axis=1), 0.0)
        high = g["position"] + reach - np.minimum(g["delta"].min(axis=1), 0.0)
        valid = g["valid"]
        start = np.searchsorted(self.two_theta, np.where(valid, low, np.inf))
        stop = np.searchsorted(self.two_theta, np.where(valid, high, -np.inf))
        counts = np.maximum(stop - start, 0)
        component = np.repeat(np.arange(self.n_components), counts)
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        point = np.arange(counts.sum()) - offsets + np.repeat(start, counts)
        return Windows(point, component)

    # -- pattern and Jacobian ------------------------------------------------------------------
    def _pairs(self, p: np.ndarray, windows: Windows, derivatives: bool):
        g = self._components(p, derivatives)
        c, i = windows.component, windows.point
        dx0 = self.two_theta[i] - g["position"][c]
        gamma, eta = g["gamma"][c], g["eta"][c]
        unit = np.zeros(c.size)
        parts = {k: np.zeros(c.size) for k in ("pos", "gamma", "eta", "sl", "hl")} if derivatives else None
        asymmetric = "ddelta_dpos" in g
        for j in range(g["delta"].shape[1]):
            omega = g["omega"][c, j]
            value, d_dx, d_dgamma, d_deta = pseudo_voigt(dx0 + g["delta"][c, j], gamma, eta, self.window_fwhm, derivatives)
            unit += omega * value
            if derivatives:
                if asymmetric:
                    # f(2θ' − pos + δ_j): ∂/∂pos = −f'(1 − ∂δ_j/∂pos), plus the weights' own change.
                    parts["pos"] += -omega * d_dx * (1.0 - g["ddelta_dpos"][c, j]) + g["domega_dpos"][c, j] * value
                    parts["sl"] += omega * d_dx * g["ddelta_dsl"][c, j] + g["domega_dsl"][c, j] * value
                    parts["hl"] += omega * d_dx * g["ddelta_dhl"][c, j] + g["domega_dhl"][c, j] * value
                else:
                    parts["pos"] -= omega * d_dx
                parts["gamma"] += omega * d_dgamma
                parts["eta"] += omega * d_deta
        return g, unit, parts

    def background_of(self, p: np.ndarray) -> np.ndarray:
        return self.background @ p[self.background_slice]

    def peak_profiles(self, p: np.ndarray, windows: Windows | None = None) -> tuple[Windows, np.ndarray]:
        """The windows and, per pair, the line's unit-intensity profile (Kα2 ratio included)."""
        windows = windows if windows is not None else self.windows(p)
        _, unit, _ = self._pairs(p, windows, derivatives=False)
        return windows, unit * self.factor[windows.component]

    def evaluate(self, p: np.ndarray, windows: Windows | None = None) -> np.ndarray:
        """The calculated pattern at the model's points."""
        windows, unit = self.peak_profiles(p, windows)
        intensity = p[self.intensity_slice][self.line_of[windows.component]]
        return self.background_of(p) + np.bincount(windows.point, unit * intensity, minlength=self.two_theta.size)

    def jacobian(self, p: np.ndarray, windows: Windows | None = None, columns: np.ndarray | None = None) -> sp.csc_matrix:
        """∂(calculated pattern)/∂p, (points × parameters), as a sparse matrix:
        the intensity block has one window of non-zeros per line; the global,
        cell and background columns are dense.  ``columns`` (ascending) limits it
        to those parameters, and the work to what they need."""
        wanted = np.arange(self.size) if columns is None else np.asarray(columns, dtype=int)
        peak_columns = wanted[wanted < self.cell_slice.stop]
        background_columns = wanted[(wanted >= self.background_slice.start) & (wanted < self.background_slice.stop)]
        line_columns = wanted[wanted >= self.intensity_slice.start] - self.intensity_slice.start
        n = self.two_theta.size
        blocks = []
        if peak_columns.size or line_columns.size:
            windows = windows if windows is not None else self.windows(p)
            g, unit, parts = self._pairs(p, windows, derivatives=bool(peak_columns.size))
            c, i = windows.component, windows.point
        if peak_columns.size:
            amplitude = self.factor[c] * p[self.intensity_slice][self.line_of[c]]
            for key in parts:
                parts[key] *= amplitude
            pair_columns = np.zeros((c.size, self.cell_slice.stop))
            pair_columns[:, ZERO] = parts["pos"]
            pair_columns[:, DISPLACEMENT] = parts["pos"] * g["dpos_ddisp"][c]
            for k, index in enumerate((U, V, W, X, Y)):
                pair_columns[:, index] = parts["gamma"] * g["d_gamma"][k][c] + parts["eta"] * g["d_eta"][k][c]
            if "ddelta_dpos" in g:
                pair_columns[:, SL], pair_columns[:, HL] = parts["sl"], parts["hl"]
            pair_columns[:, self.cell_slice] = (parts["pos"][:, None] * g["dpos_dcell"][c]
                                                + parts["gamma"][:, None] * g["dgamma_dcell"][c]
                                                + parts["eta"][:, None] * g["deta_dcell"][c])
            summing = sp.csr_matrix((np.ones(c.size), (i, np.arange(c.size))), shape=(n, c.size))
            blocks.append(sp.csc_matrix(summing @ pair_columns[:, peak_columns]))
        if background_columns.size:
            blocks.append(sp.csc_matrix(self.background[:, background_columns - self.background_slice.start]))
        if line_columns.size:
            lines = sp.csc_matrix((unit * self.factor[c], (i, self.line_of[c])), shape=(n, self.n_lines))
            blocks.append(lines if line_columns.size == self.n_lines else lines[:, line_columns])
        if not blocks:
            return sp.csc_matrix((n, 0))
        return sp.hstack(blocks, format="csc")

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

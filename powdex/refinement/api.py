"""``powdex.refine``: a Pawley or Le Bail fit of a cell and space group to a measured pattern."""

from __future__ import annotations

import logging

import numpy as np

from powdex.crystal import PARAMETER_NAMES, Cell, LatticeSystem
from powdex.optim.least_squares import LeastSquares
from powdex.patterns import Pattern
from powdex.refinement.errors import RefinementError
from powdex.refinement.fit import (
    CONSTANT_LORENTZIAN_GROUP,
    GROUPS,
    OPTIONAL_GROUPS,
    STRAIN_GROUP,
    FitState,
    Method,
    StagedFit,
)
from powdex.refinement.profile import (
    GLOBAL_NAMES,
    HL,
    SHIFTS,
    SL,
    ZERO,
    ProfileModel,
    U,
    V,
    W,
    X,
    Y,
    Z,
    k_beta_line,
    shifted_positions,
)
from powdex.refinement.reflections import (
    Lines,
    check_cell_fits,
    lattice_system_of,
    reflection_lines,
    resolve_space_group,
)
from powdex.refinement.result import (
    LEAST_SQUARES_CONVENTION,
    Parameter,
    RefinementResult,
    Statistics,
    berar_lelann_factor,
    durbin_watson,
)
from powdex.refinement.stephens import StephensWidth, strain_start

logger = logging.getLogger(__name__)

# Typical of a laboratory Bragg–Brentano diffractometer (FWHM about 0.07–0.1° 2θ).
DEFAULT_PROFILE = {"U": 0.004, "V": -0.002, "W": 0.003, "X": 0.02, "Y": 0.01, "S/L": 0.02, "H/L": 0.01}
MIN_POINTS = 20
LINE_MARGIN = 1.0  # degrees 2θ
# Relative χ² change at which a fit is done: a change of 1 in χ² is one standard
# uncertainty, and χ² is about the number of points, so this is far below it.
REFINEMENT_FTOL = 1e-6


def _select_points(pattern: Pattern, two_theta_range: tuple[float, float] | None,
                   excluded: tuple[tuple[float, float], ...]) -> np.ndarray:
    x = pattern.two_theta
    keep = np.isfinite(pattern.intensity) & np.isfinite(pattern.sigma)
    if two_theta_range is not None:
        keep &= (x >= two_theta_range[0]) & (x <= two_theta_range[1])
    for low, high in excluded:
        keep &= ~((x >= low) & (x <= high))
    if keep.sum() < MIN_POINTS:
        where = "" if two_theta_range is None else f" in {two_theta_range[0]}–{two_theta_range[1]}° 2θ"
        raise RefinementError(f"{pattern.source}: {int(keep.sum())} points{where} outside the excluded regions; "
                              f"a fit needs at least {MIN_POINTS}")
    return keep


def _bounds(model: ProfileModel, p0: np.ndarray, cell_range: float,
            parameter_bounds: dict[str, tuple[float, float]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.full(model.size, -np.inf), np.full(model.size, np.inf)
    given = {GLOBAL_NAMES.index(name): bound for name, bound in (parameter_bounds or {}).items()}
    for index, (low, high) in {ZERO: (-1.0, 1.0), U: (0.0, 1.0), V: (-1.0, 1.0), W: (1e-6, 1.0), X: (0.0, 1.0),
                               Y: (0.0, 1.0), Z: (-1.0, 1.0), SL: (1e-4, 0.2), HL: (1e-4, 0.2),
                               **dict.fromkeys(SHIFTS, (-1.0, 1.0)), **given}.items():
        lower[index], upper[index] = low, high
    cell = p0[model.cell_slice]
    scale = cell_range * np.maximum(np.abs(cell), np.abs(cell[: min(3, cell.size)]).mean())
    lower[model.cell_slice], upper[model.cell_slice] = cell - scale, cell + scale
    return lower, upper


def _perturbed_cells(cell: Cell, system: LatticeSystem, starts: int, error: float, seed: int) -> list[Cell]:
    """The given cell, then ``starts − 1`` cells with each free length and angle
    scaled by a uniform factor in [1 − error, 1 + error]."""
    rng = np.random.default_rng(seed)
    free = system.free_parameters(cell)
    cells = [cell]
    while len(cells) < starts:
        try:
            cells.append(system.cell_from_free_parameters(free * (1 + rng.uniform(-error, error, free.size))))
        except ValueError:  # an angle set that forms no cell: draw again
            continue
    return cells


def refine(
    pattern: Pattern,
    cell: Cell | tuple[float, ...],
    spacegroup: str | int,
    *,
    method: Method = "pawley",
    starts: int = 1,
    seed: int = 0,
    cell_error: float = 0.01,
    executor=None,
    store=None,
    study: str | None = None,
    two_theta_range: tuple[float, float] | None = None,
    excluded: tuple[tuple[float, float], ...] = (),
    background_terms: int = 6,
    profile: dict[str, float] | None = None,
    parameter_bounds: dict[str, tuple[float, float]] | None = None,
    zero: float = 0.0,
    refine_groups: tuple[str, ...] = GROUPS,
    asymmetry: bool = True,
    coarse_stages: tuple[tuple[float, int], ...] = ((4.0, 20), (2.0, 60)),
    window_fwhm: float = 6.0,
    lebail_cycles: int = 8,
    pawley_penalty: float = 100.0,
    minimizer: LeastSquares | None = None,
    neighbour: RefinementResult | None = None,
    instrument=None,
    k_beta_ratio: float | None = None,
    anisotropic_strain: bool = False,
    serial_correlation: bool = False,
) -> RefinementResult:
    """Refine ``cell`` in ``spacegroup`` against ``pattern`` by a Pawley or Le Bail fit.

    ``starts`` > 1 adds starts from cells whose free parameters are off by up
    to ± ``cell_error`` (relative), drawn from ``seed``: an ensemble of Pawley
    fits (``StagedFit.ensemble``: ``powdex.optim.run_ensemble`` with a
    ``Points`` strategy) on ``executor`` (a ``powdex.optim`` executor; in
    this process when None), kept in ``store`` (a ``powdex.optim`` results
    store) under ``study``, so that the same call resumes; the best fit
    (lowest χ²) is returned, for Le Bail refined from it by Le Bail cycles.  ``profile`` overrides the starting U, V, W
    (deg²), X, Y (deg), S/L and H/L of ``DEFAULT_PROFILE``, ``parameter_bounds`` the
    (lower, upper) bounds of any of ``GLOBAL_NAMES`` (U ≥ 0, W > 0, X, Y ≥ 0 unless given; GSAS-II's
    constant Lorentzian Z, 0 unless ``profile`` gives it, is refined only in the ``constant_lorentzian`` group); ``asymmetry=False``
    leaves the Finger–Cox–Jephcoat term out.  ``coarse_stages`` are the Le Bail
    stages that the extra starts run first, as (FWHM factor, lines fitted from
    low angle) pairs; the given cell starts with the staged fit itself.  ``refine_groups`` limits what is
    refined (of background, intensities, cell, zero, profile, asymmetry,
    displacement).  ``excluded`` regions and points outside
    ``two_theta_range`` are left out of the fit.

    ``method="lebail"`` runs Le Bail cycles (at most ``lebail_cycles``) from the
    staged Pawley fit; a fit whose χ² runs away ends at its last good state with
    ``diverged`` set and ``converged`` False (``StagedFit.run``).

    ``neighbour``, the refinement of a similar pattern (the previous one of a
    series), seeds the fit: its profile, zero shift, displacement, background
    and the intensities of the lines it shares start this one, which then
    refines everything at once instead of in stages.

    ``instrument`` (a ``powdex.instrument.Instrument``) holds the instrumental
    profile (its constant Lorentzian Z too), asymmetry and zero shift at its values: of the profile only X and
    Y are refined, the instrument's plus the sample's Lorentzian broadening
    (``powdex.refinement.broadening`` separates them), from the instrument's values, which bound them below
    where they are negative.  Specimen displacement,
    transparency and capillary displacement belong to the sample and its
    mounting, as GSAS-II treats them: they start at the instrument's values
    and are refined as ``refine_groups`` says (held, the fluorapatite pattern
    of benchmarks/validation_published.py ends 41 esd off in a).

    ``k_beta_ratio`` (Kβ/Kα1 intensity, the instrument's ``k_beta_ratio`` when None) fits every line
    once more at the Kβ wavelength of the tube whose Kα1 the pattern's first wavelength is, at that
    fraction of the line's intensity: a β filter leaves a percent or so, which unfitted stands in the
    residual beside every strong line and pulls the profile.  The lines past the range's end whose
    Kβ replicas fall in it are fitted too, their intensities known from those replicas alone.

    ``anisotropic_strain`` adds Stephens's (1999) S_HKL of the lattice system's
    Laue class (``powdex.refinement.stephens``), refined, reported as
    ``strain_S400``…: a Lorentzian width per line on top of the profile's.
    They take the place of the isotropic strain term X, which is then held.

    ``serial_correlation`` scales every standard uncertainty by the Bérar–Lelann
    (1991) factor of the residuals' Durbin–Watson statistic
    (``result.berar_lelann_factor``); without it they are the plain
    least-squares ones.  Either way the result states its convention
    (``esd_convention``) and the statistic (``durbin_watson``).
    """
    if instrument is not None:
        profile = dict(instrument.profile, **(profile or {}))
        zero = instrument.zero
        held = ("profile", CONSTANT_LORENTZIAN_GROUP, "asymmetry", "zero")
        refine_groups = tuple(g for g in refine_groups if g not in held) + ("sample_broadening",)
    if method not in ("pawley", "lebail"):
        raise RefinementError(f"method: {method!r} is neither 'pawley' nor 'lebail'")
    unknown = sorted(set(refine_groups) - set(GROUPS + OPTIONAL_GROUPS))
    if unknown:
        raise RefinementError(f"refine_groups: unknown {', '.join(unknown)}; known: {', '.join(GROUPS + OPTIONAL_GROUPS)}")
    if anisotropic_strain:
        refine_groups = (*refine_groups, STRAIN_GROUP)
    if not pattern.wavelengths:
        raise RefinementError(f"{pattern.source}: no wavelength; give one (or the anode) to fit the pattern")
    try:
        cell = cell if isinstance(cell, Cell) else Cell(*cell)
    except (TypeError, ValueError) as error:
        raise RefinementError(f"cell: {error}") from None
    group = resolve_space_group(spacegroup)
    system = lattice_system_of(group)
    check_cell_fits(cell, group, system)
    keep = _select_points(pattern, two_theta_range, excluded)
    two_theta, observed = pattern.two_theta[keep], pattern.intensity[keep]
    positive = pattern.sigma[keep][pattern.sigma[keep] > 0]
    sigma = np.maximum(pattern.sigma[keep], positive.min() if positive.size else 1.0)

    wavelength = pattern.wavelengths[0]
    if k_beta_ratio is None and instrument is not None:
        k_beta_ratio = instrument.k_beta_ratio
    k_beta = k_beta_line(wavelength, pattern.radiation, k_beta_ratio, pattern.source)
    lines = _lines_over(cell, group, system, two_theta, wavelength, k_beta[0] if k_beta else None)
    if not len(lines):
        raise RefinementError(f"cell {cell} in {group.xhm()} has no reflection between {two_theta[0]:.2f}° and "
                              f"{two_theta[-1]:.2f}° 2θ at λ = {wavelength} Å")
    if len(lines) > two_theta.size // 2:
        raise RefinementError(f"cell {cell} in {group.xhm()} has {len(lines)} reflections for {two_theta.size} "
                              "points: too many to fit")

    strain = StephensWidth.of(system, lines.hkl) if anisotropic_strain else None
    model = ProfileModel(two_theta, pattern.wavelengths, pattern.ratio, lines.design,
                         background_terms=background_terms, window_fwhm=window_fwhm, extra_width=strain,
                         k_beta=k_beta)
    p0 = np.zeros(model.size)
    shape = dict(DEFAULT_PROFILE, **(profile or {}))
    unknown = sorted(set(shape) - set(GLOBAL_NAMES))
    if unknown:
        raise RefinementError(f"profile: unknown parameters {', '.join(unknown)}; known: U, V, W, X, Y, Z, S/L, H/L")
    unknown = sorted(set(parameter_bounds or {}) - set(GLOBAL_NAMES))
    if unknown:
        raise RefinementError(f"parameter_bounds: unknown parameters {', '.join(unknown)}; known: "
                              f"{', '.join(GLOBAL_NAMES)}")
    for name, value in shape.items():
        p0[GLOBAL_NAMES.index(name)] = value
    if not asymmetry:
        p0[SL] = p0[HL] = 0.0
    p0[ZERO] = zero
    if instrument is not None:
        for k in SHIFTS:
            p0[k] = getattr(instrument, GLOBAL_NAMES[k])
    p0[model.background_slice.start] = float(np.percentile(observed, 10))
    p0[model.intensity_slice] = 1.0
    groups = tuple(g for g in refine_groups if asymmetry or g != "asymmetry")
    p0[model.cell_slice] = system.free_reciprocal_parameters(cell)
    if strain is not None:
        p0[model.width_slice] = strain_start(strain, lines.design @ p0[model.cell_slice])
    if neighbour is not None:
        _seed_from(neighbour, model, lines, p0)
    lower, upper = _bounds(model, p0, cell_range=0.1, parameter_bounds=parameter_bounds)
    if instrument is not None:
        # The instrument's profile, asymmetry and zero are held as calibrated, even where a free fit's bounds
        # would not reach (a calibration may leave U < 0): the bounds widen to take them, or a fit clips them.
        # So for X and Y, which start from the instrument's: a GSAS-II calibration's X < 0 made up for by its
        # Z (powdex's Y) would otherwise be clipped to 0, and the sample credited with the difference.
        calibrated_columns = [ZERO, U, V, W, X, Y, Z, SL, HL]
        lower[calibrated_columns] = np.minimum(lower[calibrated_columns], p0[calibrated_columns])
        upper[calibrated_columns] = np.maximum(upper[calibrated_columns], p0[calibrated_columns])
    fit = StagedFit(model, observed, sigma, lower, upper, method=method, groups=groups,
                    coarse_stages=coarse_stages if "cell" in groups else (), lebail_cycles=lebail_cycles,
                    pawley_penalty=pawley_penalty, minimizer=minimizer or LeastSquares(ftol=REFINEMENT_FTOL))

    cells = _perturbed_cells(cell, system, max(1, starts), cell_error, seed)
    if len(cells) == 1:
        # The given cell is fitted directly: the coarse stages are for the starts drawn a percent
        # away, and on real data they can pull a cell that was already right off its lines.
        best = fit.run(p0, staged=neighbour is None, coarse=False)
        chi2 = np.array([best.chi2 if np.isfinite(best.chi2) else np.inf])
    else:
        starting = []
        for start_cell in cells:
            p = p0.copy()
            p[model.cell_slice] = system.free_reciprocal_parameters(start_cell)
            starting.append(p)
        pawley = fit if method == "pawley" else fit.with_method("pawley")
        best, chi2 = pawley.ensemble(starting, executor=executor, store=store, study=study)
        if method == "lebail" and np.isfinite(best.chi2):
            # The ensemble finds the basin by Pawley fits; Le Bail cycles go on from the best of them.
            best = fit.run(best.parameters, staged=False)
    if not np.isfinite(best.chi2):
        raise RefinementError(f"{pattern.source}: no start gave a finite fit ({best.message})")
    at_best = int(np.sum(chi2 <= chi2.min() * 1.001))
    return _result(pattern, model, fit, lines, group, system, best, chi2, at_best, method, serial_correlation)


def _lines_over(cell: Cell, group, system: LatticeSystem, two_theta: np.ndarray, wavelength: float,
                shortest: float | None = None) -> Lines:
    """The lines a fit over ``two_theta`` places: up to a degree outside the range, whose
    tails reach in and which a cell being refined moves; with a ``shortest`` wavelength (a
    fitted Kβ), also the lines past the range whose lines at that wavelength fall in it."""
    q2_min, q2_max = ((2.0 * np.sin(np.radians(np.clip(t, 0.0, 179.0)) / 2.0) / lam) ** 2
                      for t, lam in ((two_theta[0] - LINE_MARGIN, wavelength),
                                     (two_theta[-1] + LINE_MARGIN, shortest or wavelength)))
    return reflection_lines(cell, group, system, q2_min, q2_max)


def fit_size(pattern: Pattern, cell: Cell, spacegroup: str | int, *,
             two_theta_range: tuple[float, float] | None = None,
             excluded: tuple[tuple[float, float], ...] = ()) -> tuple[int, int]:
    """The points and reflection lines a ``refine`` of ``cell`` in ``spacegroup`` would fit,
    without fitting: what an information criterion charges before any χ² is known."""
    if not pattern.wavelengths:
        raise RefinementError(f"{pattern.source}: no wavelength; give one (or the anode) to fit the pattern")
    group = resolve_space_group(spacegroup)
    system = lattice_system_of(group)
    keep = _select_points(pattern, two_theta_range, excluded)
    return int(keep.sum()), len(_lines_over(cell, group, system, pattern.two_theta[keep], pattern.wavelengths[0]))


def _seed_from(neighbour: RefinementResult, model: ProfileModel, lines: Lines, p: np.ndarray) -> None:
    """Set ``p``'s profile, background and shared lines' intensities from ``neighbour``'s."""
    values = {parameter.name: parameter.value for parameter in neighbour.parameters}
    for index, name in enumerate(GLOBAL_NAMES):
        if name in values:
            p[index] = values[name]
    terms = model.background_slice.stop - model.background_slice.start
    for k in range(terms):
        p[model.background_slice.start + k] = values.get(f"background_{k}", 0.0)
    known = {tuple(hkl): intensity for hkl, intensity in zip(neighbour.hkl.tolist(), neighbour.line_intensity)
             if np.isfinite(intensity)}
    typical = float(np.median(list(known.values()))) if known else 1.0
    p[model.intensity_slice] = [known.get(tuple(hkl), typical) for hkl in lines.hkl.tolist()]


def _result(pattern: Pattern, model: ProfileModel, fit: StagedFit, lines: Lines, group, system: LatticeSystem,
            state: FitState, chi2: np.ndarray, at_best: int, method: str, serial_correlation: bool) -> RefinementResult:
    p = state.parameters
    calculated = model.evaluate(p)
    weight = fit.sqrt_weight ** 2
    observed = fit.observed
    free = state.free
    at_bound = (p[free] <= fit.lower[free]) | (p[free] >= fit.upper[free])
    varied = free[~at_bound]
    n_points = observed.size
    n_parameters = free.size + (model.n_lines if method == "lebail" else 0)
    dof = max(n_points - n_parameters, 1)
    residual = float(np.sum(weight * (observed - calculated) ** 2))
    reduced = residual / dof
    weighted_total = float(np.sum(weight * observed ** 2))
    stats = Statistics(
        rwp=float(np.sqrt(residual / weighted_total)), rp=float(np.sum(np.abs(observed - calculated)) / np.sum(np.abs(observed))),
        rexp=float(np.sqrt(dof / weighted_total)), gof=float(np.sqrt(reduced)), reduced_chi2=reduced,
        points=n_points, parameters=n_parameters,
    )
    d = durbin_watson(fit.sqrt_weight * (observed - calculated))
    factor, convention = 1.0, LEAST_SQUARES_CONVENTION
    if serial_correlation:
        factor = berar_lelann_factor(d)
        convention = (f"{LEAST_SQUARES_CONVENTION}, times the Berar-Lelann factor {factor:.3f} for serially "
                      f"correlated residuals (Durbin-Watson d = {d:.3f})")
    esd = np.full(model.size, np.nan)
    covariance = None
    if varied.size:
        jacobian = (model.jacobian(p, columns=varied).multiply(fit.sqrt_weight[:, None])).tocsc()
        covariance = _inverse(np.asarray((jacobian.T @ jacobian).toarray())) * reduced * factor ** 2
        esd[varied] = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    x = p[model.cell_slice]
    refined_cell = system.cell(x)
    cell_esd = _cell_esd(system, x, varied, covariance, model)
    flagged = set(free[at_bound].tolist())
    refined = set(free.tolist())
    strain_names = [f"strain_{name}" for name in model.extra_width.names] if model.extra_width is not None else []
    names = list(GLOBAL_NAMES) + [f"cell_{name}" for name in _reciprocal_names(system)] + strain_names + \
        [f"background_{k}" for k in range(model.background_slice.stop - model.background_slice.start)]
    parameters = [Parameter(name, float(p[i]), None if not np.isfinite(esd[i]) else float(esd[i]),
                            i in refined, i in flagged) for i, name in enumerate(names)
                  if not (name in ("S/L", "H/L") and p[SL] + p[HL] == 0)
                  and not ((i in SHIFTS or i == Z) and i not in refined and p[i] == 0)]
    q2 = lines.design @ x
    sine = np.clip(model.wavelengths[0] * np.sqrt(q2) / 2.0, -1.0, 1.0)
    two_theta_lines = np.degrees(2.0 * np.arcsin(sine))
    line_position = shifted_positions(p, two_theta_lines)
    intensity_esd = esd[model.intensity_slice] if method == "pawley" else np.full(model.n_lines, np.nan)
    message = state.message
    if flagged:
        message += f"; held at a bound (no esd): {', '.join(names[i] if i < len(names) else f'I{i - model.intensity_slice.start}' for i in sorted(flagged))}"
    return RefinementResult(
        method=method, space_group=group.xhm(), lattice_system=system.value, source=pattern.source,
        wavelengths=model.wavelengths, ratio=float(pattern.ratio), radiation=pattern.radiation, k_beta=model.k_beta,
        cell=refined_cell, cell_esd=cell_esd, parameters=parameters, statistics=stats,
        hkl=lines.hkl, multiplicity=lines.multiplicity, line_two_theta=line_position,
        line_intensity=p[model.intensity_slice].copy(), line_intensity_esd=intensity_esd,
        two_theta=model.two_theta, observed=observed, calculated=calculated,
        background=model.background_of(p), sigma=1.0 / fit.sqrt_weight,
        starts=chi2.tolist(), starts_at_best=at_best, converged=state.converged, message=message,
        durbin_watson=d, esd_factor=factor, esd_convention=convention, diverged=state.diverged,
    )


def _inverse(normal: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric normal matrix by its Cholesky factor (LAPACK
    potrf/potri, a third of a general inverse's work), or the pseudo-inverse of
    a singular one."""
    from scipy.linalg.lapack import dpotrf, dpotri

    factor, info = dpotrf(normal, lower=False, clean=False)
    if info == 0:
        inverse, info = dpotri(factor, lower=False)
        if info == 0:
            return np.triu(inverse) + np.triu(inverse, 1).T
    return np.linalg.pinv(normal)


def _reciprocal_names(system: LatticeSystem) -> list[str]:
    from powdex.crystal import COEFFICIENT_NAMES

    return ["+".join(COEFFICIENT_NAMES[j] for j in np.flatnonzero(row)) for row in system.coefficient_map]


def _cell_esd(system: LatticeSystem, x: np.ndarray, varied: np.ndarray, covariance, model: ProfileModel):
    """Esds of a, b, c, α, β, γ from the reciprocal parameters' covariance, by
    the Jacobian of the lattice parameters (central differences)."""
    positions = [k for k, index in enumerate(varied) if model.cell_slice.start <= index < model.cell_slice.stop]
    if covariance is None or len(positions) != x.size:
        return {name: None for name in PARAMETER_NAMES}
    sub = covariance[np.ix_(positions, positions)]
    jacobian = np.empty((6, x.size))
    for k in range(x.size):
        step = 1e-7 * abs(x[k]) + 1e-12
        up, down = x.copy(), x.copy()
        up[k] += step
        down[k] -= step
        jacobian[:, k] = (system.lattice_parameters(up) - system.lattice_parameters(down)) / (2 * step)
    variance = np.einsum("ij,jk,ik->i", jacobian, sub, jacobian)
    return {name: (float(np.sqrt(v)) if v > 1e-30 else None) for name, v in zip(PARAMETER_NAMES, variance)}


def start_from_index(document: dict, candidate: int = 0, source: str = "index result") -> tuple[Cell, str, float]:
    """The cell, best space group and zero shift of candidate ``candidate`` (0: the
    best) of a ``powdex index`` JSON document, to start a refinement from."""
    candidates = document.get("candidates") if isinstance(document, dict) else None
    if not candidates:
        raise RefinementError(f"{source}: no candidates (not a powdex index result?)")
    if not 0 <= candidate < len(candidates):
        raise RefinementError(f"{source}: candidate {candidate + 1} asked for, {len(candidates)} listed")
    chosen = candidates[candidate]
    try:
        cell = Cell(*(float(chosen[name]) for name in PARAMETER_NAMES))
    except (KeyError, TypeError, ValueError) as error:
        raise RefinementError(f"{source}: candidate {candidate + 1} has no valid cell ({error})") from None
    classes = chosen.get("space_groups") or []
    groups = classes[0].get("space_groups") if classes and isinstance(classes[0], dict) else None
    if not groups:
        raise RefinementError(f"{source}: candidate {candidate + 1} names no space group; give one")
    return cell, str(groups[0]), float(chosen.get("zero_shift") or 0.0)

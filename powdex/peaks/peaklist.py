"""The validated, immutable list of observed peaks that the indexer consumes."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .errors import PeakInputError
from .units import MAX_WAVELENGTH, MIN_WAVELENGTH, d_to_q2, q2_to_d, q2_to_two_theta, two_theta_to_q2

UNITS = ("q2", "d", "2theta")

# Two positions closer than this (relative, in q²) are the same peak listed twice:
# 5·10⁻⁵ is 0.0007° 2θ at 28° and 0.003° at 90° (Δ2θ = tan θ · Δq²/q² radians),
# finer than even a synchrotron diffractometer resolves two peaks.
DUPLICATE_RELATIVE_TOLERANCE = 5e-5

_UNIT_NAMES = {"q2": "q²", "d": "d-spacing", "2theta": "2θ"}


@dataclass(frozen=True)
class EntryLabels:
    """How error messages name entry ``i`` of the input.

    Entries read from a text file are named by their line number
    (``peaks.txt:7``, ``line 7``); entries of an array by their index
    (``<array>[3]``, ``entry 3``).
    """

    source: str
    line_numbers: Sequence[int] | None = None

    def where(self, i: int) -> str:
        if self.line_numbers is None:
            return f"{self.source}[{i}]"
        return f"{self.source}:{self.line_numbers[i]}"

    def name(self, i: int) -> str:
        if self.line_numbers is None:
            return f"entry {i}"
        return f"line {self.line_numbers[i]}"


def first_problem(labels: EntryLabels, checks) -> None:
    """Raise for the earliest entry failing any of ``checks``.

    ``checks`` are ``(bad_mask, describe)`` pairs; ``describe(i)`` words the
    problem of entry ``i``.  Reporting the earliest entry, whatever the check,
    lets the user fix a file top to bottom.
    """
    worst = None
    for bad, describe in checks:
        hits = np.flatnonzero(bad)
        if hits.size and (worst is None or hits[0] < worst[0]):
            worst = (hits[0], describe)
    if worst is not None:
        i, describe = worst
        raise PeakInputError(f"{labels.where(i)}: {describe(i)}")


def validate_positions(positions: np.ndarray, units: str, labels: EntryLabels) -> None:
    name = _UNIT_NAMES[units]
    finite = np.isfinite(positions)
    checks = [(~finite, lambda i: f"non-finite {name} {positions[i]}")]
    with np.errstate(invalid="ignore"):
        if units == "2theta":
            outside = finite & ~((positions > 0) & (positions < 180))
            checks.append((outside, lambda i: f"2θ {positions[i]:g} outside (0, 180)"))
        else:
            checks.append((finite & (positions < 0), lambda i: f"negative {name} {positions[i]:g}"))
            checks.append((positions == 0, lambda i: f"zero {name}"))
    first_problem(labels, checks)


def validate_intensity(intensity: np.ndarray, labels: EntryLabels) -> None:
    finite = np.isfinite(intensity)
    first_problem(
        labels,
        [
            (~finite, lambda i: f"non-finite intensity {intensity[i]}"),
            (finite & (intensity < 0), lambda i: f"negative intensity {intensity[i]:g}"),
        ],
    )


def validate_no_duplicates(q2_sorted: np.ndarray, order: np.ndarray, labels: EntryLabels) -> None:
    """``q2_sorted = q2[order]``; duplicates are neighbours once sorted."""
    gaps = np.diff(q2_sorted)
    same = gaps <= DUPLICATE_RELATIVE_TOLERANCE * q2_sorted[1:]
    pairs = [sorted((order[k], order[k + 1])) for k in np.flatnonzero(same)]
    if pairs:
        earlier, later = min(pairs, key=lambda pair: pair[1])
        raise PeakInputError(
            f"{labels.where(later)}: duplicate peak (same position as {labels.name(earlier)})"
        )


def _float_vector(values, what: str) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, eq=False)
class PeakList:
    """Observed peak positions, sorted by increasing q² (increasing angle).

    ``q2`` is in Å⁻²; ``intensity`` is aligned with it (ones when unknown);
    ``two_theta`` holds the measured 2θ in degrees when the input was 2θ,
    otherwise None; ``wavelength`` (Å) is None when unknown, and
    ``wavelength_assumed`` says it is a default (Cu Kα1, say) that neither
    the user nor the file gave.  ``notes`` are what reading decided that the
    user should hear (peaks left out, a header or a wavelength overridden, a
    unit that looks wrong); ``two_theta_sigma`` the σ(2θ) of each peak in
    degrees when the input gave them; ``fwhm`` each peak's full width at half
    maximum in degrees 2θ when a peak search measured it.  The arrays are read-only.  Construct through :meth:`from_values` or
    :func:`powdex.peaks.read_peaks`, which validate; the direct constructor
    only sorts and checks shapes.  ``standard_set_aside``: the same pattern's
    picks read again without the lines of a certified standard seen among
    these (:class:`StandardSetAside`), which indexing searches when these
    find nothing decisive; None when no standard was seen or one was named.
    """

    q2: np.ndarray
    intensity: np.ndarray
    source: str = "<array>"
    wavelength: float | None = None
    two_theta: np.ndarray | None = None
    wavelength_assumed: bool = False
    notes: tuple[str, ...] = ()
    # σ(2θ) of each peak in degrees, when the input gave one (a peak search, a DICVOL file's individual errors).
    two_theta_sigma: np.ndarray | None = None
    # FWHM in degrees 2θ of each peak, when a peak search of a measured pattern gave one.
    fwhm: np.ndarray | None = None
    standard_set_aside: "StandardSetAside | None" = None

    def __post_init__(self):
        q2 = _float_vector(self.q2, "q2")
        intensity = _float_vector(self.intensity, "intensity")
        columns = {"q2": q2, "intensity": intensity}
        if self.two_theta is not None:
            columns["two_theta"] = _float_vector(self.two_theta, "two_theta")
        if self.two_theta_sigma is not None:
            columns["two_theta_sigma"] = _float_vector(self.two_theta_sigma, "two_theta_sigma")
        if self.fwhm is not None:
            columns["fwhm"] = _float_vector(self.fwhm, "fwhm")
        for field, column in columns.items():
            if column.shape != q2.shape:
                raise ValueError(f"{field} has {column.size} values but q2 has {q2.size}")
        order = np.argsort(q2, kind="stable")
        for field, column in columns.items():
            column = column[order]
            column.setflags(write=False)
            object.__setattr__(self, field, column)

    @classmethod
    def from_values(
        cls,
        values,
        units: str = "q2",
        wavelength: float | None = None,
        intensity=None,
        source: str = "<array>",
        *,
        line_numbers: Sequence[int] | None = None,
    ) -> "PeakList":
        """Validate peak positions given in ``units`` and build a PeakList.

        ``units`` is ``'q2'`` (Å⁻²), ``'d'`` (Å) or ``'2theta'`` (degrees,
        which needs ``wavelength``).  Raises :class:`PeakInputError` for
        non-finite, non-positive or out-of-range positions, negative or
        non-finite intensities, and duplicate positions.  ``line_numbers``
        (the file line of each value) lets file readers report ``file:line``.
        """
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        labels = EntryLabels(source, line_numbers)
        positions = np.asarray(values, dtype=np.float64)
        if positions.ndim != 1:
            raise PeakInputError(f"{source}: positions must be one-dimensional, got shape {positions.shape}")
        if positions.size == 0:
            raise PeakInputError(f"{source}: no peaks")
        if units == "2theta" and wavelength is None:
            raise PeakInputError(f"{source}: positions are 2θ but no wavelength was given")
        # Non-positive and non-finite wavelengths get the unit conversion's own refusal.
        if wavelength is not None and wavelength > 0 and not MIN_WAVELENGTH <= wavelength <= MAX_WAVELENGTH:
            raise PeakInputError(
                f"{source}: wavelength {wavelength:g} Å is implausible (diffraction uses {MIN_WAVELENGTH:g} to "
                f"{MAX_WAVELENGTH:g} Å)"
            )
        validate_positions(positions, units, labels)
        if intensity is None:
            intensity = np.ones_like(positions)
        else:
            intensity = np.asarray(intensity, dtype=np.float64)
            if intensity.shape != positions.shape:
                raise PeakInputError(
                    f"{source}: {intensity.size} intensities for {positions.size} positions"
                )
            validate_intensity(intensity, labels)

        if units == "q2":
            q2 = positions
        elif units == "d":
            q2 = d_to_q2(positions)
        else:
            q2 = two_theta_to_q2(positions, wavelength)
        order = np.argsort(q2, kind="stable")
        validate_no_duplicates(q2[order], order, labels)
        return cls(
            q2=q2,
            intensity=intensity,
            source=source,
            wavelength=None if wavelength is None else float(wavelength),
            two_theta=positions if units == "2theta" else None,
        )

    @property
    def d(self) -> np.ndarray:
        """d-spacings in Å, decreasing."""
        return q2_to_d(self.q2)

    @property
    def n(self) -> int:
        return self.q2.size

    def __len__(self) -> int:
        return self.q2.size

    def first(self, n: int) -> "PeakList":
        """The ``n`` lowest-angle peaks (all of them when there are fewer)."""
        if n < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        return replace(
            self,
            q2=self.q2[:n],
            intensity=self.intensity[:n],
            two_theta=None if self.two_theta is None else self.two_theta[:n],
            two_theta_sigma=None if self.two_theta_sigma is None else self.two_theta_sigma[:n],
            fwhm=None if self.fwhm is None else self.fwhm[:n],
            # Read for the whole list: fewer peaks may hold fewer of the standard's lines.
            standard_set_aside=None,
        )

    def two_theta_at(self, wavelength: float) -> np.ndarray:
        """2θ in degrees of every peak at ``wavelength``; NaN where unreachable."""
        return q2_to_two_theta(self.q2, wavelength)

    def require(self, count: int, reason: str) -> None:
        """Raise PeakInputError unless there are at least ``count`` peaks.

        ``reason`` names what needs them, e.g. ``"the tetragonal lattice
        system"`` gives ``silicon.txt: 3 peaks, but the tetragonal lattice
        system needs at least 4``.
        """
        if self.n < count:
            peaks = "peak" if self.n == 1 else "peaks"
            raise PeakInputError(f"{self.source}: {self.n} {peaks}, but {reason} needs at least {count}")


@dataclass(frozen=True, eq=False)
class StandardSetAside:
    """A measured pattern's picks read again with the lines of a certified internal standard set aside: the
    standard named ``standard`` (``powdex.crystal.standards``) was seen among the picks of a list
    (``PeakList.standard_set_aside``), ``n_set_aside`` of them its lines, at a zero offset of ``zero_offset``
    ° 2θ (measured − true).  ``peaks`` are the pattern's other picks, as many as the list holds where the
    pattern has them, with that offset taken off their positions."""

    standard: str
    peaks: PeakList
    n_set_aside: int
    zero_offset: float

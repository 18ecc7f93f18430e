"""X-ray tube lines: the wavelengths a laboratory anode emits and the Kα2/Kα1 intensity ratio.

Kα1, Kα2 and Kβ1 wavelengths in Å.  Cr, Fe, Co and Cu: Hölzer, Fritsch,
Deutsch, Härtwig & Förster (1997), Phys. Rev. A 56, 4554 (the peak positions
of their line fits).  Mo and Ag, which Hölzer et al. did not measure:
International Tables for Crystallography Vol. C (2006), Table 4.2.2.1.
The Kα2/Kα1 intensity ratio is 1/2 for every anode: the 2p3/2 : 2p1/2
occupancy ratio, within a few per cent of what is measured and what
diffractometer software assumes.

Lines that are not the sample's but the tube's: Kβ (weakened, not removed,
by a β filter), W Lα1 from tungsten the filament evaporates onto the anode
(1.47639 Å), and the step where the β filter's K absorption edge cuts the
white radiation (Ni for Cu, Fe for Co, Mn for Fe, V for Cr, Zr for Mo, Pd
for Ag).  Edges and W Lα1: Bearden (1967), Rev. Mod. Phys. 39, 78 and
Bearden & Burr (1967), Rev. Mod. Phys. 39, 125.
"""

from __future__ import annotations

from dataclasses import dataclass

from powdex.peaks.peaklist import PeakInputError


@dataclass(frozen=True)
class TubeLines:
    """The characteristic lines of one anode, in Å."""

    anode: str
    k_alpha1: float
    k_alpha2: float
    k_beta: float
    filter_edge: float  # the K absorption edge of the usual β filter
    ratio: float = 0.5

    @property
    def k_alpha_mean(self) -> float:
        """The intensity-weighted Kα1/Kα2 centroid, where unresolved doublets appear."""
        return (self.k_alpha1 + self.ratio * self.k_alpha2) / (1 + self.ratio)


ANODES: dict[str, TubeLines] = {
    tube.anode: tube
    for tube in (
        TubeLines("Cr", 2.2897260, 2.2936510, 2.0848810, filter_edge=2.26910),
        TubeLines("Fe", 1.9360410, 1.9399730, 1.7566040, filter_edge=1.89643),
        TubeLines("Co", 1.7889960, 1.7928350, 1.6208260, filter_edge=1.74334),
        TubeLines("Cu", 1.5405929, 1.5444274, 1.3922340, filter_edge=1.48802),
        TubeLines("Mo", 0.7093171, 0.7136070, 0.6323030, filter_edge=0.68883),
        TubeLines("Ag", 0.5594218, 0.5638130, 0.4970820, filter_edge=0.50915),
    )
}

# W Lα1 (Å): tungsten from the filament deposited on any anode.
W_L_ALPHA1 = 1.47639

# A wavelength within this relative distance of a tube's Kα1 is taken for that
# tube's Kα1 (1.5406 and 1.54056 are both Cu Kα1; no tube lines lie this close).
SAME_LINE_RTOL = 3e-4


# A stated wavelength within this relative distance of a tube's Kα1, Kα2 or their weighted mean is that tube's
# radiation, perhaps rounded (0.71 Å for Mo Kα is 0.1 % from Kα1): the neighbouring tubes' lines lie 12 % or more apart.
TUBE_WAVELENGTH_RTOL = 5e-3


def tube_lines(anode: str) -> TubeLines:
    """The lines of ``anode`` ('Cu', 'cu', 'CU' ...); PeakInputError names the known ones."""
    for name, tube in ANODES.items():
        if name.lower() == anode.strip().lower():
            return tube
    raise PeakInputError(f"unknown anode {anode!r}: known anodes are {', '.join(ANODES)}")


def tube_of_k_alpha1(wavelength: float) -> TubeLines | None:
    """The tube whose Kα1 line ``wavelength`` is, None when it is no tube's."""
    for tube in ANODES.values():
        if abs(wavelength - tube.k_alpha1) <= SAME_LINE_RTOL * tube.k_alpha1:
            return tube
    return None


def tube_of_wavelength(wavelength: float) -> TubeLines | None:
    """The tube whose Kα1, Kα2 or Kα mean ``wavelength`` is within ``TUBE_WAVELENGTH_RTOL``, None when it is no
    tube's (a synchrotron's or a neutron source's)."""
    for tube in ANODES.values():
        if any(abs(wavelength - line) <= TUBE_WAVELENGTH_RTOL * line
               for line in (tube.k_alpha1, tube.k_alpha2, tube.k_alpha_mean)):
            return tube
    return None

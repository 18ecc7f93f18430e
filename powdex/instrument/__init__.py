"""The instrument model: geometry, wavelengths, peak shifts, polarisation and the
instrumental profile, read from and written to ``instrument.toml``, GSAS-II
``.instprm``, GSAS ``.prm`` and FullProf ``.irf``.  numpy only; it knows
nothing of crystals or refinement (``powdex.refinement.calibrate`` makes one
from a standard)."""

from powdex.instrument.corrections import (
    SHIFT_TERMS,
    corrected_two_theta,
    cylinder_absorption,
    divergence_slit_factor,
    intensity_factor,
    peak_shift,
    polarisation_factor,
    shift_terms,
)
from powdex.instrument.errors import InstrumentFileError
from powdex.instrument.formats import FORMATS, read_instrument, write_instrument
from powdex.instrument.line_shape import apex_offset, fcj_nodes
from powdex.instrument.model import FORMAT_VERSION, GEOMETRIES, Instrument, monochromator_polarisation, tch_fwhm

__all__ = ["FORMATS", "FORMAT_VERSION", "GEOMETRIES", "SHIFT_TERMS", "Instrument", "InstrumentFileError", "apex_offset",
           "corrected_two_theta", "cylinder_absorption", "divergence_slit_factor", "fcj_nodes", "intensity_factor",
           "monochromator_polarisation", "peak_shift", "polarisation_factor", "read_instrument", "shift_terms",
           "tch_fwhm", "write_instrument"]

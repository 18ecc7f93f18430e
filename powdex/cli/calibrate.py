"""``powdex calibrate``: the instrument from a scan of a NIST standard."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from powdex.cli.errors import OptionError, fail
from powdex.errors import PowdexError
from powdex.files import check_output_file


class StandardName(str, Enum):
    LaB6 = "LaB6"
    Si = "Si"
    CeO2 = "CeO2"
    Al2O3 = "Al2O3"


class GeometryName(str, Enum):
    bragg_brentano = "bragg-brentano"
    debye_scherrer = "debye-scherrer"


EXPORT_SUFFIXES = (".instprm", ".prm", ".irf")


def calibrate(
    scan: Annotated[Path, typer.Argument(help="Measured pattern of the standard (any format powdex reads)")],
    standard: Annotated[StandardName, typer.Option(help="NIST standard: its certified cell is held")],
    geometry: Annotated[GeometryName, typer.Option(help="Diffractometer geometry")] = GeometryName.bragg_brentano,
    lebail: Annotated[bool, typer.Option("--lebail/--pawley", help="Le Bail intensities, or Pawley (default)")] = False,
    wavelength: Annotated[float | None, typer.Option(help="Å; overrides the file's")] = None,
    anode: Annotated[str | None, typer.Option(help="X-ray tube (Cu, Co, Mo, Fe, Cr, Ag): its Kα1/Kα2 lines and ratio")] = None,
    polarisation: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Perpendicular-polarised fraction of the beam (about 0.95 at a synchrotron)")] = None,
    monochromator_angle: Annotated[float | None, typer.Option(help="Monochromator 2θ (degrees): sets the polarisation")] = None,
    variable_slit: Annotated[bool, typer.Option("--variable-slit/--fixed-slit", help="Divergence slit of the scan")] = False,
    refine_ratio: Annotated[bool, typer.Option("--refine-ratio", help="Refine the Kα2/Kα1 intensity ratio too")] = False,
    refine_z: Annotated[bool, typer.Option("--refine-z", help="Refine GSAS-II's constant Lorentzian width Z too (the instrument then exports to .instprm only)")] = False,
    two_theta_min: Annotated[float | None, typer.Option("--min", help="Lowest 2θ fitted (degrees)")] = None,
    two_theta_max: Annotated[float | None, typer.Option("--max", help="Highest 2θ fitted (degrees)")] = None,
    background_terms: Annotated[int, typer.Option(min=1, max=30, help="Chebyshev background coefficients")] = 6,
    out: Annotated[Path, typer.Option(help="Instrument file to write (instrument.toml)")] = Path("instrument.toml"),
    export: Annotated[list[Path] | None, typer.Option(help="Also write the instrument as .instprm, .prm or .irf (repeatable)")] = None,
    plot: Annotated[Path | None, typer.Option(help="Directory for the fit's calibration.json/.cif/.png (default: beside --out)")] = None,
) -> None:
    """Calibrate the instrument on a scan of a standard: zero, displacement, profile and asymmetry.

    The geometry decides the shifts: Bragg–Brentano specimen displacement and transparency, Debye–Scherrer
    capillary x and y displacement."""
    from powdex.instrument import monochromator_polarisation, write_instrument
    from powdex.patterns import read_pattern
    from powdex.refinement.calibrate import calibrate as calibrate_instrument

    try:
        if polarisation is not None and monochromator_angle is not None:
            raise OptionError("give --polarisation or --monochromator-angle, not both")
        fraction = monochromator_polarisation(monochromator_angle) if monochromator_angle is not None else \
            (0.5 if polarisation is None else polarisation)
        for path in export or ():
            if path.suffix.lower() not in EXPORT_SUFFIXES:
                raise OptionError(f"--export {path}: the suffix must be one of {', '.join(EXPORT_SUFFIXES)}")
            check_output_file(path, "--export")
        check_output_file(out, "--out")
        measured = read_pattern(scan, wavelength=wavelength, anode=anode)
        window = None
        if two_theta_min is not None or two_theta_max is not None:
            window = (two_theta_min if two_theta_min is not None else float("-inf"),
                      two_theta_max if two_theta_max is not None else float("inf"))
        calibration = calibrate_instrument(
            measured, standard.value, geometry=geometry.value, method="lebail" if lebail else "pawley",
            polarisation=fraction, divergence_slit="variable" if variable_slit else "fixed",
            two_theta_range=window, background_terms=background_terms, refine_ratio=refine_ratio,
            refine_constant_lorentzian=refine_z)
        calibration.instrument.save(out)
        for path in export or ():
            write_instrument(calibration.instrument, path)
        paths = calibration.refinement.save(plot if plot is not None else out.parent, stem="calibration")
    except PowdexError as error:
        fail(error)
    _show(calibration, [out, *(export or ())], paths)


def _show(calibration, written: list[Path], paths: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    instrument, stats = calibration.instrument, calibration.refinement.statistics
    console.print(f"[bold]Calibration[/bold] on {calibration.standard.certificate} {calibration.standard.name} "
                  f"(cell held): Rwp {100 * stats.rwp:.3f} %, reduced χ² {stats.reduced_chi2:.4f}")
    for note in instrument.notes[1:]:  # the first says what was calibrated on, as the line above
        console.print(f"note: {note}")
    table = Table(title="instrument")
    for column in ("parameter", "value", "esd"):
        table.add_column(column)
    esd = {p.name: p.esd for p in calibration.refinement.parameters}
    from powdex.instrument import SHIFT_TERMS
    from powdex.instrument.model import PROFILE_NAMES

    for name in ("zero", *SHIFT_TERMS[instrument.geometry], *PROFILE_NAMES):
        value = getattr(instrument, name.replace("/", "_"))
        table.add_row(name, f"{value:.6g}", "" if esd.get(name) is None else f"{esd[name]:.2g}")
    if calibration.ratio_esd is not None:
        table.add_row("Kα2/Kα1", f"{instrument.ratio:.4f}", f"{calibration.ratio_esd:.2g}")
    if calibration.k_beta_ratio is not None and calibration.k_beta_ratio_esd is not None:
        kept = "" if instrument.k_beta_ratio is not None else " (not seen: not kept)"
        table.add_row("Kβ/Kα1", f"{calibration.k_beta_ratio:.4f}{kept}", f"{calibration.k_beta_ratio_esd:.2g}")
    console.print(table)
    widths = Table(title="residual width per isolated line (its own fitted FWHM / calibrated FWHM − 1)")
    for column in ("hkl", "2θ", "line FWHM (°)", "profile FWHM (°)", "residual", "esd"):
        widths.add_column(column)
    for peak in calibration.peak_widths:
        widths.add_row(" ".join(map(str, peak.hkl)), f"{peak.two_theta:.3f}", f"{peak.fwhm:.4f}",
                       f"{peak.profile_fwhm:.4f}", f"{100 * peak.residual:+.2f} %", f"{100 * peak.residual_esd:.2f} %")
    console.print(widths)
    for path in written:
        console.print(f"instrument: {path}")
    for kind, path in paths.items():
        console.print(f"fit {kind}: {path}")

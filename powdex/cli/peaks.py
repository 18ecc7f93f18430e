"""``powdex peaks``: pick the peaks of a measured pattern and write them for the user to check or edit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from powdex.cli.errors import OptionError, fail
from powdex.errors import PowdexError
from powdex.files import check_output_file, write_atomically


def peaks(
    scan: Annotated[Path, typer.Argument(help="A measured pattern: .xy/.xye/.csv/.dat, .xrdml, .brml, .raw, .ras/.rasx, GSAS .gsa/.fxye, pdCIF")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the picked list here (text: 2θ, intensity, σ(2θ), FWHM); default: print it")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of the pattern, its background and the picks here")] = None,
    wavelength: Annotated[float | None, typer.Option(help="Å; overrides the file's")] = None,
    anode: Annotated[str | None, typer.Option(help="X-ray tube: Cu, Co, Mo, Fe, Cr or Ag (its Kα1/Kα2 lines); overrides the file's")] = None,
    n_peaks: Annotated[int | None, typer.Option(min=1, help="Keep the first N peaks (lowest angles); default: all")] = None,
    min_significance: Annotated[float, typer.Option(min=0.0, help="A peak rises this many noise σ above the background")] = 5.0,
    instrument: Annotated[Path | None, typer.Option(help=(
        "Calibrated instrument file (instrument.toml, .instprm, .prm, .irf): its widths, wavelengths (unless "
        "--wavelength or --anode), shifts and measured Kβ ratio guide the search"))] = None,
    file_format: Annotated[str, typer.Option("--format", help=(
        "text: what powdex index reads; dicvol: a DICVOL06 input file (each line's σ(2θ) as its error); "
        "treor: a TREOR90 input file (2θ and wavelength only)"))] = "text",
) -> None:
    """Pick the Kα1 peaks of a measured pattern (Kα2 stripped) and write them as a peak list."""
    from powdex.instrument import Instrument
    from powdex.patterns import peaks_from_pattern, read_pattern, search_peaks
    from powdex.patterns.peak_input import with_instrument_lines
    from powdex.peaks.program_files import PROGRAM_FORMATS, program_file_text

    try:
        if file_format not in ("text", *PROGRAM_FORMATS):
            raise OptionError(f"--format must be text, {' or '.join(PROGRAM_FORMATS)}, got {file_format!r}")
        for path, option in ((out, "--out"), (plot, "--plot")):
            if path is not None:
                check_output_file(path, option)
        calibrated = Instrument.load(instrument) if instrument is not None else None
        pattern = read_pattern(scan, wavelength=wavelength, anode=anode)
        if calibrated is not None and wavelength is None and anode is None:
            pattern = with_instrument_lines(pattern, calibrated)
        search = search_peaks(pattern, min_significance=min_significance, instrument=calibrated)
        picked = peaks_from_pattern(pattern, n_peaks=n_peaks, search=search, instrument=calibrated)
    except PowdexError as error:
        fail(error)
    for note in picked.notes:
        typer.echo(f"note: {note}", err=True)
    picked = with_search_sigma(picked, search)
    text = (picked_list_text(picked, search) if file_format == "text"
            else program_file_text(picked, file_format, f"peaks picked from {picked.source} by powdex peaks", scan))
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_atomically(out, text)
        typer.echo(f"{picked.n} peaks written to {out}", err=True)
    if plot is not None:
        write_atomically(plot, search_plot_png(pattern, search, picked))
        typer.echo(f"plot written to {plot}", err=True)


def _search_rows(picked, search):
    """The row of the peak search behind each picked peak."""
    import numpy as np

    return np.argmin(np.abs(search.two_theta[None, :] - picked.two_theta[:, None]), axis=1)


def with_search_sigma(picked, search):
    """The picked list with each peak's σ(2θ) from the peak search."""
    from dataclasses import replace

    return replace(picked, two_theta_sigma=search.sigma[_search_rows(picked, search)])


def picked_list_text(picked, search) -> str:
    """The list as text that ``powdex index`` reads back (position and intensity first)."""
    lines = [f"# peaks picked from {picked.source} by powdex peaks", f"# wavelength: {picked.wavelength:.6f}",
             "2theta intensity sigma_2theta fwhm"]
    for position, intensity, sigma, k in zip(picked.two_theta, picked.intensity, picked.two_theta_sigma,
                                             _search_rows(picked, search)):
        lines.append(f"{position:.4f} {intensity:.6g} {sigma:.2g} {search.fwhm[k]:.4f}")
    return "\n".join(lines) + "\n"


def search_plot_png(pattern, search, picked) -> bytes:
    """PNG of the pattern, background, Kα1-only profile and the picks."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(figsize=(11, 4.5), constrained_layout=True)
    axes.plot(pattern.two_theta, pattern.intensity, lw=0.7, color="0.3", label="measured")
    axes.plot(search.grid, search.background, lw=1.0, color="tab:blue", label="background")
    if search.kalpha2_stripped:
        axes.plot(search.grid, search.background + search.stripped, lw=0.6, color="tab:green", alpha=0.8, label="Kα2 stripped")
    heights = np.interp(picked.two_theta, search.grid, search.background) + np.interp(picked.two_theta, search.two_theta, search.height)
    axes.plot(picked.two_theta, heights, "v", color="tab:red", ms=5, label=f"{picked.n} picks")
    axes.set_xlabel("2θ (°)")
    axes.set_ylabel("intensity")
    axes.set_title(f"{pattern.source}  (λ {picked.wavelength:.5f} Å)", fontsize=9)
    axes.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()

"""``powdex refine``: a Pawley or Le Bail fit of a cell and space group to a measured pattern."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from powdex.cli.errors import OptionError, fail
from powdex.cli.options import ExecutorName
from powdex.errors import PowdexError
from powdex.files import check_output_directory


def _cell(text: str):
    from powdex.crystal import Cell

    try:
        values = [float(v) for v in text.split(",")]
        if len(values) != 6:
            raise ValueError(f"six values a,b,c,alpha,beta,gamma needed, got {len(values)}")
        return Cell(*values)
    except ValueError as error:  # float() of a non-number, or a cell that cannot exist
        raise OptionError(f"--cell {text}: {error}") from None


def refine(
    pattern: Annotated[Path | None, typer.Argument(help=(
        "Measured pattern (any format powdex reads); left out with --from a refinement and --map: map around "
        "that refinement without a new fit"))] = None,
    cell: Annotated[str | None, typer.Option(help="Starting cell a,b,c,alpha,beta,gamma (Å, degrees)")] = None,
    spacegroup: Annotated[str | None, typer.Option(help="Space group symbol or number (with --cell)")] = None,
    from_index: Annotated[Path | None, typer.Option("--from", help=(
        "powdex index JSON: start from its best candidate; or a refinement.json: start from (and be seeded by) "
        "that refinement"))] = None,
    candidate: Annotated[int, typer.Option(min=1, help="With --from: which candidate (1: the best)")] = 1,
    lebail: Annotated[bool, typer.Option("--lebail/--pawley", help="Le Bail intensity partitioning, or Pawley (default)")] = False,
    starts: Annotated[int, typer.Option(min=1, help="Starts of the ensemble: the given cell, then cells off by up to --cell-error")] = 1,
    cell_error: Annotated[float, typer.Option(min=0.0, max=0.2, help="Relative error of the extra starts' cells")] = 0.01,
    seed: Annotated[int, typer.Option(help="Seed of the extra starts' cells")] = 0,
    wavelength: Annotated[float | None, typer.Option(help="Å; overrides the file's")] = None,
    anode: Annotated[str | None, typer.Option(help="X-ray tube (Cu, Co, Mo, Fe, Cr, Ag): its Kα1/Kα2 lines and ratio")] = None,
    two_theta_min: Annotated[float | None, typer.Option("--min", help="Lowest 2θ fitted (degrees)")] = None,
    two_theta_max: Annotated[float | None, typer.Option("--max", help="Highest 2θ fitted (degrees)")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="2θ region LOW,HIGH left out of the fit (repeatable)")] = None,
    background_terms: Annotated[int, typer.Option(min=1, max=30, help="Chebyshev background coefficients")] = 6,
    no_asymmetry: Annotated[bool, typer.Option("--no-asymmetry", help="Leave out the axial-divergence asymmetry")] = False,
    instrument: Annotated[Path | None, typer.Option(help=(
        "Calibrated instrument file (instrument.toml, .instprm, .prm, .irf): its profile, asymmetry and zero are "
        "held; the sample's Lorentzian broadening and specimen displacement are refined"))] = None,
    anisotropic_strain: Annotated[bool, typer.Option("--anisotropic-strain", help=(
        "Refine Stephens (1999) anisotropic microstrain: the S_HKL terms of the lattice system's Laue class"))] = False,
    serial_correlation: Annotated[bool, typer.Option(
        "--serial-correlation", help="Scale the esds by the Bérar–Lelann factor for serially correlated residuals "
                                     "(from the residuals' Durbin–Watson statistic)")] = False,
    executor: Annotated[ExecutorName, typer.Option(help="Where the starts run")] = ExecutorName.inprocess,
    workers: Annotated[int | None, typer.Option(min=1, help="--executor processes/dask: workers")] = None,
    scheduler: Annotated[str | None, typer.Option(help="--executor dask: scheduler address")] = None,
    map_parameters: Annotated[str | None, typer.Option(
        "--map", help="After the fit (or around --from a refinement, without a pattern), map χ² and Rwp over two "
                      "free cell parameters (e.g. a,c), everything else held: chi2_map.png and chi2_map.json in "
                      "--out")] = None,
    map_span: Annotated[float, typer.Option(min=1e-6, max=0.1, help="With --map: ± this relative change "
                                                                  "of each parameter")] = 0.002,
    map_resolution: Annotated[int, typer.Option(min=3, max=201, help="With --map: grid points per axis")] = 21,
    out: Annotated[Path, typer.Option(help="Directory for refinement.json, refinement.cif and refinement.png")] = Path("."),
) -> None:
    """Refine a cell against a measured pattern by a Pawley or Le Bail whole-pattern fit."""
    from powdex.optim.registry import executor_from_name
    from powdex.patterns import read_pattern
    from powdex.refinement import RefinementResult, chi2_map, start_from_index, write_chi2_map
    from powdex.refinement import refine as refine_pattern

    try:
        zero = 0.0
        previous = None
        if from_index is not None:
            if cell is not None or spacegroup is not None:
                raise OptionError("--from takes the cell and space group from its file; drop --cell/--spacegroup")
            try:
                document = json.loads(from_index.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise OptionError(f"--from {from_index}: cannot read ({error})") from None
            if RefinementResult.is_refinement(document):
                if candidate != 1:
                    raise OptionError(f"--candidate is for an index result; --from {from_index} is a refinement")
                previous = RefinementResult.load(from_index)
                start, group = previous.cell, previous.space_group
            else:
                start, group, zero = start_from_index(document, candidate - 1, source=str(from_index))
        elif cell is None or spacegroup is None:
            raise OptionError("give --cell and --spacegroup, or --from an index result or a refinement")
        else:
            start, group = _cell(cell), spacegroup
        regions = []
        for region in exclude or ():
            try:
                low, high = (float(v) for v in region.split(","))
            except ValueError:
                raise OptionError(f"--exclude {region}: give LOW,HIGH in degrees 2θ") from None
            regions.append((low, high))
        names = None
        if map_parameters is not None:
            names = tuple(name.strip() for name in map_parameters.split(","))
            if len(names) != 2:
                raise OptionError(f"--map {map_parameters}: give two cell parameters, e.g. a,c")
        check_output_directory(out, "--out")
        if pattern is None:
            if previous is None or names is None:
                raise OptionError("give a PATTERN to refine (only --from a refinement with --map maps without one)")
            surface = chi2_map(previous, names, span=map_span, resolution=map_resolution)
            typer.echo(f"χ² map of the {previous.method} refinement of {previous.source} over {names[0]}, "
                       f"{names[1]} (± {map_span:g} relative, {map_resolution} x {map_resolution}; no new fit)")
            for kind, path in write_chi2_map(surface, previous, names, out).items():
                typer.echo(f"map {kind}: {path}")
            return
        from powdex.instrument import Instrument

        calibrated = Instrument.load(instrument) if instrument is not None else None
        measured = read_pattern(pattern, wavelength=wavelength, anode=anode)
        if calibrated is not None and wavelength is None and anode is None:
            from powdex.patterns.peak_input import with_instrument_lines

            measured = with_instrument_lines(measured, calibrated)
        window = None
        if two_theta_min is not None or two_theta_max is not None:
            window = (two_theta_min if two_theta_min is not None else -np.inf,
                      two_theta_max if two_theta_max is not None else np.inf)
        pool = None if starts == 1 else executor_from_name(executor.value, workers=workers, scheduler=scheduler)
        result = refine_pattern(
            measured, start, group, method="lebail" if lebail else "pawley", starts=starts, seed=seed,
            cell_error=cell_error, executor=pool, two_theta_range=window, excluded=tuple(regions),
            background_terms=background_terms, asymmetry=not no_asymmetry, zero=zero, instrument=calibrated,
            anisotropic_strain=anisotropic_strain, serial_correlation=serial_correlation, neighbour=previous,
        )
        out.mkdir(parents=True, exist_ok=True)
        paths = result.save(out)
        if names is not None:
            surface = chi2_map(result, names, span=map_span, resolution=map_resolution)
            paths.update({f"map {kind}": path for kind, path in write_chi2_map(surface, result, names, out).items()})
    except PowdexError as error:
        fail(error)
    _show(result, paths)


def _show(result, paths: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    stats = result.statistics
    console.print(f"[bold]{result.method.capitalize()} fit[/bold] of {result.source} in {result.space_group} "
                  f"({result.lattice_system}): {len(result.hkl)} reflections, {stats.points} points")
    table = Table(title="refined cell")
    for column in ("parameter", "value", "esd"):
        table.add_column(column)
    for name in ("a", "b", "c", "alpha", "beta", "gamma"):
        esd = result.cell_esd.get(name)
        table.add_row(name, f"{getattr(result.cell, name):.6f}", "" if esd is None else f"{esd:.6f}")
    table.add_row("volume", f"{result.cell.volume:.4f}", "")
    console.print(table)
    parameters = Table(title=f"parameters (esd: {result.esd_convention}; ! held at a bound, no esd)")
    for column in ("parameter", "value", "esd", ""):
        parameters.add_column(column)
    for p in result.parameters:
        parameters.add_row(p.name, f"{p.value:.6g}", "" if p.esd is None else f"{p.esd:.3g}",
                           "!" if p.at_bound else ("" if p.refined else "fixed"))
    console.print(parameters)
    console.print(f"Rwp {100 * stats.rwp:.3f} %  Rp {100 * stats.rp:.3f} %  Rexp {100 * stats.rexp:.3f} %  "
                  f"GoF {stats.gof:.3f}  reduced χ² {stats.reduced_chi2:.4f}  Durbin–Watson d {result.durbin_watson:.3f}")
    if result.k_beta is not None:
        console.print(f"every line fitted again at Kβ (λ {result.k_beta[0]:.5f} Å, {result.k_beta[1]:.4f} of its "
                      "intensity: the instrument's ratio)")
    if len(result.starts) > 1:
        console.print(f"{result.starts_at_best} of {len(result.starts)} starts reached the best fit")
    if result.diverged:
        console.print(f"[red]diverged[/red]: {result.message}")
    elif not result.converged:
        console.print(f"[yellow]not converged[/yellow]: {result.message}")
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")

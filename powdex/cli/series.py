"""``powdex series``: Rietveld refinement of a series of patterns from a plan, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from powdex.cli.errors import OptionError, fail
from powdex.cli.options import ExecutorName
from powdex.errors import PowdexError
from powdex.files import check_output_directory


def series(
    inputs: Annotated[list[Path], typer.Argument(help="A folder of patterns, or pattern files")],
    plan: Annotated[Path, typer.Option(help="Refinement plan (TOML): phases, stages, bounds, constraints")],
    out: Annotated[Path, typer.Option(help="Folder for the journal, series.csv, plots and report.html")],
    order: Annotated[str, typer.Option(help="name (number in the file name), a metadata key (temperature, time) "
                                            "or a CSV listing the file names in order")] = "name",
    reverse: Annotated[bool, typer.Option("--reverse", help="Refine from the last pattern back to the first")] = False,
    no_fallback: Annotated[bool, typer.Option("--no-fallback", help="Plain sequential seeding, no ensembles")] = False,
    ensemble_starts: Annotated[int, typer.Option(min=2, help="Starts of the fallback ensemble")] = 8,
    cell_spread: Annotated[float, typer.Option(min=0.0, max=0.2, help="Relative spread of the ensemble's cell lengths")] = 0.02,
    seed: Annotated[int, typer.Option(help="Seed of the ensemble starts")] = 0,
    wavelength: Annotated[float | None, typer.Option(help="Å; overrides the files'")] = None,
    anode: Annotated[str | None, typer.Option(help="X-ray tube (Cu, Co, Mo, ...): its Kα1/Kα2 lines and ratio")] = None,
    instrument: Annotated[Path | None, typer.Option(help=(
        "Calibrated instrument file (instrument.toml, .instprm, .prm, .irf) held in every fit, in place of the "
        "plan's 'instrument': its profile, asymmetry and zero held, its polarisation and Kβ ratio used, the "
        "sample's broadening and displacement refined"))] = None,
    chains: Annotated[int, typer.Option(min=1, help="Interleaved chains: pattern k is seeded from pattern k − chains, "
                                                    "so that the chains run on that many workers at once")] = 1,
    parametric: Annotated[int | None, typer.Option(min=0, max=6, help="Then fit the whole series at once, cell "
                                                   "parameters polynomials of this degree in the --order variable "
                                                   "(Stinton & Evans 2007), a transition placed by BIC: "
                                                   "OUT/parametric.json")] = None,
    executor: Annotated[ExecutorName, typer.Option(help="Where the chains (or, with one chain, the ensemble "
                                                        "starts) run")] = ExecutorName("inprocess"),
    workers: Annotated[int | None, typer.Option(min=1, help="--executor processes/dask: workers")] = None,
    scheduler: Annotated[str | None, typer.Option(help="--executor dask: scheduler address")] = None,
) -> None:
    """Refine every pattern seeded from its refined neighbour; a degraded fit falls back to an ensemble.
    A rerun with the same plan resumes."""
    from powdex.optim.registry import executor_from_name
    from powdex.patterns import read_pattern
    from powdex.refinement.plan import RefinementPlan
    from powdex.reports import write_series_report
    from powdex.series.refinement import refine_series

    try:
        files = [f for path in inputs for f in (sorted(p for p in path.iterdir() if p.is_file() and not
                                                       p.name.startswith(".")) if path.is_dir() else [path])]
        if not files:
            raise OptionError("no pattern files in " + " ".join(map(str, inputs)))
        check_output_directory(out, "--out")
        refinement_plan = RefinementPlan.from_toml(plan)
        if instrument is not None:
            refinement_plan = refinement_plan.model_copy(update={"instrument": str(instrument.resolve())})
        calibrated = refinement_plan.calibrated_instrument()
        patterns = [read_pattern(f, wavelength=wavelength, anode=anode) for f in files]
        if calibrated is not None and wavelength is None and anode is None:
            from powdex.patterns.peak_input import with_instrument_lines

            patterns = [with_instrument_lines(p, calibrated) for p in patterns]
        pool = (executor_from_name(executor.value, workers=workers, scheduler=scheduler)
                if executor != ExecutorName("inprocess") else None)
        result = refine_series(patterns, refinement_plan, out=out, order=order, reverse=reverse,
                               fallback=not no_fallback, ensemble_starts=ensemble_starts,
                               cell_spread=cell_spread, seed=seed, chains=chains, executor=pool)
        report = write_series_report(result, out)
        if parametric is not None:
            from powdex.series.parametric import parametric_refine, series_variable

            whole = parametric_refine(result, patterns, refinement_plan, degree=parametric,
                                      variable=series_variable(result, patterns, order))
            whole.save(out / "parametric.json")
    except PowdexError as error:
        fail(error)
    for row in result.table():
        typer.echo(f"{row['pattern']}: Rwp {100 * row['rwp']:.2f} %  GoF {row['gof']:.3f}  {row['flags']}")
    if parametric is not None:
        for model in whole.candidates:
            typer.echo(f"parametric, breakpoints {model.breakpoints or 'none'}: chi2 {model.chi2:.6g}, "
                       f"{model.parameters} parameters, BIC {model.bic:.6g}"
                       + ("  <- chosen" if model is whole.chosen else ""))
    typer.echo(f"report: {report.html}")

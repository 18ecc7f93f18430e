"""``write_series_report``: OUT/report.html, OUT/series.csv, OUT/series.parquet and the PNGs of a
refined series."""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from powdex.files import write_atomically
from powdex.refinement.errors import RefinementError
from powdex.series.refinement import SeriesRefinementResult

logger = logging.getLogger(__name__)


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(figure)
    return buffer.getvalue()


def parameter_plots(series: SeriesRefinementResult) -> dict[str, bytes]:
    """One PNG per cell length, volume and weight fraction of each phase, and one of Rwp and GoF,
    against the pattern's position, with esd error bars; ``cell_jump`` patterns marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = series.table()
    positions = np.array([row["position"] for row in rows])
    jumps = [row["position"] for row in rows if "cell_jump" in row["flags"]]
    keys = [k for k in rows[0] if ":" in k and not k.endswith("_esd") and not k.endswith((":alpha", ":beta", ":gamma"))
            and not k.endswith(":r_bragg")]
    plots = {}
    for key in keys:
        values = np.array([row.get(key, np.nan) for row in rows], float)
        esd = np.array([np.nan if row.get(key + "_esd") is None else row[key + "_esd"] for row in rows], float)
        figure, axes = plt.subplots(figsize=(6, 3))
        axes.errorbar(positions, values, yerr=np.nan_to_num(esd), fmt="o-", ms=3, capsize=2)
        for jump in jumps:
            axes.axvline(jump, color="0.7", ls="--", lw=0.8)
        axes.set_xlabel("pattern")
        axes.set_ylabel(key)
        plots[key] = _png(figure)
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.plot(positions, [row["rwp"] for row in rows], "o-", ms=3, label="Rwp")
    axes.plot(positions, [row["gof"] / 100 for row in rows], "s-", ms=3, label="GoF / 100")
    axes.set_xlabel("pattern")
    axes.legend()
    plots["agreement"] = _png(figure)
    return plots


def heat_map(series: SeriesRefinementResult) -> bytes:
    """Observed intensity (square root, for contrast) against 2θ and pattern."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = series.entries[0].result.two_theta
    image = np.array([np.interp(grid, e.result.two_theta, e.result.observed) for e in series.entries])
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.imshow(np.sqrt(np.clip(image, 0, None)), aspect="auto", origin="lower", cmap="viridis",
                extent=(grid[0], grid[-1], -0.5, len(series.entries) - 0.5))
    axes.set_xlabel("2θ (°)")
    axes.set_ylabel("pattern")
    return _png(figure)


def fit_plot(entry) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    result = entry.result
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 3.5), sharex=True, height_ratios=(3, 1))
    top.plot(result.two_theta, result.observed, ".", ms=1.5, color="k", label="observed")
    top.plot(result.two_theta, result.calculated, "-", lw=0.8, color="r", label="calculated")
    top.plot(result.two_theta, result.background, "-", lw=0.6, color="g", label="background")
    top.set_title(f"{entry.name}: Rwp {result.statistics.rwp:.4f}, GoF {result.statistics.gof:.3f}", fontsize=9)
    top.legend(fontsize=7)
    bottom.plot(result.two_theta, result.observed - result.calculated, "-", lw=0.6, color="b")
    bottom.set_xlabel("2θ (°)")
    return _png(figure)


def write_table(series: SeriesRefinementResult, path: Path) -> None:
    rows = series.table()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, buffer.getvalue())


def write_parquet(series: SeriesRefinementResult, path: Path) -> None:
    """The table of ``series.table()`` as Parquet (one column per key, null where a row has none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = series.table()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = pa.table({column: [row.get(column) for row in rows] for column in columns})
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial)
    partial.replace(path)


@dataclass
class SeriesReport:
    """The files ``write_series_report`` wrote."""

    html: Path
    csv: Path
    parquet: Path


def write_series_report(series: SeriesRefinementResult, out: str | Path) -> SeriesReport:
    """OUT/series.csv, OUT/series.parquet (the same table), OUT/plots/*.png and OUT/report.html (every image embedded as base64, so the page
    opens from the file with no server and no other file)."""
    if not series.entries:
        raise RefinementError("an empty series has nothing to report")
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    write_table(series, out / "series.csv")
    write_parquet(series, out / "series.parquet")
    images: list[tuple[str, str, bytes]] = [("heat map", "heatmap", heat_map(series))]
    images += [(key, "parameter_" + key.replace(":", "_").replace("/", "_"), png)
               for key, png in parameter_plots(series).items()]
    images += [(f"fit: {entry.name}", f"fit_{entry.position:04d}", fit_plot(entry)) for entry in series.entries]
    for _, stem, png in images:
        (out / "plots" / f"{stem}.png").write_bytes(png)
    rows = series.table()
    columns = [c for c in rows[0] if not c.endswith("_esd")]
    header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    figures = "".join(
        f'<figure id="{stem}"><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, stem, png in images)
    index = "".join(f'<li><a href="#{stem}">{html.escape(title)}</a></li>' for title, stem, _ in images)
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>powdex series report</title>"
            f"<style>body{{font-family:sans-serif}}table{{border-collapse:collapse;font-size:11px}}"
            f"td,th{{border:1px solid #ccc;padding:2px 4px}}img{{max-width:100%}}</style></head><body>"
            f"<h1>Series refinement: {len(rows)} patterns</h1><table><tr>{header}</tr>{body}</table>"
            f"<ul>{index}</ul>{figures}</body></html>")
    path = out / "report.html"
    write_atomically(path, page)
    logger.info("report: %s (%d images)", path, len(images))
    return SeriesReport(path, out / "series.csv", out / "series.parquet")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape("" if value is None else str(value))

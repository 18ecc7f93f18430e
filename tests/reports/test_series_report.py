"""The series report is one self-contained HTML page that shows every plot."""

import re
import shutil
import subprocess

import pytest

from powdex.reports import write_series_report
from powdex.series.refinement import refine_series
from tests.series.conftest import transition_series


def test_report_is_self_contained_with_every_plot(plan, tmp_path):
    patterns, _ = transition_series(3, 10, step=0.05)
    series = refine_series(patterns, plan)
    path = write_series_report(series, tmp_path / "out").html
    page = path.read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    links = re.findall(r'href="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(link.startswith("#") for link in links)
    pngs = sorted((tmp_path / "out" / "plots").glob("*.png"))
    # heat map, a, b, c, volume, weight fraction, agreement, three fit plots
    assert len(pngs) == len(sources) == 10
    for png in pngs:
        assert f'id="{png.stem}"' in page
    table = (tmp_path / "out" / "series.csv").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("position,pattern,rwp,gof,flags,at_bounds,new_phase,T:a,T:a_esd")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium (Debian package chromium)")
def test_report_opens_in_headless_chromium_without_errors(plan, tmp_path):
    patterns, _ = transition_series(2, 10, step=0.05)
    path = write_series_report(refine_series(patterns, plan), tmp_path / "out").html
    run = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    # Console messages and failed loads of the page (Chromium's own D-Bus noise is not about it).
    problems = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "net::ERR" in line
                or "report.html" in line]
    assert problems == []
    assert run.stdout.count('src="data:image/png;base64,') == 9


def test_parquet_beside_csv_holds_the_same_table(plan, tmp_path):
    import pyarrow.parquet as pq

    patterns, _ = transition_series(2, 10, step=0.05)
    series = refine_series(patterns, plan)
    report = write_series_report(series, tmp_path / "out")
    assert report.parquet == tmp_path / "out" / "series.parquet"
    table = pq.read_table(report.parquet).to_pylist()
    assert [row["pattern"] for row in table] == ["scan_000.xye", "scan_001.xye"]
    assert [row["T:a"] for row in table] == [row["T:a"] for row in series.table()]
    assert table[0]["T:weight_fraction_esd"] is None or table[0]["T:weight_fraction_esd"] >= 0

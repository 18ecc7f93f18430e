"""Reports of a refined series: plots of every parameter along the series with
error bars, a heat map of the whole series, a fit plot per pattern, a CSV table
(and Parquet, with pyarrow), and one self-contained HTML page (images embedded) that shows them all."""

from powdex.reports.series import SeriesReport, write_series_report

__all__ = ["SeriesReport", "write_series_report"]

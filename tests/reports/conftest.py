from tests.series.conftest import plan  # noqa: F401  (the series plan fixture)

from pathlib import Path

import pytest

DATA = Path(__file__).parent.parent / "data" / "patterns"


@pytest.fixture
def data() -> Path:
    return DATA

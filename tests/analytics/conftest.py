"""The analytics tests run on the session's sample lake and engine (tests/conftest.py); an empty engine too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.athena.engine import LakeQueryEngine
from tests.conftest import SAMPLE_LAKE_END_DAY

END_DAY = SAMPLE_LAKE_END_DAY


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[LakeQueryEngine]:
    with LakeQueryEngine(tmp_path) as lake_engine:
        yield lake_engine

"""One sample lake per test session (written by the real start and collect logic) and one engine over it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import BACKFILL_VIDEOS, SampleLake, write_sample_lake

END_DAY = date(2026, 11, 20)


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """35 days of uploads, and a backfill of BACKFILL_VIDEOS stored videos on END_DAY alongside its uploads."""
    return write_sample_lake(tmp_path_factory.mktemp("lake"), end_day=END_DAY, days=35, backfill_videos=BACKFILL_VIDEOS)


@pytest.fixture(scope="session")
def engine(sample_lake: SampleLake) -> Iterator[LakeQueryEngine]:
    with LakeQueryEngine(sample_lake.root) as lake_engine:
        yield lake_engine


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[LakeQueryEngine]:
    with LakeQueryEngine(tmp_path) as lake_engine:
        yield lake_engine

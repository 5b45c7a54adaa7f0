"""Test-wide environment: dummy AWS credentials and region, never a real endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox.athena.engine import LakeQueryEngine
    from sandbox.sample_lake import SampleLake

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "modlake-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "modlake",
        "POWERTOOLS_DEV": "false",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

# The Lambda twin (`make twin`) runs the functions' tests with only Lambda's packages on the functions' path.
# tests/twin checks the twin itself, so it runs there only; the Glue round trip tests what analysts use beside the
# functions (awswrangler reads the lake as Glue describes it), so it runs in the main environment only.
TWIN_ONLY, MAIN_ONLY = ["twin"], ["adapters/test_glue_catalog_round_trip.py"]
collect_ignore = MAIN_ONLY if os.environ.get("MODLAKE_TWIN") == "1" else TWIN_ONLY

# The sample lake's last day: the analytics tests and the dashboard's browser test share one lake per session.
SAMPLE_LAKE_END_DAY = date(2026, 11, 20)


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """35 days of uploads, and a backfill of BACKFILL_VIDEOS stored videos on its last day alongside its uploads."""
    from sandbox.sample_lake import BACKFILL_VIDEOS, write_sample_lake  # the sandbox only where a test asks for it

    return write_sample_lake(
        tmp_path_factory.mktemp("lake"), end_day=SAMPLE_LAKE_END_DAY, days=35, backfill_videos=BACKFILL_VIDEOS
    )


@pytest.fixture(scope="session")
def engine(sample_lake: SampleLake) -> Iterator[LakeQueryEngine]:
    """The local Athena engine (Athena SQL on DuckDB) over the sample lake."""
    from sandbox.athena.engine import LakeQueryEngine

    with LakeQueryEngine(sample_lake.root) as lake_engine:
        yield lake_engine

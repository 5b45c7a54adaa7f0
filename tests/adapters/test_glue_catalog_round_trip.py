"""The collector's and the review API's Parquet, read as the Glue tables define it (awswrangler, moto S3 and Glue)."""

from __future__ import annotations

from collections.abc import Iterator

import awswrangler as wr
import boto3
import pytest
from moto import mock_aws

from functions.collect_results.logic import CollectOutcome
from functions.common.adapters.s3 import S3LakeObjects
from functions.review_api.logic import ReviewDeps, record_verdict
from glue import LABELS, TABLES, VERDICTS, VIDEOS, TableSpec
from glue.catalog import table_input
from tests.fakes import collect_finished_job, fake_collect_deps
from tests.helpers import NOW, flagged_run, video

REVIEWER = {"authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:user/reviewer"}}}

LAKE = "modlake-lake-test"
DATABASE = "modlake_test"


@pytest.fixture
def lake_with_catalog() -> Iterator[boto3.Session]:
    """moto S3 and Glue, with the catalog created from glue.catalog, one collected job in the lake and two verdicts
    on its video."""
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket=LAKE)
        glue = session.client("glue")
        glue.create_database(DatabaseInput={"Name": DATABASE})
        for spec in TABLES:
            glue.create_table(DatabaseName=DATABASE, TableInput=table_input(spec, LAKE))
        deps = fake_collect_deps(S3LakeObjects(session.client("s3"), LAKE))
        clip = video("teams/t&s/clip 1.mp4")
        assert collect_finished_job(deps, clip, "job-7", flagged_run(1234), NOW) is CollectOutcome.SUCCEEDED
        review = ReviewDeps(store=deps.store, lake=deps.lake, clock=lambda: NOW)
        for body in ('{"verdict": "confirmed"}', '{"verdict": "overturned", "category": "Violence", "note": "a film"}'):
            assert record_verdict(clip.video_id, body, REVIEWER, review).status == 201
        yield session


@pytest.mark.parametrize(
    ("spec", "rows"), [(LABELS, 1234), (VIDEOS, 1), (VERDICTS, 2)], ids=["labels", "videos", "verdicts"]
)
def test_tables_read_through_the_catalog_have_the_glue_columns(
    lake_with_catalog: boto3.Session, spec: TableSpec, rows: int
) -> None:
    # Given the collector's (or the review API's) objects under the table's location
    # When awswrangler reads the table as Glue describes it (location from the catalog, dt from the path)
    frame = wr.s3.read_parquet_table(table=spec.name, database=DATABASE, boto3_session=lake_with_catalog)
    # Then every Glue column is there with the partition value, and nothing else
    glue_types = wr.catalog.get_table_types(database=DATABASE, table=spec.name, boto3_session=lake_with_catalog)
    assert set(frame.columns) == set(glue_types)
    assert len(frame) == rows
    assert set(frame["dt"].astype(str)) == {"2026-11-20"}
    assert set(frame["object_key"]) == {"teams/t&s/clip 1.mp4"}


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.name)
def test_parquet_files_carry_exactly_the_glue_types(lake_with_catalog: boto3.Session, spec: TableSpec) -> None:
    # Given the objects the collector and the review API wrote
    # When awswrangler infers Athena types from the Parquet files themselves
    columns, partitions = wr.s3.read_parquet_metadata(
        path=f"s3://{LAKE}/{spec.prefix}", dataset=True, boto3_session=lake_with_catalog
    )
    # Then they are the Glue table's types, column for column
    assert columns == {c.name: c.glue_type for c in spec.columns}
    assert partitions == {"dt": "string"}

"""Athena through boto3 against a running local endpoint: Glue tables with partition projection over S3 Parquet."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

import glue
import queries
from functions.common.adapters.athena import AthenaQueryRunner
from functions.send_digest.assemble import DigestScope, build_digest
from glue.catalog import table_input
from sandbox.athena.engine import LakeQueryEngine
from sandbox.digest_preview import EngineQueries
from sandbox.endpoint import LocalEndpoint
from sandbox.sample_lake import SampleLake, write_sample_lake
from sandbox.serve import EndpointSettings, build_endpoint
from stacks.views import view_table_input
from tests.sandbox.endpoint_clients import endpoint_client

END_DAY = date(2026, 11, 20)
LAKE_BUCKET = "modlake-analytics"
RESULTS_BUCKET = "modlake-athena-results"
DATABASE = "modlake_dev"
WORKGROUP = "modlake-dev"


class AthenaSandbox:
    """The analytics side of the stack on a local endpoint: lake bucket, Glue database, tables, views, workgroup."""

    def __init__(self, endpoint: LocalEndpoint, lake: SampleLake) -> None:
        self.endpoint = endpoint
        self.lake = lake
        self.s3 = endpoint_client(endpoint, "s3")
        self.athena = endpoint_client(endpoint, "athena")
        glue_client = endpoint_client(endpoint, "glue")
        for bucket in (LAKE_BUCKET, RESULTS_BUCKET):
            self.s3.create_bucket(Bucket=bucket)
        for key in lake.keys:
            self.s3.put_object(Bucket=LAKE_BUCKET, Key=key, Body=(lake.root / key).read_bytes())
        glue_client.create_database(DatabaseInput={"Name": DATABASE})
        for spec in glue.TABLES:
            glue_client.create_table(DatabaseName=DATABASE, TableInput=table_input(spec, LAKE_BUCKET))
        for view in queries.views():
            glue_client.create_table(DatabaseName=DATABASE, TableInput=view_table_input(view, DATABASE))
        self.athena.create_work_group(
            Name=WORKGROUP,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS_BUCKET}/athena/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )

    def start(self, sql: str, parameters: list[str] | None = None) -> str:
        """StartQueryExecution in the sandbox workgroup and database."""
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": DATABASE},
            "WorkGroup": WORKGROUP,
        }
        if parameters:
            request["ExecutionParameters"] = parameters
        return str(self.athena.start_query_execution(**request)["QueryExecutionId"])

    def wait(self, query_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll GetQueryExecution until the query leaves QUEUED/RUNNING; returns the QueryExecution."""
        deadline = time.monotonic() + timeout
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
                return dict(execution)
            assert time.monotonic() < deadline, f"query {query_id} still {execution['Status']['State']}"
            time.sleep(0.05)

    def rows(self, query_id: str, page_size: int = 1000) -> list[list[str | None]]:
        """Every row (header first) through botocore's GetQueryResults paginator."""
        paginator = self.athena.get_paginator("get_query_results")
        found: list[list[str | None]] = []
        for page in paginator.paginate(QueryExecutionId=query_id, PaginationConfig={"PageSize": page_size}):
            found.extend([cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"])
        return found

    def object_sizes(self, prefix: str) -> dict[str, int]:
        """Sizes of the lake objects under a prefix, as S3 reports them."""
        listing = self.s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=prefix)
        return {item["Key"]: item["Size"] for item in listing.get("Contents", [])}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    return write_sample_lake(tmp_path_factory.mktemp("lake"), end_day=END_DAY, days=8)


@pytest.fixture(scope="module")
def sandbox(lake: SampleLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AthenaSandbox]:
    settings = EndpointSettings(
        port=0, classifier="palette", work_dir=tmp_path_factory.mktemp("endpoint"), check_responses=True
    )
    endpoint = build_endpoint(settings).start()
    try:
        yield AthenaSandbox(endpoint, lake)
    finally:
        endpoint.shutdown()


@pytest.fixture(scope="module")
def engine(lake: SampleLake) -> Iterator[LakeQueryEngine]:
    with LakeQueryEngine(lake.root) as lake_engine:
        yield lake_engine


def test_a_parameterised_named_query_reads_only_its_partition(sandbox: AthenaSandbox, engine: LakeQueryEngine) -> None:
    query = queries.named_query("flagged_videos_for_day")
    day = queries.execution_parameter(END_DAY)
    execution = sandbox.wait(sandbox.start(query.sql, [day]))
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["ExecutionParameters"] == [day]

    header, *rows = sandbox.rows(execution["QueryExecutionId"])
    expected = engine.execute(query.sql, [day])
    assert tuple(header) == expected.column_names
    assert len(rows) == len(expected.rows) > 0

    partition = sandbox.object_sizes(f"{glue.VIDEOS.name}/dt={END_DAY.isoformat()}/")
    assert partition and execution["Statistics"]["DataScannedInBytes"] == sum(partition.values())
    whole = sandbox.wait(sandbox.start(f"SELECT count(*) AS n FROM {glue.VIDEOS.name}"))
    assert whole["Statistics"]["DataScannedInBytes"] == sum(sandbox.object_sizes(f"{glue.VIDEOS.name}/").values())
    assert whole["Statistics"]["DataScannedInBytes"] > execution["Statistics"]["DataScannedInBytes"]


def test_results_page_with_the_header_first_and_land_as_csv_in_the_workgroup_location(
    sandbox: AthenaSandbox,
) -> None:
    sql = f"SELECT video_id, object_key, max_confidence, flagged FROM {glue.VIDEOS.name} ORDER BY video_id"
    execution = sandbox.wait(sandbox.start(sql))
    query_id = execution["QueryExecutionId"]
    whole = sandbox.rows(query_id)
    assert sandbox.rows(query_id, page_size=7) == whole
    assert whole[0] == ["video_id", "object_key", "max_confidence", "flagged"]
    assert len(whole) - 1 == len(sandbox.lake.videos)

    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{RESULTS_BUCKET}/athena/{query_id}.csv"
    body = sandbox.s3.get_object(Bucket=RESULTS_BUCKET, Key=f"athena/{query_id}.csv")["Body"].read().decode()
    parsed = list(csv.reader(io.StringIO(body)))
    assert parsed == [[cell if cell is not None else "" for cell in row] for row in whole]

    first_page = sandbox.athena.get_query_results(QueryExecutionId=query_id, MaxResults=3)
    columns = first_page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in columns] == [
        ("video_id", "varchar"),
        ("object_key", "varchar"),
        ("max_confidence", "double"),
        ("flagged", "boolean"),
    ]


def test_a_view_answers_like_the_engine(sandbox: AthenaSandbox, engine: LakeQueryEngine) -> None:
    sql = "SELECT * FROM v_daily_summary ORDER BY dt, processed_date"
    execution = sandbox.wait(sandbox.start(sql))
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    header, *rows = sandbox.rows(execution["QueryExecutionId"])
    expected = engine.execute(sql)
    assert tuple(header) == expected.column_names and len(rows) == len(expected.rows)


def test_invalid_sql_fails_the_query_with_a_reason(sandbox: AthenaSandbox) -> None:
    for sql, reason in (
        ("SELEC video_id FROM moderation_videos", "SYNTAX_ERROR"),
        ("SELECT no_such_column FROM moderation_videos", "no_such_column"),
        ("SELECT * FROM no_such_table", "no_such_table"),
    ):
        execution = sandbox.wait(sandbox.start(sql))
        assert execution["Status"]["State"] == "FAILED"
        assert reason in execution["Status"]["StateChangeReason"]
        with pytest.raises(ClientError) as caught:
            sandbox.athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
        assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    missing_parameter = sandbox.wait(sandbox.start(queries.named_query("flagged_videos_for_day").sql))
    assert missing_parameter["Status"]["State"] == "FAILED"


def test_the_digest_lambdas_athena_adapter_gets_what_the_engine_gets(sandbox: AthenaSandbox, lake: SampleLake) -> None:
    runner = AthenaQueryRunner(
        sandbox.athena, workgroup=WORKGROUP, database=DATABASE, time_left_ms=lambda: 600_000, first_wait=0.05
    )
    with LakeQueryEngine(lake.root) as engine:
        digests = [
            build_digest(
                END_DAY,
                query_runner,
                DigestScope(stage="dev", timezone="Europe/Berlin", region="us-east-1"),
                generated_at=datetime(2026, 11, 21, 8, tzinfo=UTC),
            )
            for query_runner in (runner, EngineQueries(engine))
        ]
    through_athena, through_engine = digests
    assert through_athena == through_engine
    assert through_athena.totals.moderated > 0 and through_athena.top_flagged

"""The local Athena service over moto's S3, Glue and Athena work groups: the stack's tables, projection and views.

Every request is validated and every response checked against botocore's Athena model, as the endpoint does.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.config import Config
from moto import mock_aws

import glue
import queries
from functions.common.adapters.athena import athena_value
from glue.catalog import table_input
from sandbox.athena.engine import LakeQueryEngine, ResultColumn
from sandbox.athena.results import cell_text, column_info, java_double, java_float
from sandbox.athena.service import (
    BYTES_SCANNED_EXCEEDED,
    CANCELLED_BY_USER,
    NO_OUTPUT_LOCATION,
    AthenaService,
)
from sandbox.protocol import (
    ClientFactory,
    RequestContext,
    ServiceError,
    operation_model,
    response_problems,
    to_wire,
    validate_request,
)
from sandbox.sample_lake import SampleLake, write_sample_lake
from stacks.views import encode_presto_view, view_table_input
from tests.analytics.helpers import local_days

REGION = "us-east-1"
CONTEXT = RequestContext(region=REGION, access_key="testing")
END_DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
LAKE = "modlake-analytics"
RESULTS = "modlake-athena-results"
DATABASE = "modlake_dev"
ENFORCED = "modlake-dev"  # the stack's work group: enforced result location
OPEN = "open"  # a work group with a default location a request may override
CAPPED = "capped"  # a work group with a tiny bytes-scanned cutoff
P = queries.execution_parameter


def boto_clients(service: str, context: RequestContext) -> Any:
    """The ClientFactory of these tests: moto's in-process services in the caller's region."""
    return boto3.client(service, region_name=context.region)


class LocalAthena:
    """The service driven as the endpoint drives it: requests validated, responses checked against the model."""

    def __init__(self, service: AthenaService) -> None:
        self.service = service

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        model = operation_model("athena", operation)
        validate_request(model, request)
        response = self.service.handle(operation, request, CONTEXT)
        assert response_problems(model, response) == []
        json.dumps(to_wire(response))  # what the endpoint sends must be JSON
        return response

    def error(self, operation: str, **request: Any) -> ServiceError:
        with pytest.raises(ServiceError) as caught:
            self.call(operation, **request)
        return caught.value

    def start(self, sql: str, parameters: list[str] | None = None, work_group: str = ENFORCED, **extra: Any) -> str:
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": DATABASE},
            "WorkGroup": work_group,
            **extra,
        }
        if parameters:
            request["ExecutionParameters"] = parameters
        return str(self.call("StartQueryExecution", **request)["QueryExecutionId"])

    def execution(self, query_id: str) -> dict[str, Any]:
        return dict(self.call("GetQueryExecution", QueryExecutionId=query_id)["QueryExecution"])

    def run(self, sql: str, parameters: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        """Start a query and wait for it to end; its QueryExecution."""
        query_id = self.start(sql, parameters, **extra)
        assert self.service.wait_until_idle(20)
        return self.execution(query_id)

    def pages(self, query_id: str, page_size: int = 1000) -> list[dict[str, Any]]:
        found, token = [], None
        while True:
            request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": page_size}
            if token:
                request["NextToken"] = token
            page = self.call("GetQueryResults", **request)
            found.append(page)
            token = page.get("NextToken")
            if token is None:
                return found

    def rows(self, query_id: str, page_size: int = 1000) -> list[list[str | None]]:
        """Every row, header first, as cell strings (None for NULL)."""
        return [cells(row) for page in self.pages(query_id, page_size) for row in page["ResultSet"]["Rows"]]


def cells(row: dict[str, Any]) -> list[str | None]:
    return [cell.get("VarCharValue") for cell in row["Data"]]


def succeeded(execution: dict[str, Any]) -> dict[str, Any]:
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return execution


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    return write_sample_lake(tmp_path_factory.mktemp("lake"), end_day=END_DAY, days=8)


@pytest.fixture(scope="module")
def aws(lake: SampleLake) -> Iterator[None]:
    """The analytics side of the stack in moto: lake and results buckets, database, tables, views, work groups."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (LAKE, RESULTS):
            s3.create_bucket(Bucket=bucket)
        for key in lake.keys:
            s3.put_object(Bucket=LAKE, Key=key, Body=(lake.root / key).read_bytes())
        glue_client = boto3.client("glue", region_name=REGION)
        glue_client.create_database(DatabaseInput={"Name": DATABASE})
        for spec in glue.TABLES:
            glue_client.create_table(DatabaseName=DATABASE, TableInput=table_input(spec, LAKE))
        for view in queries.views():
            glue_client.create_table(DatabaseName=DATABASE, TableInput=view_table_input(view, DATABASE))
        athena = boto3.client("athena", region_name=REGION)
        athena.create_work_group(
            Name=ENFORCED,
            Configuration={
                "ResultConfiguration": {
                    "OutputLocation": f"s3://{RESULTS}/athena/",
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
                "EnforceWorkGroupConfiguration": True,
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
            },
        )
        athena.create_work_group(
            Name=OPEN,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/open/"},
                "EnforceWorkGroupConfiguration": False,
            },
        )
        unchecked = boto3.client("athena", region_name=REGION, config=Config(parameter_validation=False))
        unchecked.create_work_group(  # AWS's minimum cutoff is 10 MB; the sample lake is smaller
            Name=CAPPED,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/capped/"},
                "BytesScannedCutoffPerQuery": 1000,
            },
        )
        yield


@pytest.fixture(scope="module")
def athena(aws: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAthena]:
    service = AthenaService(boto_clients, tmp_path_factory.mktemp("athena"), clock=NOW.timestamp)
    yield LocalAthena(service)
    assert service.wait_until_idle(20)
    service.close()


@pytest.fixture(scope="module")
def engine(lake: SampleLake) -> Iterator[LakeQueryEngine]:
    with LakeQueryEngine(lake.root) as lake_engine:
        yield lake_engine


def s3_sizes(prefix: str) -> dict[str, int]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=LAKE, Prefix=prefix)
    return {item["Key"]: item["Size"] for item in listing.get("Contents", [])}


def copy_objects(keys: list[str], new_prefix: str, old_prefix: str) -> list[str]:
    """Copy lake objects to another prefix of the lake bucket (a table of the test's own); the new keys."""
    s3 = boto3.client("s3", region_name=REGION)
    copied = []
    for key in keys:
        target = new_prefix + key.removeprefix(old_prefix)
        s3.copy_object(Bucket=LAKE, Key=target, CopySource={"Bucket": LAKE, "Key": key})
        copied.append(target)
    return copied


def rows_in(lake: SampleLake, keys: list[str] | set[str]) -> int:
    return sum(pq.read_metadata(lake.root / key).num_rows for key in keys)


# --- queries over the stack's tables ----------------------------------------------------------------------------
def test_a_parameterised_query_reads_only_its_partition(athena: LocalAthena, lake: SampleLake) -> None:
    # Given the stack's videos table, projected on dt
    sql = "SELECT count(*) AS videos, sum(size_bytes) AS bytes FROM moderation_videos WHERE dt = ?"
    # When a query for one day runs
    execution = succeeded(athena.run(sql, [P(END_DAY)]))
    # Then it answers for that day and was billed exactly that partition's objects
    header, row = athena.rows(execution["QueryExecutionId"])
    videos = lake.videos_on(END_DAY)
    assert header == ["videos", "bytes"] and row == [str(len(videos)), str(sum(v.size_bytes for v in videos))]
    partition = s3_sizes(f"moderation_videos/dt={END_DAY.isoformat()}/")
    assert partition and execution["Statistics"]["DataScannedInBytes"] == sum(partition.values())
    # And it is described as Athena describes it
    assert execution["ExecutionParameters"] == [P(END_DAY)]
    assert (execution["StatementType"], execution["SubstatementType"]) == ("DML", "SELECT")
    assert execution["QueryExecutionContext"] == {"Database": DATABASE} and execution["WorkGroup"] == ENFORCED
    assert execution["EngineVersion"] == {
        "SelectedEngineVersion": "Athena engine version 3",
        "EffectiveEngineVersion": "Athena engine version 3",
    }
    assert execution["Status"]["SubmissionDateTime"] == NOW == execution["Status"]["CompletionDateTime"]
    assert "StateChangeReason" not in execution["Status"] and "AthenaError" not in execution["Status"]
    # And a query without the dt filter scans every videos object, more than the one day
    whole = succeeded(athena.run("SELECT count(*) FROM moderation_videos"))
    everything = sum(s3_sizes("moderation_videos/").values())
    assert whole["Statistics"]["DataScannedInBytes"] == everything > sum(partition.values())


def test_a_view_answers_like_the_engine(athena: LocalAthena, engine: LakeQueryEngine) -> None:
    # Given the stack's views stored in Glue as Presto views
    sql = "SELECT * FROM v_daily_summary WHERE dt >= ? ORDER BY dt"
    parameters = [P(END_DAY - timedelta(days=3))]
    # When one is queried
    execution = succeeded(athena.run(sql, parameters))
    header, *rows = athena.rows(execution["QueryExecutionId"])
    # Then it holds what the engine computes over the same files, and only the filtered partitions were read
    expected = engine.execute(sql, parameters)
    types = [
        c["Type"]
        for c in athena.call("GetQueryResults", QueryExecutionId=execution["QueryExecutionId"])["ResultSet"][
            "ResultSetMetadata"
        ]["ColumnInfo"]
    ]
    assert tuple(header) == expected.column_names
    assert [tuple(athena_value(v, t) for v, t in zip(row, types, strict=True)) for row in rows] == expected.rows
    assert execution["Statistics"]["DataScannedInBytes"] == expected.bytes_read > 0


def test_a_qualified_name_and_a_cte_resolve_like_athena(athena: LocalAthena, lake: SampleLake) -> None:
    # Given a CTE named like no Glue table and a table named with catalog and database
    sql = (
        'WITH moderation_labels AS (SELECT video_id FROM "awsdatacatalog"."modlake_dev"."moderation_videos" '
        "WHERE dt = ?) SELECT count(*) FROM moderation_labels"
    )
    # When it runs
    execution = succeeded(athena.run(sql, [P(END_DAY)]))
    # Then the CTE shadows the table of the same name, as in Trino
    assert athena.rows(execution["QueryExecutionId"])[1] == [str(len(lake.videos_on(END_DAY)))]


# --- results ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page_size", [1, 5, 7, 1000])
def test_results_page_with_the_header_on_the_first_page_only(
    athena: LocalAthena, lake: SampleLake, page_size: int
) -> None:
    # Given a finished query with one row per video
    execution = succeeded(athena.run("SELECT video_id, dt FROM moderation_videos ORDER BY video_id"))
    expected = [["video_id", "dt"], *([v.video_id, v.dt] for v in sorted(lake.videos, key=lambda v: v.video_id))]
    # When its results are read in pages of page_size rows
    pages = athena.pages(execution["QueryExecutionId"], page_size)
    # Then the pages hold the header once (first) and every row in order, each page full but the last
    rows = [cells(row) for page in pages for row in page["ResultSet"]["Rows"]]
    assert rows == expected
    sizes = [len(page["ResultSet"]["Rows"]) for page in pages]
    assert all(size == page_size for size in sizes[:-1]) and 0 < sizes[-1] <= page_size
    assert len(pages) == -(-len(expected) // page_size)
    assert all(page["UpdateCount"] == 0 for page in pages)
    assert all(page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]["Type"] == "varchar" for page in pages)


def test_the_csv_object_holds_what_get_query_results_returns(athena: LocalAthena) -> None:
    # Given a query with NULLs, quotes, arrays, doubles, booleans and timestamps
    sql = (
        "SELECT video_id, version_id, object_key, categories, max_confidence, flagged, completed_at, "
        "'say \"hi\"' AS quoted FROM moderation_videos ORDER BY video_id"
    )
    # When it runs in the stack's (enforced) work group
    execution = succeeded(athena.run(sql))
    query_id = execution["QueryExecutionId"]
    # Then its results are at <OutputLocation>/<id>.csv, the very rows GetQueryResults returns
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{RESULTS}/athena/{query_id}.csv"
    assert execution["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    stored = boto3.client("s3", region_name=REGION).get_object(Bucket=RESULTS, Key=f"athena/{query_id}.csv")
    body = stored["Body"].read().decode()
    rows = athena.rows(query_id)
    assert list(csv.reader(io.StringIO(body))) == [["" if v is None else v for v in row] for row in rows]
    # And the CSV is Athena's: every value quoted, NULL an empty unquoted field, `\n` line ends
    lines = body.split("\n")
    assert (
        lines[0]
        == '"video_id","version_id","object_key","categories","max_confidence","flagged","completed_at","quoted"'
    )
    assert body.endswith("\n") and "\r" not in body and len(lines) == len(rows) + 1
    with_null = next(row for row in rows[1:] if row[1] is None)
    assert f'"{with_null[0]}",,"' in body
    assert '"say ""hi"""' in lines[1]
    assert stored.get("ServerSideEncryption") == "AES256"


def test_cells_are_printed_as_athena_prints_them(athena: LocalAthena) -> None:
    # Given values of every kind the stack's tables and views hold
    sql = (
        "SELECT content_types, completed_at, CAST(completed_at AS date) AS day, confidence, flagged, taxonomy_level, "
        "CAST(NULL AS varchar) AS nothing, 1e-4 AS small, 1e7 AS big, CAST(0.5 AS real) AS half, "
        "CAST(1.5 AS decimal(4,2)) AS price, MAP(ARRAY['a'], ARRAY[1.0E0]) AS m "
        "FROM moderation_labels WHERE cardinality(content_types) > 0 ORDER BY video_id, detection_index LIMIT 1"
    )
    # When the query runs
    execution = succeeded(athena.run(sql))
    page = athena.call("GetQueryResults", QueryExecutionId=execution["QueryExecutionId"])
    header, row = page["ResultSet"]["Rows"]
    values = dict(zip(cells(header), cells(row), strict=True))
    # Then each is Trino's text (and NULL has no VarCharValue at all)
    assert values["content_types"] == "[{name=Animated, confidence=88.5}]"
    completed_at = values["completed_at"] or ""
    assert datetime.strptime(completed_at, "%Y-%m-%d %H:%M:%S.%f").microsecond % 1000 == 0
    assert completed_at.endswith(".000") and len(completed_at) == 23 and values["day"] == completed_at[:10]
    assert values["flagged"] in ("true", "false") and values["taxonomy_level"] == "1"
    assert values["nothing"] is None and row["Data"][6] == {}
    assert (values["small"], values["big"], values["half"], values["price"]) == ("1.0E-4", "1.0E7", "0.5", "1.50")
    assert values["m"] == "{a=1.0}"
    columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    shown = {c["Name"]: (c["Type"], c["Precision"], c["Scale"], c["CaseSensitive"]) for c in columns}
    assert shown["content_types"] == ("array", 0, 0, False) and shown["price"] == ("decimal", 4, 2, False)
    assert shown["nothing"] == ("varchar", 2147483647, 0, True) and shown["completed_at"][:2] == ("timestamp", 3)
    assert {c["CatalogName"] for c in columns} == {"hive"} and {c["Nullable"] for c in columns} == {"UNKNOWN"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (97.5, "97.5"),
        (1e-4, "1.0E-4"),
        (1e7, "1.0E7"),
        (1234567.0, "1234567.0"),
        (0.001, "0.001"),
        (12345678.9, "1.23456789E7"),
        (-2.5e-10, "-2.5E-10"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (1 / 3, "0.3333333333333333"),
    ],
)
def test_doubles_print_like_javas_double_to_string(value: float, text: str) -> None:
    assert java_double(value) == text


def test_reals_print_like_javas_float_to_string() -> None:
    assert (java_float(0.1), java_float(3.4028234663852886e38), java_float(1e-4)) == ("0.1", "3.4028235E38", "1.0E-4")


def test_nested_values_print_like_trino() -> None:
    row_type = "array(row(name varchar, confidence double))"
    assert cell_text([{"name": "A", "confidence": 1.0}, None], row_type) == "[{name=A, confidence=1.0}, null]"
    assert cell_text({"k": None}, "map(varchar, bigint)") == "{k=null}"
    assert cell_text(datetime(2026, 11, 20, 8, 0, 0, 999_600), "timestamp") == "2026-11-20 08:00:01.000"
    assert cell_text(b"ab", "varbinary") == "61 62" and cell_text(None, "varchar") is None
    assert column_info(ResultColumn("c", "array(varchar)"))["Type"] == "array"


@pytest.mark.parametrize("name", ["digest_totals", "digest_top_flagged", "digest_categories", "digest_trend"])
def test_digest_cells_round_trip_through_the_lambdas_parser(
    athena: LocalAthena, engine: LakeQueryEngine, name: str
) -> None:
    # Given a digest query and its parameters for a Berlin day (two dt partitions)
    query = queries.named_query(name)
    parameters = local_days(END_DAY, END_DAY, "Europe/Berlin").parameters()
    # When it runs on the local Athena and the Lambda's parser reads every cell back
    execution = succeeded(athena.run(query.sql, parameters))
    pages = athena.pages(execution["QueryExecutionId"], 4)
    types = [c["Type"] for c in pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    header, *rows = [cells(row) for page in pages for row in page["ResultSet"]["Rows"]]
    parsed = [tuple(athena_value(value, kind) for value, kind in zip(row, types, strict=True)) for row in rows]
    # Then the values are exactly the engine's over the same files
    expected = engine.execute(query.sql, parameters)
    assert tuple(header) == expected.column_names and parsed == expected.rows and parsed


# --- failures ---------------------------------------------------------------------------------------------------
def test_invalid_sql_fails_the_query_with_a_reason(athena: LocalAthena) -> None:
    # Given a query with a typo
    execution = athena.run("SELEC video_id FROM moderation_videos")
    # Then it FAILED with Trino's error name first, a USER error of type "syntax error"
    status = execution["Status"]
    reason = status["StateChangeReason"]
    assert status["State"] == "FAILED" and reason.startswith("SYNTAX_ERROR: line 1:")
    assert status["AthenaError"] == {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False, "ErrorMessage": reason}
    assert status["CompletionDateTime"] == NOW
    # And its results are refused with the reason
    error = athena.error("GetQueryResults", QueryExecutionId=execution["QueryExecutionId"])
    assert (error.code, error.message) == ("InvalidRequestException", reason)


@pytest.mark.parametrize(
    ("sql", "parameters", "reason", "error_type"),
    [
        (
            "SELECT ? AS a, ? AS b",
            ["1"],
            "INVALID_PARAMETER_USAGE: Incorrect number of parameters: expected 2 but found 1",
            1100,
        ),
        (
            "SELECT count(*) FROM no_such_table",
            None,
            "TABLE_NOT_FOUND: line 1:22: Table 'awsdatacatalog.modlake_dev.no_such_table' does not exist",
            1110,
        ),
        (
            "SELECT count(*) FROM elsewhere.moderation_videos",
            None,
            "SCHEMA_NOT_FOUND: line 1:22: Schema 'elsewhere' does not exist",
            1301,
        ),
        ("DROP TABLE moderation_videos", None, "NOT_SUPPORTED: only SELECT/WITH queries run locally", 1202),
        (
            "INSERT INTO moderation_videos SELECT * FROM moderation_videos",
            None,
            "NOT_SUPPORTED: only SELECT/WITH",
            1202,
        ),
        ("SELECT no_such_column FROM moderation_videos", None, "SYNTAX_ERROR: ", 1006),
    ],
)
def test_queries_athena_would_refuse_fail(
    athena: LocalAthena, sql: str, parameters: list[str] | None, reason: str, error_type: int
) -> None:
    execution = athena.run(sql, parameters)
    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(reason)
    assert status["AthenaError"]["ErrorType"] == error_type and status["AthenaError"]["ErrorCategory"] == 2


def test_statement_types_are_reported_for_refused_statements(athena: LocalAthena) -> None:
    drop = athena.run("DROP TABLE moderation_videos")
    insert = athena.run("INSERT INTO moderation_videos SELECT * FROM moderation_videos")
    assert (drop["StatementType"], drop["SubstatementType"]) == ("DDL", "DROP_TABLE")
    assert (insert["StatementType"], insert["SubstatementType"]) == ("DML", "INSERT")


def test_unknown_query_ids_are_not_found(athena: LocalAthena) -> None:
    missing = "4b7a3a37-0000-4000-8000-000000000000"
    for operation in ("GetQueryExecution", "GetQueryResults", "StopQueryExecution"):
        error = athena.error(operation, QueryExecutionId=missing)
        assert (error.code, error.message) == ("InvalidRequestException", f"QueryExecution {missing} was not found")


def test_a_next_token_works_only_for_its_own_query(athena: LocalAthena) -> None:
    first = succeeded(athena.run("SELECT video_id FROM moderation_videos"))["QueryExecutionId"]
    second = succeeded(athena.run("SELECT video_id FROM moderation_labels"))["QueryExecutionId"]
    token = athena.call("GetQueryResults", QueryExecutionId=first, MaxResults=2)["NextToken"]
    assert athena.call("GetQueryResults", QueryExecutionId=first, MaxResults=2, NextToken=token)["ResultSet"]["Rows"]
    for bad in ("garbage", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")):
        assert athena.error("GetQueryResults", QueryExecutionId=first, NextToken=bad).code == "InvalidRequestException"
    assert athena.error("GetQueryResults", QueryExecutionId=second, NextToken=token).code == "InvalidRequestException"


def test_the_bytes_scanned_cutoff_cancels_the_query(athena: LocalAthena) -> None:
    execution = athena.run("SELECT count(*) FROM moderation_videos", work_group=CAPPED)
    assert execution["Status"]["State"] == "CANCELLED"
    assert execution["Status"]["StateChangeReason"] == BYTES_SCANNED_EXCEEDED
    assert execution["Statistics"]["DataScannedInBytes"] > 1000


# --- work groups and result locations ---------------------------------------------------------------------------
def test_result_locations_follow_the_work_group(athena: LocalAthena) -> None:
    mine: dict[str, Any] = {"ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/mine"}}
    # A group's location is the default, a request's overrides it, unless the group enforces its own
    default = succeeded(athena.run("SELECT 1", work_group=OPEN))
    chosen = succeeded(athena.run("SELECT 1", work_group=OPEN, **mine))
    enforced = succeeded(athena.run("SELECT 1", work_group=ENFORCED, **mine))
    for execution, prefix in ((default, "open/"), (chosen, "mine/"), (enforced, "athena/")):
        key = f"{prefix}{execution['QueryExecutionId']}.csv"
        assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{RESULTS}/{key}"
        body = boto3.client("s3", region_name=REGION).get_object(Bucket=RESULTS, Key=key)["Body"].read()
        assert body == b'"_col0"\n"1"\n'


def test_a_query_needs_a_result_location_and_a_known_work_group(athena: LocalAthena) -> None:
    # moto's primary work group has no result location
    error = athena.error("StartQueryExecution", QueryString="SELECT 1")
    assert (error.code, error.message) == ("InvalidRequestException", NO_OUTPUT_LOCATION)
    error = athena.error("StartQueryExecution", QueryString="SELECT 1", WorkGroup="nope")
    assert (error.code, error.message) == ("InvalidRequestException", "WorkGroup nope is not found.")
    primary = athena.run(
        "SELECT 1", work_group="primary", ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/primary/"}
    )
    assert succeeded(primary)["WorkGroup"] == "primary"


def test_a_client_request_token_makes_start_idempotent(athena: LocalAthena) -> None:
    token = "retry-token-0123456789abcdef-0123456789"
    first = athena.start("SELECT 1", ClientRequestToken=token)
    again = athena.start("SELECT 1", ClientRequestToken=token)
    other = athena.start("SELECT 1", ClientRequestToken=token.replace("retry", "other"))
    assert first == again != other
    assert athena.service.wait_until_idle(20)


def test_list_and_batch_get_query_executions(athena: LocalAthena) -> None:
    # Given three queries in a work group of their own
    boto3.client("athena", region_name=REGION).create_work_group(
        Name="listing", Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/listing/"}}
    )
    assert "QueryExecutionIds" not in athena.call("ListQueryExecutions", WorkGroup="listing")
    started = [athena.start(f"SELECT {n}", work_group="listing") for n in range(3)]
    assert athena.service.wait_until_idle(20)
    # When they are listed two at a time
    first = athena.call("ListQueryExecutions", WorkGroup="listing", MaxResults=2)
    second = athena.call("ListQueryExecutions", WorkGroup="listing", MaxResults=2, NextToken=first["NextToken"])
    # Then newest come first, each once
    assert first["QueryExecutionIds"] + second["QueryExecutionIds"] == started[::-1]
    assert "NextToken" not in second
    assert set(started).isdisjoint(athena.call("ListQueryExecutions", WorkGroup=ENFORCED).get("QueryExecutionIds", []))
    assert athena.error("ListQueryExecutions", WorkGroup="nope").code == "InvalidRequestException"
    # And a batch get describes the known ones and reports the unknown one
    missing = "00000000-0000-4000-8000-000000000000"
    batch = athena.call("BatchGetQueryExecution", QueryExecutionIds=[started[0], missing, started[2]])
    assert [e["QueryExecutionId"] for e in batch["QueryExecutions"]] == [started[0], started[2]]
    assert [e["Status"]["State"] for e in batch["QueryExecutions"]] == ["SUCCEEDED", "SUCCEEDED"]
    [unprocessed] = batch["UnprocessedQueryExecutionIds"]
    assert unprocessed["QueryExecutionId"] == missing
    assert unprocessed["ErrorMessage"] == f"QueryExecution {missing} was not found"


# --- stopping and states --------------------------------------------------------------------------------------
class GatedGlue:
    """moto's Glue, but GetTable waits for the test to open the gate (so a query stays RUNNING)."""

    def __init__(self, client: Any, entered: threading.Event, gate: threading.Event) -> None:
        self._client, self._entered, self._gate = client, entered, gate

    def get_table(self, **request: Any) -> Any:
        self._entered.set()
        assert self._gate.wait(10)
        return self._client.get_table(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_stop_query_execution_cancels_running_and_queued_queries(aws: None, tmp_path: Path) -> None:
    entered, gate = threading.Event(), threading.Event()

    def clients(service: str, context: RequestContext) -> Any:
        client = boto_clients(service, context)
        return GatedGlue(client, entered, gate) if service == "glue" else client

    factory: ClientFactory = clients
    athena = LocalAthena(AthenaService(factory, tmp_path, workers=1, clock=NOW.timestamp))
    try:
        # Given a query held up while it reads the catalog and one queued behind it
        running = athena.start("SELECT count(*) FROM moderation_videos")
        assert entered.wait(10)
        queued = athena.start("SELECT 1")
        # Then they are RUNNING and QUEUED, and have no results yet
        for query_id, state in ((running, "RUNNING"), (queued, "QUEUED")):
            assert athena.execution(query_id)["Status"]["State"] == state
            error = athena.error("GetQueryResults", QueryExecutionId=query_id)
            assert error.message == f"Query has not yet finished. Current state: {state}"
        # When both are stopped (and the held-up query is then let go)
        assert athena.call("StopQueryExecution", QueryExecutionId=running) == {}
        athena.call("StopQueryExecution", QueryExecutionId=queued)
        gate.set()
        assert athena.service.wait_until_idle(20)
        # Then both stay CANCELLED, with the user's reason, and never wrote results
        for query_id in (running, queued):
            status = athena.execution(query_id)["Status"]
            assert (status["State"], status["StateChangeReason"]) == ("CANCELLED", CANCELLED_BY_USER)
            assert "AthenaError" not in status and status["CompletionDateTime"] == NOW
            error = athena.error("GetQueryResults", QueryExecutionId=query_id)
            assert error.message == CANCELLED_BY_USER
        listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=RESULTS, Prefix="athena/")
        assert not {running, queued} & {item["Key"][len("athena/") : -4] for item in listing.get("Contents", [])}
        # And stopping a finished query changes nothing
        athena.call("StopQueryExecution", QueryExecutionId=running)
        assert athena.execution(running)["Status"]["State"] == "CANCELLED"
    finally:
        gate.set()
        athena.service.wait_until_idle(20)
        athena.service.close()


# --- the catalog: mirror, projection, partitions --------------------------------------------------------------
def test_the_mirror_follows_s3_between_queries(athena: LocalAthena, lake: SampleLake) -> None:
    # Given a table of its own holding one day's videos, beside objects Athena never reads as data
    spec = replace(glue.VIDEOS, name="sync_videos")
    boto3.client("glue", region_name=REGION).create_table(DatabaseName=DATABASE, TableInput=table_input(spec, LAKE))
    day_keys = sorted(lake.partition_keys("moderation_videos", [END_DAY]))
    keys = copy_objects(day_keys, "sync_videos/", "moderation_videos/")
    s3 = boto3.client("s3", region_name=REGION)
    partition = f"sync_videos/dt={END_DAY.isoformat()}/"
    for junk in ("_SUCCESS", ".hidden.parquet", "sub_$folder$", "empty.parquet"):
        s3.put_object(Bucket=LAKE, Key=partition + junk, Body=b"")
    s3.put_object(Bucket=LAKE, Key=partition + "_temporary/part.parquet", Body=b"not parquet")
    sql = "SELECT count(*) FROM sync_videos"
    first = succeeded(athena.run(sql))
    assert athena.rows(first["QueryExecutionId"])[1] == [str(rows_in(lake, day_keys))]
    [mirror] = [found for found in athena.service.mirror_root.rglob("sync_videos") if found.is_dir()]
    kept = mirror / f"dt={END_DAY.isoformat()}" / keys[1].rsplit("/", 1)[1]
    kept_stamp = kept.stat().st_mtime_ns
    # When one object is deleted and another replaced by different content
    s3.delete_object(Bucket=LAKE, Key=keys[0])
    replacement = sorted(lake.partition_keys("moderation_videos", [END_DAY - timedelta(days=1)]))[0]
    s3.put_object(Bucket=LAKE, Key=keys[-1], Body=(lake.root / replacement).read_bytes())
    second = succeeded(athena.run(sql))
    # Then the next query sees exactly what S3 holds now, re-downloading only what changed
    now_rows = rows_in(lake, day_keys[1:-1]) + rows_in(lake, [replacement])
    assert athena.rows(second["QueryExecutionId"])[1] == [str(now_rows)]
    assert second["Statistics"]["DataScannedInBytes"] == sum(
        size for key, size in s3_sizes(partition).items() if key in keys
    )
    files = {p.name for p in mirror.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert files == {key.rsplit("/", 1)[1] for key in keys[1:]}
    assert kept.stat().st_mtime_ns == kept_stamp


def test_projection_limits_the_table_to_its_range(aws: None, tmp_path: Path, lake: SampleLake) -> None:
    # Given the stack's table, whose dt range ends at NOW, queried the day before END_DAY
    before = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
    athena = LocalAthena(AthenaService(boto_clients, tmp_path, clock=before.timestamp))
    try:
        execution = succeeded(athena.run("SELECT count(*) FROM moderation_videos"))
        # Then END_DAY's partition is not part of the table yet
        assert athena.rows(execution["QueryExecutionId"])[1] == [str(len(lake.videos) - len(lake.videos_on(END_DAY)))]
        sizes = s3_sizes("moderation_videos/")
        today = f"moderation_videos/dt={END_DAY.isoformat()}/"
        assert execution["Statistics"]["DataScannedInBytes"] == sum(
            s for k, s in sizes.items() if not k.startswith(today)
        )
    finally:
        athena.service.wait_until_idle(20)
        athena.service.close()


def test_a_fixed_range_excludes_partitions_and_stray_paths(athena: LocalAthena, lake: SampleLake) -> None:
    # Given a table projected on 2026-11-18..19 over objects of four days and paths outside the template
    spec = replace(glue.VIDEOS, name="recent_videos")
    table = table_input(spec, LAKE)
    table["Parameters"]["projection.dt.range"] = "2026-11-18,2026-11-19"
    boto3.client("glue", region_name=REGION).create_table(DatabaseName=DATABASE, TableInput=table)
    days = [END_DAY - timedelta(days=n) for n in range(4)]
    keys = sorted(lake.partition_keys("moderation_videos", days))
    copied = copy_objects(keys, "recent_videos/", "moderation_videos/")
    s3 = boto3.client("s3", region_name=REGION)
    for stray in ("dt=not-a-date/x.parquet", "dt=2026-11-18-extra/x.parquet", "dt=2026-11-18.parquet", "x.parquet"):
        s3.put_object(Bucket=LAKE, Key=f"recent_videos/{stray}", Body=(lake.root / keys[0]).read_bytes())
    # When the whole table is counted
    execution = succeeded(athena.run("SELECT dt, count(*) FROM recent_videos GROUP BY dt ORDER BY dt"))
    # Then only the days inside the range are in it, and only their objects were read
    inside = [date(2026, 11, 18), date(2026, 11, 19)]
    expected = [[day.isoformat(), str(len(lake.videos_on(day)))] for day in inside if lake.videos_on(day)]
    assert athena.rows(execution["QueryExecutionId"])[1:] == expected
    wanted = {k for k in copied if any(f"dt={day.isoformat()}/" in k for day in inside)}
    assert execution["Statistics"]["DataScannedInBytes"] == sum(s3_sizes("recent_videos/")[k] for k in wanted)


def test_enum_and_integer_projections_over_a_custom_template(athena: LocalAthena, lake: SampleLake) -> None:
    # Given a table keyed by an enum and a zero-padded integer, laid out without key= names
    table = table_input(replace(glue.VIDEOS, name="by_source"), LAKE)
    table["PartitionKeys"] = [
        {"Name": "source", "Type": "string", "Comment": ""},
        {"Name": "part", "Type": "int", "Comment": ""},
    ]
    table["Parameters"] = {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.source.type": "enum",
        "projection.source.values": "cam,upload",
        "projection.part.type": "integer",
        "projection.part.range": "1,3",
        "projection.part.digits": "2",
        "storage.location.template": f"s3://{LAKE}/by_source/${{source}}/${{part}}",
    }
    boto3.client("glue", region_name=REGION).create_table(DatabaseName=DATABASE, TableInput=table)
    [one, two, *_] = sorted(lake.partition_keys("moderation_videos", [END_DAY]))
    s3 = boto3.client("s3", region_name=REGION)
    placed = {"by_source/cam/01/a.parquet": one, "by_source/upload/03/b.parquet": two}
    outside = ("by_source/other/01/c.parquet", "by_source/cam/04/d.parquet", "by_source/cam/1/e.parquet")
    for key, source in [*placed.items(), *((k, one) for k in outside)]:
        s3.put_object(Bucket=LAKE, Key=key, Body=(lake.root / source).read_bytes())
    # When it is grouped by its keys
    execution = succeeded(athena.run("SELECT source, part, count(*) AS n FROM by_source GROUP BY 1, 2 ORDER BY 1, 2"))
    # Then only values inside the projections count, and the integer key is an integer
    query_id = execution["QueryExecutionId"]
    assert athena.rows(query_id)[1:] == [
        ["cam", "1", str(rows_in(lake, [one]))],
        ["upload", "3", str(rows_in(lake, [two]))],
    ]
    columns = athena.call("GetQueryResults", QueryExecutionId=query_id)["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [c["Type"] for c in columns] == ["varchar", "integer", "bigint"]
    assert execution["Statistics"]["DataScannedInBytes"] == sum((lake.root / k).stat().st_size for k in (one, two))


def test_a_table_without_projection_reads_its_glue_partitions(athena: LocalAthena, lake: SampleLake) -> None:
    # Given a table without projection whose Glue partitions name two of three days in S3
    table = table_input(replace(glue.VIDEOS, name="listed_videos"), LAKE)
    table["Parameters"] = {"classification": "parquet"}
    glue_client = boto3.client("glue", region_name=REGION)
    glue_client.create_table(DatabaseName=DATABASE, TableInput=table)
    days = [END_DAY, END_DAY - timedelta(days=1), END_DAY - timedelta(days=2)]
    copy_objects(sorted(lake.partition_keys("moderation_videos", days)), "listed_videos/", "moderation_videos/")
    for day in days[:2]:
        glue_client.create_partition(
            DatabaseName=DATABASE,
            TableName="listed_videos",
            PartitionInput={
                "Values": [day.isoformat()],
                "StorageDescriptor": {**table["StorageDescriptor"], "Location": f"s3://{LAKE}/listed_videos/dt={day}/"},
            },
        )
    # When it is counted
    execution = succeeded(athena.run("SELECT count(*) FROM listed_videos"))
    # Then only the listed partitions are read
    expected = sum(len(lake.videos_on(day)) for day in days[:2])
    assert athena.rows(execution["QueryExecutionId"])[1] == [str(expected)]


def test_views_of_views_and_same_named_tables_of_two_databases(athena: LocalAthena, lake: SampleLake) -> None:
    # Given a second database with its own moderation_videos (one day) and a view over one of the stack's views
    glue_client = boto3.client("glue", region_name=REGION)
    glue_client.create_database(DatabaseInput={"Name": "archive"})
    archived_day = END_DAY - timedelta(days=1)
    glue_client.create_table(
        DatabaseName="archive",
        TableInput=table_input(replace(glue.VIDEOS, name="archive_videos"), LAKE) | {"Name": "moderation_videos"},
    )
    copy_objects(
        sorted(lake.partition_keys("moderation_videos", [archived_day])), "archive_videos/", "moderation_videos/"
    )
    document = {
        "originalSql": "SELECT videos FROM v_daily_summary",  # resolved in the view's schema, not the caller's
        "catalog": "awsdatacatalog",
        "schema": DATABASE,
        "columns": [{"name": "videos", "type": "bigint"}],
    }
    glue_client.create_table(
        DatabaseName="archive",
        TableInput={
            "Name": "v_busiest",
            "TableType": "VIRTUAL_VIEW",
            "ViewOriginalText": encode_presto_view(document),
            "StorageDescriptor": {"Columns": [{"Name": "videos", "Type": "bigint"}]},
        },
    )
    # When one query reads both tables and the view
    sql = (
        "SELECT (SELECT count(*) FROM archive.moderation_videos) AS archived, "
        "(SELECT count(*) FROM moderation_videos v WHERE v.dt = ?) AS current, "
        "(SELECT max(videos) FROM archive.v_busiest) AS busiest"
    )
    execution = succeeded(athena.run(sql, [P(END_DAY)]))
    # Then each name meant its own database's relation
    per_day = [len(lake.videos_on(END_DAY - timedelta(days=n))) for n in range(8)]
    assert athena.rows(execution["QueryExecutionId"]) == [
        ["archived", "current", "busiest"],
        [str(len(lake.videos_on(archived_day))), str(len(lake.videos_on(END_DAY))), str(max(per_day))],
    ]


def test_stopping_a_query_interrupts_the_engine(athena: LocalAthena) -> None:
    # Given a query that would compute for minutes (10^10 rows)
    sql = "SELECT sum(a * b) FROM UNNEST(sequence(1, 100000)) AS x(a) CROSS JOIN UNNEST(sequence(1, 100000)) AS y(b)"
    query_id = athena.start(sql)
    deadline = time.monotonic() + 10
    while athena.execution(query_id)["Status"]["State"] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # well into the engine's work
    # When it is stopped
    athena.call("StopQueryExecution", QueryExecutionId=query_id)
    # Then the engine lets go at once and the query stays CANCELLED
    assert athena.service.wait_until_idle(5)
    assert athena.execution(query_id)["Status"]["State"] == "CANCELLED"

"""`modlake query`: named queries' parameters, raw SQL, the Athena calls (botocore Stubber) and the output formats."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.stub import Stubber

from cli.errors import CliError
from cli.query import looks_like_sql, resolve_query, sql_literal, table_text
from cli.target import Target
from queries import named_query
from tests.cli.conftest import OUTPUTS, error_line, modlake, table_rows

COLUMNS = [("dt", "varchar"), ("videos", "bigint"), ("moderated_hours", "double"), ("note", "varchar")]
ROWS: list[list[str | None]] = [["2026-11-01", "3", "0.5", None], ["2026-11-02", "12", "1.25", 'say "hi", ok']]


@pytest.fixture
def athena(target: Target) -> Iterator[Stubber]:
    """A Stubber on the target's Athena client (moto's Athena runs no SQL)."""
    with Stubber(target.client("athena")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_query(
    stubber: Stubber, sql: str, parameters: list[str] | None, *, states: tuple[str, ...] = ("SUCCEEDED",)
) -> None:
    """Stub StartQueryExecution with exactly these arguments, polls through `states`, then one results page."""
    request: dict[str, object] = {
        "QueryString": sql,
        "QueryExecutionContext": {"Database": OUTPUTS["GlueDatabaseName"]},
        "WorkGroup": OUTPUTS["AthenaWorkGroupName"],
    }
    if parameters is not None:
        request["ExecutionParameters"] = parameters
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, request)
    for state in states:
        status: dict[str, str] = {"State": state}
        if state == "FAILED":
            status["StateChangeReason"] = "TABLE_NOT_FOUND: line 17:6: Table moderation_videos does not exist"
        stubber.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}},
            {"QueryExecutionId": "q-1"},
        )
    if states[-1] != "SUCCEEDED":
        return
    header = {"Data": [{"VarCharValue": name} for name, _ in COLUMNS]}
    rows = [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in ROWS]
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": [header, *rows],
                "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Type": t} for n, t in COLUMNS]},
            }
        },
        {"QueryExecutionId": "q-1"},
    )


def test_named_query_parameters_go_in_header_order(target: Target, athena: Stubber) -> None:
    # Given daily_volume, whose header lists day_from then day_to
    sql = named_query("daily_volume").sql
    expect_query(athena, sql, ["'2026-11-01'", "'2026-11-20'"], states=("RUNNING", "SUCCEEDED"))
    # When the parameters are given in the other order
    result = modlake(
        target,
        "query",
        "daily_volume",
        "--param",
        "day_to=2026-11-20",
        "--param",
        "day_from=2026-11-01",
        "--format",
        "json",
    )
    # Then Athena gets them in header order, quoted, in the stack's workgroup and database (the Stubber checks)
    assert result.exit_code == 0, result.output
    # and the rows come out typed by their column types, one object per row
    assert json.loads(result.stdout) == [
        {"dt": "2026-11-01", "videos": 3, "moderated_hours": 0.5, "note": None},
        {"dt": "2026-11-02", "videos": 12, "moderated_hours": 1.25, "note": 'say "hi", ok'},
    ]


def test_csv_output_has_a_header_and_quotes(target: Target, athena: Stubber) -> None:
    # Given raw SQL without parameters
    sql = "SELECT dt, videos, moderated_hours, note FROM v_daily_summary"
    expect_query(athena, sql, None)
    # When it runs with CSV output
    result = modlake(target, "query", sql, "--format", "csv")
    # Then stdout is CSV with the header first, NULL as empty and quoting where needed
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "dt,videos,moderated_hours,note",
        "2026-11-01,3,0.5,",
        '2026-11-02,12,1.25,"say ""hi"", ok"',
    ]


def test_table_output(target: Target, athena: Stubber) -> None:
    # Given raw SQL whose values come from --param in the order given
    sql = "SELECT * FROM moderation_videos WHERE dt = ? LIMIT ?"
    expect_query(athena, sql, ["'2026-11-01'", "10"])
    # When it runs with the default output
    result = modlake(target, "query", sql, "--param", "day=2026-11-01", "--param", "n=10")
    # Then a table shows every row, then the count
    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [["2026-11-01", "3", "0.5", ""], ["2026-11-02", "12", "1.25", 'say "hi", ok']]
    assert "2 rows" in result.stdout


def test_a_failed_query_is_one_line_with_athenas_reason(target: Target, athena: Stubber) -> None:
    # Given Athena failing the query
    expect_query(athena, named_query("daily_volume").sql, ["'a'", "'b'"], states=("FAILED",))
    # When it runs
    result = modlake(target, "query", "daily_volume", "--param", "day_from=a", "--param", "day_to=b")
    # Then the reason is one line
    assert result.exit_code == 1
    assert error_line(result) == (
        "modlake: query daily_volume FAILED: TABLE_NOT_FOUND: line 17:6: Table moderation_videos does not exist"
    )


def test_missing_and_unknown_parameters_list_the_expected_ones() -> None:
    # When a named query gets one right, one wrong and misses one
    # Then the error names both problems and the expected parameters
    with pytest.raises(CliError) as raised:
        resolve_query("daily_volume", {"day_from": "2026-11-01", "day": "x"})
    assert raised.value.message == (
        "query daily_volume: missing day_to; unknown day (it takes --param day_from=… --param day_to=…)"
    )


def test_an_extra_parameter_is_refused() -> None:
    # When a named query gets every parameter plus one it does not take
    # Then only the extra one is reported
    with pytest.raises(CliError, match=r"^query daily_volume: unknown extra \(it takes"):
        resolve_query("daily_volume", {"day_from": "a", "day_to": "b", "extra": "1"})


@pytest.mark.parametrize(
    ("value", "literal"),
    [("2026-11-01", "'2026-11-01'"), ("10", "10"), ("-2.5", "-2.5"), ("'10'", "'10'"), ("O'Brien", "'O''Brien'")],
)
def test_param_values_become_sql_literals(value: str, literal: str) -> None:
    # When a --param value is turned into an execution parameter
    # Then numbers stay numbers, quoted values stay as given, and text is quoted and escaped
    assert sql_literal(value) == literal


@pytest.mark.parametrize(
    ("text", "is_sql"),
    [("SELECT 1", True), ("  with x as (select 1) select * from x", True), ("show tables", True), ("daily", False)],
)
def test_sql_is_told_from_names(text: str, is_sql: bool) -> None:
    # When an argument is classified
    # Then statements are SQL and single words are names
    assert looks_like_sql(text) is is_sql


@pytest.mark.parametrize(
    ("value", "shown"), [(0.001388888888888889, "0.00138889"), (1.25, "1.25"), (13438, "13438"), (None, "")]
)
def test_table_cells_round_doubles_for_reading(value: object, shown: str) -> None:
    # Athena's double hours (or ratios) would otherwise fill the table with 16 digits; CSV and JSON keep them
    assert table_text(value) == shown

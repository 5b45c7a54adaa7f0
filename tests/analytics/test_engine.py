"""LakeQueryEngine: Athena's parameters, types and errors on DuckDB, and the objects a query opens."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

import queries
from glue import LABELS, VIDEOS
from sandbox.athena.engine import LakeQueryEngine, QueryError, ResultColumn, bind_parameters
from sandbox.sample_lake import SampleLake
from tests.analytics.conftest import END_DAY
from tests.analytics.helpers import VIDEOS_TABLE

P = queries.execution_parameter


# --- bind_parameters ---------------------------------------------------------------------------------------------
def test_parameters_replace_placeholders_in_order_outside_strings_and_comments() -> None:
    # Given SQL with `?` in a string, in comments and as two placeholders
    sql = "SELECT '?' AS q -- why?\nFROM t /* ? */ WHERE a = ? AND b = ?"
    # When two parameters are bound
    bound = bind_parameters(sql, [P("O'Brien"), P(42)])
    # Then only the placeholders changed, in order, the string parameter quoted as Athena quotes it
    assert bound == "SELECT '?' AS q -- why?\nFROM t /* ? */ WHERE a = 'O''Brien' AND b = 42"


def test_a_compound_parameter_stays_one_value() -> None:
    assert bind_parameters("SELECT ? * 2", ["1 + 1"]) == "SELECT (1 + 1) * 2"


@pytest.mark.parametrize(
    ("sql", "parameters", "expected", "found"), [("SELECT ?, ?", ["1"], 2, 1), ("SELECT 1", ["1"], 0, 1)]
)
def test_a_parameter_count_mismatch_fails_like_athena(
    sql: str, parameters: list[str], expected: int, found: int
) -> None:
    with pytest.raises(
        QueryError, match=f"Incorrect number of parameters: expected {expected} but found {found}"
    ) as info:
        bind_parameters(sql, parameters)
    assert info.value.error_type == "INVALID_PARAMETER_USAGE"


@pytest.mark.parametrize("parameter", ["'unterminated", "SELECT 1", "2026-11-20 garbage )"])
def test_a_parameter_that_is_not_a_value_is_refused(parameter: str) -> None:
    with pytest.raises(QueryError, match="INVALID_PARAMETER_USAGE"):
        bind_parameters("SELECT ?", [parameter])


def test_parameters_arrive_as_values(empty_engine: LakeQueryEngine) -> None:
    # Given a string with a quote, a date, a timestamp and a number as execution parameters
    last_ms = datetime(2026, 11, 20, 23, 59, 59, 999000)
    values: list[str | int | date | datetime] = ["it's", date(2026, 11, 20), last_ms, 7]
    # When they are selected back
    result = empty_engine.execute(
        "SELECT ?, CAST(? AS date), CAST(? AS timestamp), ?",
        [P(v) for v in values],
    )
    # Then each is the value it stood for
    assert result.rows == [tuple(values)]


# --- errors ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "error_type", "mentions"),
    [
        ("SELEC 1", "SYNTAX_ERROR", "line 1:7: "),
        ("SELECT (1", "SYNTAX_ERROR", "Expecting )"),
        ("SELECT count(*) FROM moderation_vidoes", "SYNTAX_ERROR", "moderation_vidoes"),
        ("SELECT no_such_column FROM moderation_videos", "SYNTAX_ERROR", "no_such_column"),
        ("DROP TABLE moderation_videos", "NOT_SUPPORTED", "DROP"),
        ("SELECT 1; SELECT 2", "SYNTAX_ERROR", "one statement"),
        ("SELECT now()", "NOT_SUPPORTED", "time zone"),
    ],
)
def test_bad_queries_fail_with_a_clear_message(
    empty_engine: LakeQueryEngine, sql: str, error_type: str, mentions: str
) -> None:
    with pytest.raises(QueryError) as info:
        empty_engine.execute(sql)
    assert info.value.error_type == error_type
    assert str(info.value).startswith(f"{error_type}: ") and mentions in str(info.value)
    assert "\x1b" not in str(info.value)  # no terminal highlighting in a StateChangeReason


# --- tables, types, semantics ------------------------------------------------------------------------------------
def test_an_empty_lake_has_typed_empty_tables(empty_engine: LakeQueryEngine) -> None:
    # Given a lake with no objects
    # When each table is read
    videos = empty_engine.execute("SELECT * FROM moderation_videos")
    labels = empty_engine.execute("SELECT * FROM moderation_labels")
    # Then the columns are the glue schema's, in Athena's type names, with the dt partition last
    types = dict(zip((c.name for c in videos.columns), (c.athena_type for c in videos.columns), strict=True))
    assert [c.name for c in videos.columns] == [*VIDEOS.column_names, "dt"]
    assert [c.name for c in labels.columns] == [*LABELS.column_names, "dt"]
    assert types["size_bytes"] == "bigint" and types["frame_width"] == "integer" and types["dt"] == "varchar"
    assert types["flagged"] == "boolean" and types["completed_at"] == "timestamp"
    assert types["categories"] == "array(varchar)" and types["max_confidence"] == "double"
    assert ResultColumn("content_types", "array(row(name varchar, confidence double))") in labels.columns
    assert videos.rows == [] and videos.files_read == () and videos.bytes_read == 0


def test_count_if_over_no_rows_is_zero_as_in_trino(empty_engine: LakeQueryEngine) -> None:
    # DuckDB's own count_if returns NULL over no rows; Athena's returns 0
    result = empty_engine.execute("SELECT count_if(flagged), count(*) FROM moderation_videos")
    assert result.rows == [(0, 0)]
    assert [c.athena_type for c in result.columns] == ["bigint", "bigint"]


def test_sums_of_bigints_are_bigint(engine: LakeQueryEngine) -> None:
    result = engine.execute("SELECT sum(size_bytes), 1.5, 1e3 FROM moderation_videos WHERE dt = ?", [P(END_DAY)])
    assert [c.athena_type for c in result.columns] == ["bigint", "decimal(2,1)", "double"]


def test_a_database_qualifier_is_accepted(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    result = engine.execute('SELECT count(*) FROM "modlake_dev"."moderation_videos" WHERE dt = ?', [P(END_DAY)])
    assert result.rows == [(len(sample_lake.videos_on(END_DAY)),)]


def test_each_query_sees_the_objects_written_since_the_last(
    empty_engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given an engine over an empty lake that has answered once
    assert empty_engine.execute("SELECT count(*) FROM moderation_videos").rows == [(0,)]
    # When one day's objects arrive, with a hidden file and a staging object beside them
    day_keys = sorted(sample_lake.partition_keys(VIDEOS_TABLE, [END_DAY]))
    for key in day_keys:
        target = empty_engine.lake_root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_lake.root / key, target)
    (empty_engine.lake_root / day_keys[0]).with_name("_SUCCESS").write_text("")
    staged = empty_engine.lake_root / "_staging/collect/job/chunk-00000.parquet"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"not parquet")
    # Then the next query reads exactly them
    result = empty_engine.execute("SELECT count(*) FROM moderation_videos")
    assert result.rows == [(len(sample_lake.videos_on(END_DAY)),)]
    assert list(result.files_read) == day_keys
    assert result.bytes_read == sum((empty_engine.lake_root / key).stat().st_size for key in day_keys)


def test_a_query_without_a_dt_filter_reads_every_object(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    result = engine.execute("SELECT count(*) FROM moderation_videos")
    assert result.rows == [(len(sample_lake.videos),)]
    assert set(result.files_read) == {k for k in sample_lake.keys if k.startswith(f"{VIDEOS_TABLE}/")}


def test_a_dt_filter_prunes_through_unnest(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Trino filters the table before CROSS JOIN UNNEST; DuckDB needs the engine's help to do the same
    result = engine.execute(
        "SELECT c, count(*) FROM moderation_videos v CROSS JOIN UNNEST(v.categories) AS t(c) WHERE v.dt = ? GROUP BY c",
        [P(END_DAY)],
    )
    assert set(result.files_read) == sample_lake.partition_keys(VIDEOS_TABLE, [END_DAY])
    assert sum(n for _, n in result.rows) == sum(len(v.categories) for v in sample_lake.videos_on(END_DAY))


def test_the_engine_removes_its_schema_files_when_closed(tmp_path: Path) -> None:
    engine = LakeQueryEngine(tmp_path)
    private = engine._private.name
    assert Path(private).is_dir()
    engine.close()
    assert not Path(private).exists()

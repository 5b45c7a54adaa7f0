"""Every .sql file of queries/ and queries/views/: Athena SQL, parameters as declared, dt pruning, typed views."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

import queries
from glue import TABLES
from queries import SqlFile
from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import SampleLake
from stacks.views import view_columns
from tests.analytics.conftest import END_DAY

NAMED = queries.named_queries()
VIEWS = queries.views()
DAY = END_DAY - timedelta(days=1)
# What each parameter name means, as one UTC day: every named query is run with these.
DAY_PARAMETERS = {
    "day": DAY,
    "day_from": DAY,
    "day_to": DAY,
    "period_start": datetime.combine(DAY, time(0)),
    "period_end": datetime.combine(DAY + timedelta(days=1), time(0)),
}


def ids(files: tuple[SqlFile, ...]) -> list[str]:
    return [f.name for f in files]


def placeholders(sql: str) -> int:
    tokens = sqlglot.Dialect.get_or_raise("athena").tokenize(sql)
    return sum(t.token_type is TokenType.PLACEHOLDER for t in tokens)


def test_the_queries_and_views_exist() -> None:
    assert {"flagged_videos_for_day", "label_counts_by_category", "most_severe_flagged_videos"} <= set(ids(NAMED))
    assert {"failed_and_skipped_videos", "daily_volume", "digest_totals", "digest_trend"} <= set(ids(NAMED))
    assert set(ids(VIEWS)) == {
        "v_detections",
        "v_flagged_videos",
        "v_daily_summary",
        "v_category_daily",
        "v_unmoderated_videos",
        "v_time_to_outcome",
        "v_verdicts",
        "v_review_queue",
        "v_precision",
    }


@pytest.mark.parametrize("sql_file", NAMED + VIEWS, ids=ids(NAMED + VIEWS))
def test_each_file_is_one_athena_query_with_its_declared_parameters(sql_file: SqlFile) -> None:
    # Given a .sql file, When it is parsed as Athena SQL
    statements = sqlglot.parse(sql_file.sql, read="athena")
    # Then it is one query with a purpose, and one `?` per declared parameter
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)
    assert sql_file.description
    assert placeholders(sql_file.sql) == len(sql_file.parameters)


@pytest.mark.parametrize("view", VIEWS, ids=ids(VIEWS))
def test_views_have_no_parameters_unqualified_tables_and_cast_computed_columns(view: SqlFile) -> None:
    # Given a view, When it is parsed
    tree = sqlglot.parse_one(view.body, read="athena")
    assert isinstance(tree, exp.Query)
    # Then it takes no parameters and names the tables without a database (the stack's database is implied)
    assert view.parameters == () and placeholders(view.sql) == 0
    tables = list(tree.find_all(exp.Table))
    assert tables and all(not t.db and not t.catalog and t.name in {s.name for s in TABLES} for t in tables)
    # And every column is a plain table column or an explicit CAST (so its declared type is its real type)
    for select in tree.selects:
        value = select.this if isinstance(select, exp.Alias) else select
        assert isinstance(value, exp.Column | exp.Cast), f"{view.name}: cast {select.sql('athena')}"
    # And it keeps dt, so users can prune partitions through it
    assert "dt" in [s.alias_or_name for s in tree.selects]


@pytest.mark.parametrize("view", VIEWS, ids=ids(VIEWS))
def test_declared_view_columns_match_what_the_engine_returns(engine: LakeQueryEngine, view: SqlFile) -> None:
    # Given the column types the stack declares for the view (derived from the glue schema)
    declared = view_columns(view)
    # When the view is queried
    result = engine.execute(f"SELECT * FROM {view.name} WHERE false")
    # Then the names and types are the ones the query really returns (Athena marks a mismatched view stale)
    returned = tuple((c.name, c.athena_type) for c in result.columns)
    assert tuple((name, re.sub(r"^timestamp\(3\)$", "timestamp", presto)) for name, presto in declared) == returned


# The digest's review line counts the queue as of the end of the day: every partition, by design (its header says so).
READS_EVERY_PARTITION = frozenset({"digest_review"})
BOUNDED = tuple(query for query in NAMED if query.name not in READS_EVERY_PARTITION)


def test_only_the_review_line_reads_every_partition() -> None:
    assert {query.name for query in NAMED} - {query.name for query in BOUNDED} == READS_EVERY_PARTITION
    (review,) = [query for query in NAMED if query.name in READS_EVERY_PARTITION]
    assert "every partition" in review.description


@pytest.mark.parametrize("query", BOUNDED, ids=ids(BOUNDED))
def test_each_named_query_reads_only_the_partitions_of_its_days(
    engine: LakeQueryEngine, sample_lake: SampleLake, query: SqlFile
) -> None:
    # Given the query's parameters, all meaning one UTC day (and a video whose results are in that day)
    flagged_that_day = next(v for v in sample_lake.videos_on(DAY) if v.detections)
    values = {**DAY_PARAMETERS, "video_id": flagged_that_day.video_id}
    parameters = [queries.execution_parameter(values[name]) for name in query.parameters]
    # When it runs on the 35-day lake
    result = engine.execute(query.sql, parameters)
    # Then it opened objects of that day's dt partitions only (Athena's partition projection prunes the same way)
    allowed = set().union(*(sample_lake.partition_keys(spec.name, [DAY]) for spec in TABLES))
    assert result.files_read and set(result.files_read) <= allowed
    assert result.rows

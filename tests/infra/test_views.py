"""stacks.views: view column types derived from the one schema, and the Presto view encoding Athena reads."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import queries
from queries import SqlFile, parse_sql_file
from stacks.views import (
    GLUE_TYPES,
    ViewTypeError,
    decode_presto_view,
    encode_presto_view,
    view_columns,
    view_table_input,
)

DAILY_VIEW = """-- Purpose: Flagged videos per day, for a test.
-- Parameters: none
SELECT
  CAST(v.dt AS date) AS day,
  count(*) AS videos,
  count_if(v.flagged) AS flagged_videos,
  sum(v.frame_width) AS width_total,
  avg(v.max_confidence) AS mean_confidence,
  max(v.completed_at) AS last_completed_at,
  array_join(v.categories, ', ') AS categories,
  bool_or(v.flagged) AS any_flagged,
  min(v.frame_height) AS min_height,
  year(v.completed_at) AS completed_year
FROM moderation_videos v
GROUP BY 1, 7, 10;
"""


def _view(tmp_path: Path, name: str, text: str) -> SqlFile:
    """A view file written to a scratch directory (queries/views/ stays untouched) and loaded as the stack loads it."""
    path = tmp_path / f"{name}.sql"
    path.write_text(text, encoding="utf-8")
    return parse_sql_file(path.stem, path.read_text(encoding="utf-8"))


def test_columns_are_typed_from_the_glue_schema_in_presto_spelling(tmp_path: Path) -> None:
    # Given a view over moderation_videos with casts, aggregates and a flattened array
    view = _view(tmp_path, "v_daily", DAILY_VIEW)
    # When its columns are derived
    columns = view_columns(view)
    # Then each has its name and Trino's type (timestamps in milliseconds, Trino's bigint for year())
    assert columns == (
        ("day", "date"),
        ("videos", "bigint"),
        ("flagged_videos", "bigint"),
        ("width_total", "bigint"),
        ("mean_confidence", "double"),
        ("last_completed_at", "timestamp(3)"),
        ("categories", "varchar"),
        ("any_flagged", "boolean"),
        ("min_height", "integer"),
        ("completed_year", "bigint"),
    )


def test_table_input_round_trips_to_the_view_sql_and_columns(tmp_path: Path) -> None:
    # Given the view and a database
    view = _view(tmp_path, "v_daily", DAILY_VIEW)
    # When its Glue table input is built
    table = view_table_input(view, "modlake_test")
    # Then it is a Presto view whose base64 JSON holds the SQL without its header and the derived columns
    assert table["Name"] == "v_daily"
    assert table["TableType"] == "VIRTUAL_VIEW"
    assert table["Parameters"] == {"presto_view": "true", "comment": "Presto View"}
    assert table["ViewExpandedText"] == "/* Presto View */"
    original = table["ViewOriginalText"]
    assert original.startswith("/* Presto View: ") and original.endswith(" */")
    document = json.loads(base64.b64decode(original.removeprefix("/* Presto View: ").removesuffix(" */")))
    assert document == {
        "originalSql": view.body,
        "catalog": "awsdatacatalog",
        "schema": "modlake_test",
        "columns": [{"name": name, "type": presto_type} for name, presto_type in view_columns(view)],
        "owner": "modlake",
        "runAsInvoker": False,
        "properties": {},
    }
    assert not document["originalSql"].startswith("--") and not document["originalSql"].endswith(";")
    # And the Glue columns carry the Hive spelling of the same types
    assert table["StorageDescriptor"] == {
        "Columns": [{"Name": name, "Type": GLUE_TYPES[presto_type]} for name, presto_type in view_columns(view)],
        "SerdeInfo": {},
    }
    assert [c["Type"] for c in table["StorageDescriptor"]["Columns"]][:6] == [
        "date",
        "bigint",
        "bigint",
        "bigint",
        "double",
        "timestamp",
    ]


def test_decode_inverts_encode() -> None:
    # Given a document / When encoded and decoded / Then it is unchanged
    document = {"originalSql": "SELECT 'é' AS x", "columns": [{"name": "x", "type": "varchar"}]}
    assert decode_presto_view(encode_presto_view(document)) == document
    with pytest.raises(ValueError, match="not a Presto view"):
        decode_presto_view("SELECT 1")


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("SELECT categories FROM moderation_videos", "column 'categories' has type ARRAY(VARCHAR)"),
        ("SELECT content_types FROM moderation_labels", "column 'content_types' has type ARRAY(ROW("),
        ("SELECT NULL AS nothing FROM moderation_videos", "column 'nothing' has type UNKNOWN"),
        ("SELECT CAST(size_bytes AS decimal(10, 2)) AS size FROM moderation_videos", "column 'size' has type DECIMAL"),
        ("SELECT count(*) FROM moderation_videos", "name every computed column"),
        ("SELECT no_such_column FROM moderation_videos", "cannot resolve its columns against glue.TABLES"),
        ("SELECT video_id, video_id FROM moderation_videos", "duplicate column names video_id"),
    ],
)
def test_columns_a_view_cannot_expose_fail_at_synth(tmp_path: Path, select: str, message: str) -> None:
    # Given a view with a column QuickSight cannot use or whose type cannot be known
    view = _view(tmp_path, "v_bad", f"-- Purpose: a broken view.\n{select}\n")
    # When its columns are derived / Then a ViewTypeError names the view and the column
    with pytest.raises(ViewTypeError) as error:
        view_columns(view)
    assert str(error.value).startswith("view v_bad: ")
    assert message in str(error.value)


@pytest.mark.parametrize("view", queries.views(), ids=lambda view: view.name)
def test_every_quicksight_view_carries_the_source_so_dashboards_can_split(view: SqlFile) -> None:
    # Given a view of queries/views/, When its Glue table input is built (what the stack and QuickSight use)
    table = view_table_input(view, "modlake_test")
    # Then it declares source as a string column, next to dt
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns["source"] == "string" and "dt" in columns

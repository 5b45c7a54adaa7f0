"""Athena views from queries/views/*.sql: their column types (derived with sqlglot) and their Glue encoding.

Athena stores a view as a Glue table of type VIRTUAL_VIEW whose ViewOriginalText is
`/* Presto View: <base64 of a JSON document> */`; the JSON holds the SQL and the column types
in Trino's spelling. Creating that table from CloudFormation makes the view exist after
`cdk deploy` with no manual CREATE VIEW.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from glue import TABLES
from queries import SqlFile

DIALECT = "athena"
CATALOG = "awsdatacatalog"
VIEW_OWNER = "modlake"
PRESTO_VIEW_PREFIX = "/* Presto View: "
PRESTO_VIEW_SUFFIX = " */"
PRESTO_VIEW_EXPANDED_TEXT = "/* Presto View */"

# sqlglot type → (Presto/Trino type in the view JSON, Glue/Hive type of the table column).
# Athena engine v3 reads timestamps with millisecond precision: timestamp(3).
VIEW_TYPES: Mapping[exp.DType, tuple[str, str]] = {
    exp.DType.VARCHAR: ("varchar", "string"),
    exp.DType.TEXT: ("varchar", "string"),
    exp.DType.BIGINT: ("bigint", "bigint"),
    exp.DType.INT: ("integer", "int"),
    exp.DType.DOUBLE: ("double", "double"),
    exp.DType.BOOLEAN: ("boolean", "boolean"),
    exp.DType.DATE: ("date", "date"),
    exp.DType.TIMESTAMP: ("timestamp(3)", "timestamp"),
}
GLUE_TYPES: Mapping[str, str] = dict(VIEW_TYPES.values())

_BIGINT: dict[str, Any] = {"returns": exp.DType.BIGINT}
# Where sqlglot's generic typing differs from Trino's: every date/time field function and date_diff return bigint,
# date_trunc keeps its argument's type.
_TRINO_TYPES: dict[type[exp.Expr], dict[str, Any]] = {
    **{
        getattr(exp, name): _BIGINT
        for name in (
            "Year",
            "Quarter",
            "Month",
            "WeekOfYear",
            "Week",
            "Day",
            "DayOfMonth",
            "DayOfWeek",
            "DayOfWeekIso",
            "DayOfYear",
            "YearOfWeek",
            "Hour",
            "Minute",
            "Second",
            "DateDiff",
        )
        if hasattr(exp, name)
    },
    exp.TimestampTrunc: {"annotator": lambda self, e: self._annotate_by_args(e, "this")},
}


class ViewTypeError(ValueError):
    """A view column whose type cannot be derived, or that Athena views for QuickSight should not expose."""


def _schema() -> MappingSchema:
    """glue.TABLES as sqlglot sees them: every column plus the dt partition key."""
    tables: dict[str, object] = {
        spec.name: {
            **{column.name: column.glue_type for column in spec.columns},
            spec.partition_key.name: spec.partition_key.glue_type,
        }
        for spec in TABLES
    }
    return MappingSchema(tables, dialect=DIALECT)


def view_columns(view: SqlFile) -> tuple[tuple[str, str], ...]:
    """(column name, Presto type) of each column the view selects, in order; raises ViewTypeError when unsure."""
    schema = _schema()
    dialect = Dialect.get_or_raise(DIALECT)
    try:
        parsed = sqlglot.parse_one(view.body, read=DIALECT)
        if isinstance(parsed, exp.Query):
            unnamed = [s.sql(DIALECT) for s in parsed.selects if not isinstance(s, exp.Alias | exp.Column | exp.Star)]
            if unnamed:
                raise ViewTypeError(f"view {view.name}: name every computed column (add AS <name>): {unnamed}")
        tree = qualify(parsed, schema=schema, dialect=DIALECT)
        typed = annotate_types(
            tree, schema=schema, dialect=DIALECT, expression_metadata={**dialect.EXPRESSION_METADATA, **_TRINO_TYPES}
        )
    except SqlglotError as error:
        raise ViewTypeError(f"view {view.name}: cannot resolve its columns against glue.TABLES: {error}") from error
    if not isinstance(typed, exp.Query):
        raise ViewTypeError(f"view {view.name}: the file must hold one SELECT")
    columns = []
    for select in typed.selects:
        name = select.alias_or_name
        data_type = select.type
        if data_type is None or data_type.this not in VIEW_TYPES or data_type.expressions:
            shown = data_type.sql(DIALECT) if data_type is not None else "UNKNOWN"
            raise ViewTypeError(
                f"view {view.name}: column {name!r} has type {shown}; views expose only "
                "varchar, bigint, integer, double, boolean, date and timestamp columns "
                "(QuickSight cannot use arrays, maps or structs): convert it, e.g. array_join(x, ', ') or "
                "CAST(x AS double)"
            )
        columns.append((name, VIEW_TYPES[data_type.this][0]))
    duplicates = sorted({name for name, _ in columns if [n for n, _ in columns].count(name) > 1})
    if duplicates:
        raise ViewTypeError(f"view {view.name}: duplicate column names {', '.join(duplicates)}")
    return tuple(columns)


def presto_view(view: SqlFile, database: str) -> dict[str, Any]:
    """The JSON document Athena keeps (base64-encoded) in a view's ViewOriginalText."""
    return {
        "originalSql": view.body,
        "catalog": CATALOG,
        "schema": database,
        "columns": [{"name": name, "type": presto_type} for name, presto_type in view_columns(view)],
        "owner": VIEW_OWNER,
        "runAsInvoker": False,
        "properties": {},
    }


def encode_presto_view(document: Mapping[str, Any]) -> str:
    """`/* Presto View: <base64 of JSON> */`, as Athena writes it."""
    payload = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
    return f"{PRESTO_VIEW_PREFIX}{payload}{PRESTO_VIEW_SUFFIX}"


def decode_presto_view(text: str) -> dict[str, Any]:
    """The JSON document of a ViewOriginalText (the inverse of encode_presto_view)."""
    if not (text.startswith(PRESTO_VIEW_PREFIX) and text.endswith(PRESTO_VIEW_SUFFIX)):
        raise ValueError("not a Presto view: expected '/* Presto View: <base64> */'")
    payload = text[len(PRESTO_VIEW_PREFIX) : -len(PRESTO_VIEW_SUFFIX)]
    document: dict[str, Any] = json.loads(base64.b64decode(payload, validate=True))
    return document


def view_table_input(view: SqlFile, database: str) -> dict[str, Any]:
    """Glue TableInput (API shape) of the view: what Athena's CREATE VIEW would store."""
    document = presto_view(view, database)
    return {
        "Name": view.name,
        "Description": view.description[:2048],
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View"},
        "ViewOriginalText": encode_presto_view(document),
        "ViewExpandedText": PRESTO_VIEW_EXPANDED_TEXT,
        "StorageDescriptor": {
            "Columns": [{"Name": c["name"], "Type": GLUE_TYPES[c["type"]]} for c in document["columns"]],
            "SerdeInfo": {},
        },
    }

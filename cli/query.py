"""`modlake query`: a named query from queries/ (parameters by name) or raw SQL, run in the stack's Athena workgroup."""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from cli.errors import CliError
from cli.output import plain
from cli.target import Target
from functions.common.adapters.athena import AthenaQueryRunner
from functions.common.ports import QueryRunner
from queries import SqlFile, execution_parameter, named_queries

DEFAULT_TIMEOUT_SECONDS = 300
_SQL_START = frozenset({"select", "with", "show", "describe", "desc", "explain", "values", "table"})
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class OutputFormat(StrEnum):
    """How `modlake query` prints rows."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class QueryResult:
    """A query's rows (typed by their Athena column types); no rows means no known columns."""

    query: SqlFile
    parameters: tuple[str, ...]
    rows: list[dict[str, Any]]

    @property
    def columns(self) -> list[str]:
        """Column names in the query's order (taken from the first row)."""
        return list(self.rows[0]) if self.rows else []


def athena_runner(target: Target, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> AthenaQueryRunner:
    """The project's Athena runner on the target's workgroup and database, stopping queries after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    return AthenaQueryRunner(
        target.client("athena"),
        workgroup=target.output("AthenaWorkGroupName"),
        database=target.output("GlueDatabaseName"),
        time_left_ms=lambda: int((deadline - time.monotonic()) * 1000),
        reserve_ms=0,
        first_wait=0.2,
        max_wait=2.0,
    )


def parse_params(raw: Sequence[str]) -> dict[str, str]:
    """`--param name=value` options as an ordered mapping; a malformed or repeated one is a one-line error."""
    values: dict[str, str] = {}
    for item in raw:
        name, separator, value = item.partition("=")
        name = name.strip()
        if not separator or not name:
            raise CliError(f"bad --param {item!r}: expected NAME=VALUE")
        if name in values:
            raise CliError(f"--param {name} given twice")
        values[name] = value
    return values


def sql_literal(value: str) -> str:
    """A --param value as an Athena execution parameter: numbers as numbers, 'quoted' as given, else a string."""
    if _NUMBER.match(value) or (len(value) >= 2 and value.startswith("'") and value.endswith("'")):
        return value
    return execution_parameter(value)


def looks_like_sql(text: str) -> bool:
    """Whether the argument is a statement rather than a query name."""
    words = text.strip().split(None, 1)
    return bool(words) and words[0].lower().rstrip("(") in _SQL_START


def resolve_query(name_or_sql: str, params: dict[str, str]) -> tuple[SqlFile, tuple[str, ...]]:
    """The query to run and its execution parameters: a named query's in header order, raw SQL's in given order."""
    known = {query.name: query for query in named_queries()}
    query = known.get(name_or_sql.strip())
    if query is None:
        if not looks_like_sql(name_or_sql):
            raise CliError(f"unknown named query {name_or_sql!r}: pass SQL, or one of {', '.join(sorted(known))}")
        raw = SqlFile(name="sql", description="SQL from the command line", parameters=(), sql=name_or_sql)
        return raw, tuple(sql_literal(value) for value in params.values())
    expected = query.parameters
    missing = [name for name in expected if name not in params]
    unknown = [name for name in params if name not in expected]
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        wanted = " ".join(f"--param {name}=…" for name in expected) or "no parameters"
        raise CliError(f"query {query.name}: {'; '.join(problems)} (it takes {wanted})")
    return query, tuple(sql_literal(params[name]) for name in expected)


def run_query(
    target: Target,
    name_or_sql: str,
    params: dict[str, str],
    *,
    runner: QueryRunner | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> QueryResult:
    """Run a named query or SQL through Athena (the target's workgroup and database) and return its rows."""
    query, parameters = resolve_query(name_or_sql, params)
    runner = runner or athena_runner(target, timeout_seconds)
    (rows,) = runner.run_all([(query, parameters)])
    return QueryResult(query, parameters, rows)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def table_text(value: Any) -> str:
    """A cell for reading: doubles to 6 significant digits (CSV and JSON keep every digit)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return _text(value)


def render_query(result: QueryResult, output: OutputFormat, console: Console, stream: TextIO | None = None) -> None:
    """Rows as a rich table, CSV (header first) or a JSON list of objects, on stdout."""
    stream = stream or sys.stdout
    if output is OutputFormat.JSON:
        stream.write(json.dumps(result.rows, default=_json_default, ensure_ascii=False, indent=2) + "\n")
    elif output is OutputFormat.CSV:
        if result.rows:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(result.columns)
            writer.writerows([_text(row[column]) for column in result.columns] for row in result.rows)
    elif not result.rows:
        console.print("no rows")
    else:
        table = Table(*result.columns)
        for row in result.rows:
            table.add_row(*(plain(table_text(row[column])) for column in result.columns))
        console.print(table)
        console.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}", style="dim")

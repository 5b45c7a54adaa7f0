"""Athena SQL on DuckDB over a local copy of the analytics bucket: the same tables, views, parameters and pruning.

The engine reads a directory laid out like the analytics bucket (`<table>/dt=<yyyy-MM-dd>/<object>`), registers
every table of glue/ and every view of queries/views/ (or the tables and views it is given: the local Athena
service passes what the Glue catalog holds, with any partition keys and Glue types), binds Athena execution
parameters, transpiles the query from Athena's dialect to DuckDB's with sqlglot, and reports which lake objects
the query had to open, so tests can prove that a query prunes its partitions the way Athena's partition
projection would.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
from sqlglot.tokens import TokenType

import glue
import queries
from glue.arrow import catalog_arrow_schema
from glue.schema import Column, TableSpec
from queries import SqlFile

ATHENA = "athena"
DUCKDB = "duckdb"
# The engine's own empty Parquet file per table lives in this partition of a private directory: DuckDB binds a
# file list by opening its first file, so that file fixes the table's types and no lake object is opened to bind.
SCHEMA_PARTITION = "__schema__"

# DuckDB type ids → Athena (Trino) type names. DuckDB widens sum(bigint) to HUGEINT; Trino keeps bigint.
_SCALAR_TYPES = {
    "varchar": "varchar",
    "bigint": "bigint",
    "hugeint": "bigint",
    "ubigint": "bigint",
    "integer": "integer",
    "uinteger": "bigint",
    "smallint": "smallint",
    "usmallint": "integer",
    "tinyint": "tinyint",
    "utinyint": "smallint",
    "double": "double",
    "float": "real",
    "boolean": "boolean",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamp_ms": "timestamp",
    "timestamp_s": "timestamp",
    "timestamp_ns": "timestamp",
    "interval": "interval day to second",
    "blob": "varbinary",
    "uuid": "uuid",
    "null": "unknown",
}
_NATIVE_TIMESTAMP_TZ = "timestamp with time zone"

# Glue/Hive types of partition keys → the DuckDB type hive partitioning casts the path value to, and a value of
# that type for the engine's schema file (its partition directory is never a lake partition).
_PARTITION_TYPES: dict[str, tuple[str, str]] = {
    "string": ("VARCHAR", SCHEMA_PARTITION),
    "varchar": ("VARCHAR", SCHEMA_PARTITION),
    "char": ("VARCHAR", SCHEMA_PARTITION),
    "tinyint": ("TINYINT", "0"),
    "smallint": ("SMALLINT", "0"),
    "int": ("INTEGER", "0"),
    "integer": ("INTEGER", "0"),
    "bigint": ("BIGINT", "0"),
    "float": ("FLOAT", "0"),
    "real": ("FLOAT", "0"),
    "double": ("DOUBLE", "0"),
    "boolean": ("BOOLEAN", "false"),
    "date": ("DATE", "1970-01-01"),
    "timestamp": ("TIMESTAMP", "1970-01-01 00:00:00"),
}
_PARAMETRISED_TYPE = re.compile(r"(varchar|char|decimal)\s*(\(.*\))?")


class QueryError(Exception):
    """A query Athena would fail (syntax, unknown table or column, wrong parameter count); the message says why.

    `error_type` is the Athena/Trino error name the message starts with (SYNTAX_ERROR, INVALID_PARAMETER_USAGE, …).
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


@dataclass(frozen=True)
class LakeTable:
    """A table as the engine reads it: data columns and partition keys (Glue types) and its directory in the lake."""

    name: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = ()
    directory: str = ""  # relative to the lake root, `/`-separated; the table's name when empty

    @classmethod
    def from_spec(cls, spec: TableSpec) -> LakeTable:
        """One of glue/'s tables, under its S3 prefix."""
        return cls(spec.name, spec.columns, (spec.partition_key,), spec.prefix.rstrip("/"))

    @property
    def path(self) -> str:
        """The table's directory relative to the lake root."""
        return self.directory or self.name

    @property
    def key_names(self) -> tuple[str, ...]:
        """Partition key names, lower-case, in path order."""
        return tuple(key.name.lower() for key in self.partition_keys)


@dataclass(frozen=True)
class LakeView:
    """A view as the engine registers it: its name and its Athena SQL (tables named as the engine names them)."""

    name: str
    sql: str


@dataclass(frozen=True)
class ResultColumn:
    """One result column as Athena describes it: its name and its Athena (Trino) type name."""

    name: str
    athena_type: str


@dataclass(frozen=True)
class QueryResult:
    """A query's columns and rows, and the lake objects it opened (what Athena would scan and bill)."""

    columns: tuple[ResultColumn, ...]
    rows: list[tuple[Any, ...]]
    files_read: tuple[str, ...]  # lake keys relative to the lake root, sorted; the engine's schema files excluded
    bytes_read: int  # total size of those objects

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in order (Athena allows duplicates; dicts() keeps the last)."""
        return tuple(c.name for c in self.columns)

    def dicts(self) -> list[dict[str, Any]]:
        """Rows keyed by column name (convenient in tests and reports)."""
        return [dict(zip(self.column_names, row, strict=True)) for row in self.rows]


def _parameter_sql(text: str) -> str:
    """The SQL text one execution parameter contributes; a compound expression is parenthesised."""
    try:
        parsed = sqlglot.parse_one(text, read=ATHENA)
    except (ParseError, TokenError) as error:
        message = f"execution parameter {text!r} is not a SQL value: {_parse_message(error)}"
        raise QueryError("INVALID_PARAMETER_USAGE", message) from error
    if isinstance(parsed, exp.Query | exp.Command) or parsed.find(exp.Placeholder):
        raise QueryError("INVALID_PARAMETER_USAGE", f"execution parameter {text!r} is not a SQL value")
    literal = text.strip()
    return literal if isinstance(parsed, exp.Literal | exp.Boolean | exp.Null) else f"({literal})"


def bind_parameters(sql: str, parameters: Sequence[str]) -> str:
    """Athena's execution parameters: each `?` (outside strings and comments), in order, becomes a parameter's SQL text.

    Parameters are SQL literal text (`'2026-11-20'`, `42`), as queries.execution_parameter makes them.
    """
    try:
        tokens = sqlglot.Dialect.get_or_raise(ATHENA).tokenize(sql)
    except TokenError as error:
        raise QueryError("SYNTAX_ERROR", str(error)) from error
    slots = [t for t in tokens if t.token_type is TokenType.PLACEHOLDER and t.text == "?"]
    if len(slots) != len(parameters):
        raise QueryError(
            "INVALID_PARAMETER_USAGE",
            f"Incorrect number of parameters: expected {len(slots)} but found {len(parameters)}",
        )
    bound = sql
    for slot, parameter in reversed(list(zip(slots, parameters, strict=True))):
        bound = bound[: slot.start] + _parameter_sql(parameter) + bound[slot.end + 1 :]
    return bound


def parse_statement(sql: str) -> exp.Expr:
    """The one statement of an Athena SQL text (sqlglot tree); SYNTAX_ERROR when it does not parse or holds several."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=ATHENA) if s is not None]
    except (ParseError, TokenError) as error:
        raise QueryError("SYNTAX_ERROR", _parse_message(error)) from error
    if len(statements) != 1:
        raise QueryError("SYNTAX_ERROR", f"expected one statement, found {len(statements)}")
    return statements[0]


def to_duckdb(
    sql: str, table_names: Sequence[str] = (), partition_keys: Mapping[str, str | Sequence[str]] | None = None
) -> str:
    """One Athena query as DuckDB SQL; qualifiers on the engine's tables (`db.table`) are dropped (one database).

    partition_keys (table → its partition column or columns) lets partition filters reach the scan as Trino's do.
    """
    tree = parse_statement(sql)
    if not isinstance(tree, exp.Query):
        raise QueryError("NOT_SUPPORTED", f"only queries run locally, not {tree.key.upper()} statements")
    known = {name.lower() for name in table_names}
    for table in tree.find_all(exp.Table):
        if table.name.lower() in known:
            table.set("db", None)
            table.set("catalog", None)
    _name_like_trino(tree)
    tree = tree.transform(_trino_semantics)
    keys = {
        name.lower(): frozenset([columns] if isinstance(columns, str) else columns)
        for name, columns in (partition_keys or {}).items()
    }
    for select in list(tree.find_all(exp.Select)):
        _filter_partitions_before_unnest(select, keys)
    try:
        return tree.sql(dialect=DUCKDB, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise QueryError("NOT_SUPPORTED", f"no DuckDB equivalent: {error}") from error


def _parse_message(error: ParseError | TokenError) -> str:
    """sqlglot's first parse error as Trino words it ("line 1:7: …"), without terminal highlighting."""
    details = error.errors[0] if isinstance(error, ParseError) and error.errors else {}
    if not details:
        return str(error)
    near = f"{details.get('start_context', '')}{details.get('highlight', '')}".strip()
    return f"line {details.get('line')}:{details.get('col')}: {details.get('description')} near '{near}'"


def _name_like_trino(tree: exp.Expr) -> None:
    """Name the result's unnamed columns as Trino does: `_col<position>` (DuckDB would use the expression's text).

    A column reference keeps its name and an alias wins; a select list with `*` is left alone (its positions
    depend on the tables' widths).
    """
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    items = select.expressions
    if any(
        isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star))
        for item in items
    ):
        return  # `*` or `t.*`
    named = (exp.Alias, exp.Column, exp.Dot)
    select.set(
        "expressions",
        [item if isinstance(item, named) else exp.alias_(item, f"_col{index}") for index, item in enumerate(items)],
    )


def _trino_semantics(node: exp.Expression) -> exp.Expression:
    """Rewrite what DuckDB computes differently from Trino once transpiled.

    count_if: Trino counts (bigint, 0 over no rows); DuckDB's count_if sums (HUGEINT, NULL over no rows).
    """
    if isinstance(node, exp.CountIf):
        return exp.Count(this=exp.If(this=node.this, true=exp.Literal.number(1)))
    return node


def _filter_partitions_before_unnest(select: exp.Select, partition_keys: Mapping[str, frozenset[str]]) -> None:
    """`FROM t CROSS JOIN UNNEST(…) WHERE dt …`: filter t by dt in a subquery, so DuckDB prunes as Trino does.

    Trino pushes a predicate on the table's own columns below the unnest; DuckDB keeps it above the lateral
    join and opens every partition. Copying the partition-only conjuncts into the scan changes no result.
    """
    base = select.args.get("from_")
    joins = select.args.get("joins") or []
    where = select.args.get("where")
    if base is None or where is None or not joins or not isinstance(base.this, exp.Table):
        return
    table = base.this
    keys = partition_keys.get(table.name.lower())
    if not keys or not all(isinstance(join.this, exp.Unnest) for join in joins):
        return
    produced = {column.name.lower() for join in joins if join.this.alias for column in join.this.args["alias"].columns}
    alias = table.alias_or_name
    condition = where.this
    candidates = condition.flatten() if isinstance(condition, exp.And) else [condition]
    conjuncts = []
    for conjunct in candidates:
        columns = list(conjunct.find_all(exp.Column))
        if not columns or conjunct.find(exp.Query, exp.AggFunc, exp.Window):
            continue
        if any(col.name.lower() not in keys or col.table not in ("", alias) for col in columns):
            continue
        if keys & produced and any(col.table == "" for col in columns):
            continue  # an unnest column of the same name may be the one meant
        copied = conjunct.copy()
        for column in copied.find_all(exp.Column):
            column.set("table", None)
        conjuncts.append(copied)
    if not conjuncts:
        return
    scan = exp.select("*").from_(exp.Table(this=exp.to_identifier(table.name))).where(exp.and_(*conjuncts))
    base.set("this", scan.subquery(alias))


def athena_type(duck_type: Any) -> str:
    """The Athena (Trino) type name of a DuckDB result type (DuckDBPyType)."""
    type_id = str(duck_type.id)
    if type_id in _SCALAR_TYPES:
        return _SCALAR_TYPES[type_id]
    children = duck_type.children if type_id in ("list", "array", "struct", "map", "decimal") else []
    if type_id in ("list", "array"):
        return f"array({athena_type(children[0][1])})"
    if type_id == "struct":
        return "row(" + ", ".join(f"{name} {athena_type(child)}" for name, child in children) + ")"
    if type_id == "map":
        return f"map({athena_type(children[0][1])}, {athena_type(children[1][1])})"
    if type_id == "decimal":
        values = dict(children)
        return f"decimal({values['precision']},{values['scale']})"
    if type_id == _NATIVE_TIMESTAMP_TZ:
        return _NATIVE_TIMESTAMP_TZ
    raise QueryError("NOT_SUPPORTED", f"no Athena type for DuckDB type {duck_type}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class LakeQueryEngine:
    """Runs Athena SQL on DuckDB over a directory laid out like the analytics bucket."""

    def __init__(
        self,
        lake_root: Path,
        tables: Sequence[TableSpec | LakeTable] = glue.TABLES,
        views: Sequence[SqlFile | LakeView] = queries.views(),
    ) -> None:
        self.lake_root = Path(lake_root).resolve()
        self.tables = tuple(t if isinstance(t, LakeTable) else LakeTable.from_spec(t) for t in tables)
        lake_views = [v if isinstance(v, LakeView) else LakeView(v.name, v.body) for v in views]
        self._private = tempfile.TemporaryDirectory(prefix="modlake-athena-")
        self._schema_files = {table.name: self._write_schema_file(table) for table in self.tables}
        self._keys = {table.name.lower(): table.key_names for table in self.tables}
        self._names = [table.name for table in self.tables] + [view.name for view in lake_views]
        self._views = tuple((view.name, to_duckdb(view.sql, self._names, self._keys)) for view in lake_views)
        self._running: duckdb.DuckDBPyConnection | None = None
        self._footer_columns: dict[tuple[str, int, int], frozenset[str]] = {}

    def close(self) -> None:
        """Remove the engine's private schema files (also done when the engine is garbage-collected)."""
        self._private.cleanup()

    def __enter__(self) -> LakeQueryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def interrupt(self) -> None:
        """Abort the query running now, if any (StopQueryExecution); execute() then raises a QueryError."""
        running = self._running
        if running is not None:
            with contextlib.suppress(duckdb.Error):  # it finished and closed meanwhile: nothing left to stop
                running.interrupt()

    def execute(self, sql: str, parameters: Sequence[str] = ()) -> QueryResult:
        """Run one Athena query (with `?` execution parameters) over the lake as it is now."""
        duck_sql = to_duckdb(bind_parameters(sql, parameters), self._names, self._keys)
        connection = duckdb.connect(":memory:")
        try:
            self._register(connection)
            connection.execute("CALL enable_logging('FileSystem')")
            self._running = connection
            try:
                relation = connection.sql(duck_sql)
                columns = tuple(
                    ResultColumn(name, athena_type(t)) for name, t in zip(relation.columns, relation.types, strict=True)
                )
                if any(c.athena_type == _NATIVE_TIMESTAMP_TZ for c in columns):
                    raise QueryError("NOT_SUPPORTED", "the local engine returns no timestamp with time zone values")
                rows = relation.fetchall()
            except duckdb.Error as error:
                raise _query_error(error) from error
            finally:
                self._running = None
            files = self._opened_lake_files(connection)
        finally:
            connection.close()
        return QueryResult(
            columns=columns,
            rows=rows,
            files_read=files,
            bytes_read=sum((self.lake_root / key).stat().st_size for key in files),
        )

    # --- registration ---------------------------------------------------------------------------------------
    def _write_schema_file(self, table: LakeTable) -> Path:
        directory = Path(self._private.name) / table.name
        for key in table.partition_keys:
            directory /= f"{key.name}={_partition_type(key)[1]}"
        directory.mkdir(parents=True)
        path = directory / "schema.parquet"
        try:
            schema = catalog_arrow_schema(table.columns)
        except ValueError as error:
            raise QueryError("NOT_SUPPORTED", f"table {table.name}: {error}") from error
        pq.write_table(schema.empty_table(), path)
        return path

    def _lacks_columns(self, table: LakeTable, path: Path) -> bool:
        """True when a lake object lacks some of the table's columns (its footer is read once per file version)."""
        stat = path.stat()
        cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
        names = self._footer_columns.get(cache_key)
        if names is None:
            names = frozenset(pq.read_schema(path).names)
            self._footer_columns[cache_key] = names
        return not {column.name for column in table.columns} <= names

    def lake_files(self, table: TableSpec | LakeTable) -> list[Path]:
        """The table's objects now: every visible file under its partition directories, at any depth (Athena reads
        a partition's location recursively and skips names starting with `_` or `.`)."""
        lake_table = table if isinstance(table, LakeTable) else LakeTable.from_spec(table)
        table_dir = self.lake_root / lake_table.path
        if not table_dir.is_dir():
            return []
        keys = lake_table.key_names
        found = []
        for path in table_dir.rglob("*"):
            parts = path.relative_to(table_dir).parts
            if any(part.startswith(("_", ".")) for part in parts) or not path.is_file():
                continue
            if len(parts) <= len(keys):
                continue  # a file outside every partition directory is not part of a partitioned table
            if all(part.lower().startswith(f"{key}=") for part, key in zip(parts, keys, strict=False)):
                found.append(path)
        return sorted(found)

    def _register(self, connection: duckdb.DuckDBPyConnection) -> None:
        for table in self.tables:
            files = [self._schema_files[table.name], *self.lake_files(table)]
            file_list = "[" + ", ".join(_quote(str(p)) for p in files) + "]"
            if table.partition_keys:
                types = ", ".join(f"{_quote(key.name)}: {_partition_type(key)[0]}" for key in table.partition_keys)
                options = f"hive_partitioning = true, hive_types = {{{types}}}"
            else:
                options = "hive_partitioning = false"
            if any(self._lacks_columns(table, path) for path in files[1:]):
                # Athena reads Parquet columns by name: an object written before a column existed gives it NULL.
                # DuckDB does that only with union_by_name, which opens every file to bind, so it is used only
                # for a table that has such an object (partition pruning still holds in Athena, not here).
                options += ", union_by_name = true"
            connection.execute(
                f"CREATE VIEW {_ident(table.name)} AS SELECT * FROM read_parquet({file_list}, {options})"
            )
        for name, body in self._views:
            try:
                connection.execute(f"CREATE VIEW {_ident(name)} AS {body}")
            except duckdb.Error as error:
                raise QueryError("SYNTAX_ERROR", f"view {name} does not bind: {error}") from error

    def _opened_lake_files(self, connection: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
        opened: set[str] = set()
        for (message,) in connection.execute("SELECT message FROM duckdb_logs WHERE type = 'FileSystem'").fetchall():
            entry = json.loads(message)
            if entry.get("op") != "OPEN":
                continue
            path = Path(entry["path"]).resolve()
            if path.is_relative_to(self.lake_root):
                opened.add(path.relative_to(self.lake_root).as_posix())
        return tuple(sorted(opened))


def _partition_type(key: Column) -> tuple[str, str]:
    """(DuckDB type, schema-file placeholder value) of a partition key's Glue type; unknown types stay strings."""
    glue_type = key.glue_type.strip().lower()
    if glue_type in _PARTITION_TYPES:
        return _PARTITION_TYPES[glue_type]
    parametrised = _PARAMETRISED_TYPE.fullmatch(glue_type)
    if parametrised and parametrised[1] == "decimal":
        return f"DECIMAL{parametrised[2] or ''}", "0"
    return "VARCHAR", SCHEMA_PARTITION


def _query_error(error: duckdb.Error) -> QueryError:
    """Athena's error names for DuckDB's failures (Athena reports unknown tables and columns as SYNTAX_ERROR too)."""
    if isinstance(error, duckdb.ParserException | duckdb.CatalogException | duckdb.BinderException):
        return QueryError("SYNTAX_ERROR", str(error))
    if isinstance(error, duckdb.ConversionException):
        return QueryError("INVALID_CAST_ARGUMENT", str(error))
    return QueryError("GENERIC_USER_ERROR", str(error))

"""The Glue catalog as the local Athena sees it: the tables and views a query names, and the S3 objects of each table.

A query's table references (not its CTE names) are looked up in Glue: unqualified ones in the query's database,
`db.table` and `awsdatacatalog.db.table` as written. An EXTERNAL table contributes its columns and partition keys
and the S3 objects that are part of it: with partition projection, those under the location template whose path
values are inside the projection; otherwise those under its Glue partitions' locations (or its location when it
has no partition keys). A VIRTUAL_VIEW contributes its Presto view SQL, whose own references are resolved the same
way (in the view's database). Every relation gets a local name, the name the engine registers it under.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError
from sqlglot import exp

from glue.schema import Column
from sandbox.athena.engine import ATHENA, LakeTable, LakeView, QueryError, parse_statement
from sandbox.athena.projection import PartitionProjection, projection_of
from stacks.views import decode_presto_view

DEFAULT_CATALOG = "awsdatacatalog"
VIRTUAL_VIEW = "VIRTUAL_VIEW"
_ENTITY_NOT_FOUND = "EntityNotFoundException"
_S3_URI = re.compile(r"s3[an]?://([^/]+)/?(.*)", re.IGNORECASE)


@dataclass(frozen=True)
class RelationRef:
    """A table or view by catalog, database and name (lower-case, as Glue stores them)."""

    catalog: str
    database: str
    name: str

    @property
    def qualified(self) -> str:
        """catalog.database.name, as Trino names a relation in its messages."""
        return f"{self.catalog}.{self.database}.{self.name}"


@dataclass(frozen=True)
class RemoteObject:
    """One S3 object that is part of a table, and the path its mirror copy gets under the table's directory."""

    bucket: str
    key: str
    etag: str
    size: int
    local_path: str  # `/`-separated: key=value/… partition directories, then the key below the partition location


@dataclass(frozen=True)
class ResolvedTable:
    """An EXTERNAL table a query reads: its schema, its directory in the mirror and where its objects are in S3."""

    ref: RelationRef
    lake_table: LakeTable
    projection: PartitionProjection | None
    location: str  # the table's StorageDescriptor.Location
    partitions: tuple[tuple[tuple[str, ...], str], ...] = ()  # Glue partitions (values, location) without projection

    def objects(self, s3: Any) -> list[RemoteObject]:
        """The S3 objects that are part of the table now (listing every location once)."""
        keys = self.lake_table.key_names
        try:
            if not keys:
                return list(_objects_under(s3, self.location, ()))
            if self.projection is not None:
                return list(_projected_objects(s3, self.projection, keys))
            found: list[RemoteObject] = []
            for values, location in self.partitions:
                found.extend(_objects_under(s3, location, tuple(zip(keys, values, strict=True))))
            return found
        except ValueError as error:
            raise QueryError("INVALID_TABLE_PROPERTY", f"Table '{self.ref.qualified}': {error}") from error
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise QueryError(
                "HIVE_FILESYSTEM_ERROR", f"Table '{self.ref.qualified}': cannot list its S3 objects ({code})"
            ) from error


@dataclass
class Resolution:
    """Everything a query reads, in the order the engine must register it (a view after what it selects from)."""

    sql: str  # the query with references renamed to local names where two relations share a name
    tables: list[ResolvedTable] = field(default_factory=list)
    views: list[LakeView] = field(default_factory=list)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URI; ValueError if it is not one."""
    match = _S3_URI.fullmatch(uri.strip())
    if match is None:
        raise ValueError(f"not an S3 location: {uri!r}")
    return match[1], match[2]


def _list(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, str, int]]:
    """(key, ETag, size) of every object under the prefix."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], item.get("ETag", ""), int(item.get("Size", 0))


def _readable(relative_key: str, size: int) -> bool:
    """False for what Athena never reads as data: `_`/`.` names, folder markers, empty objects, unsafe paths."""
    parts = relative_key.split("/")
    if size == 0 or relative_key.endswith("_$folder$"):
        return False
    return all(part and part not in (".", "..") and not part.startswith(("_", ".")) for part in parts)


def _partition_path(values: Sequence[tuple[str, str]]) -> str:
    """`key=value/…` with values percent-encoded (DuckDB decodes them, so `/` or `=` in a value stay values)."""
    return "".join(f"{key}={quote(value, safe='')}/" for key, value in values)


def _objects_under(s3: Any, location: str, values: tuple[tuple[str, str], ...]) -> Iterator[RemoteObject]:
    bucket, prefix = split_s3_uri(location)
    prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    for key, etag, size in _list(s3, bucket, prefix):
        rest = key[len(prefix) :]
        if _readable(rest, size):
            yield RemoteObject(bucket, key, etag, size, _partition_path(values) + rest)


def _template_pattern(path_template: str) -> tuple[str, re.Pattern[str], dict[str, str]]:
    """(listing prefix, regex over keys, group → key) of a location template's path (`prefix/dt=${dt}/`)."""
    pieces = re.split(r"\$\{([^}]+)\}", path_template)
    pattern, groups, seen = "", dict[str, str](), dict[str, str]()
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            pattern += re.escape(piece)
            continue
        key = piece.lower()
        if key in seen:
            pattern += f"(?P={seen[key]})"
            continue
        group = f"k{len(groups)}"
        seen[key], groups[group] = group, key
        pattern += f"(?P<{group}>[^/]+)"
    return pieces[0], re.compile(pattern + r"(?P<rest>.+)"), groups


def _projected_objects(s3: Any, projection: PartitionProjection, keys: Sequence[str]) -> Iterator[RemoteObject]:
    bucket, path_template = split_s3_uri(projection.template)
    prefix, pattern, groups = _template_pattern(path_template)
    for key, etag, size in _list(s3, bucket, prefix):
        match = pattern.fullmatch(key)
        if match is None or not _readable(match["rest"], size):
            continue
        values = {name: match[group] for group, name in groups.items()}
        if projection.accepts(values):
            local = _partition_path([(name, values[name]) for name in keys]) + match["rest"]
            yield RemoteObject(bucket, key, etag, size, local)


def _position(table: exp.Table) -> str:
    """`line L:C: ` of a table reference (its first name part), as Trino starts its messages."""
    for part in (table.args.get("catalog"), table.args.get("db"), table.this):
        meta = getattr(part, "meta", None)
        if meta and "line" in meta and "col" in meta:
            width = meta.get("end", 0) - meta.get("start", 0)
            return f"line {meta['line']}:{meta['col'] - width}: "
    return ""


def _columns(glue_columns: Sequence[Mapping[str, Any]]) -> tuple[Column, ...]:
    return tuple(Column(c["Name"].lower(), c.get("Type", "string").lower(), c.get("Comment", "")) for c in glue_columns)


def cte_names(tree: exp.Expr) -> set[str]:
    """Every CTE name defined anywhere in the statement (lower-case)."""
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def table_references(tree: exp.Expr) -> list[exp.Table]:
    """The statement's references to catalog relations: FROM/JOIN tables, not CTE names."""
    ctes = cte_names(tree)
    return [
        table for table in tree.find_all(exp.Table) if table.name and not (not table.db and table.name.lower() in ctes)
    ]


class CatalogResolver:
    """Resolves one query's relations against Glue (one resolver per query: it caches what it looked up)."""

    def __init__(self, glue: Any, *, catalog: str, database: str, now: datetime, mirror_prefix: str) -> None:
        self._glue = glue
        self._catalog = catalog.lower()
        self._database = database.lower()
        self._now = now
        self._mirror_prefix = mirror_prefix
        self._local: dict[RelationRef, str] = {}
        self._taken: set[str] = set()
        self._resolving: list[RelationRef] = []
        self._resolution = Resolution(sql="")

    def resolve(self, sql: str, tree: exp.Query) -> Resolution:
        """The query's relations (tables and views, recursively), the query renamed to their local names."""
        self._taken |= cte_names(tree)
        renamed = self._rename(tree, self._catalog, self._database)
        self._resolution.sql = tree.sql(dialect=ATHENA) if renamed else sql
        return self._resolution

    def _rename(self, tree: exp.Expr, catalog: str, database: str) -> bool:
        """Point every reference at its relation's local name; True if any text had to change."""
        changed = False
        for table in table_references(tree):
            ref = self._ref(table, catalog, database)
            local = self._relation(ref, table)
            if local != table.name.lower():
                if not table.alias:
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
                table.set("this", exp.to_identifier(local))
                table.set("db", None)
                table.set("catalog", None)
                changed = True
        return changed

    def _ref(self, table: exp.Table, catalog: str, database: str) -> RelationRef:
        ref_catalog = (table.catalog or catalog).lower()
        if ref_catalog != DEFAULT_CATALOG:
            shown = table.catalog or catalog
            raise QueryError("CATALOG_NOT_FOUND", f"{_position(table)}Catalog '{shown}' does not exist")
        return RelationRef(ref_catalog, (table.db or database).lower(), table.name.lower())

    def _relation(self, ref: RelationRef, site: exp.Table) -> str:
        """The local name of a relation, resolving it (and what a view reads) on first use."""
        if ref in self._local:
            return self._local[ref]
        if ref in self._resolving:
            raise QueryError("INVALID_VIEW", f"{_position(site)}View '{ref.qualified}' refers to itself")
        definition = self._get_table(ref, site)
        local = self._local_name(ref)
        if definition.get("TableType") == VIRTUAL_VIEW:
            self._resolving.append(ref)
            try:
                self._resolution.views.append(LakeView(local, self._view_sql(ref, definition)))
            finally:
                self._resolving.pop()
        else:
            self._resolution.tables.append(self._table(ref, definition, local))
        self._local[ref] = local
        return local

    def _local_name(self, ref: RelationRef) -> str:
        local = ref.name
        if local in self._taken:
            local = f"{ref.database}__{ref.name}"
            while local in self._taken:
                local += "_"
        self._taken.add(local)
        return local

    def _get_table(self, ref: RelationRef, site: exp.Table) -> dict[str, Any]:
        try:
            table: dict[str, Any] = self._glue.get_table(DatabaseName=ref.database, Name=ref.name)["Table"]
            return table
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != _ENTITY_NOT_FOUND:
                raise
        try:
            self._glue.get_database(Name=ref.database)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != _ENTITY_NOT_FOUND:
                raise
            raise QueryError("SCHEMA_NOT_FOUND", f"{_position(site)}Schema '{ref.database}' does not exist") from None
        raise QueryError("TABLE_NOT_FOUND", f"{_position(site)}Table '{ref.qualified}' does not exist")

    def _view_sql(self, ref: RelationRef, definition: Mapping[str, Any]) -> str:
        try:
            document = decode_presto_view(definition.get("ViewOriginalText") or "")
            original = str(document["originalSql"])
        except (ValueError, KeyError) as error:
            raise QueryError("INVALID_VIEW", f"View '{ref.qualified}' is not a Presto view: {error}") from error
        try:
            tree = parse_statement(original)
        except QueryError as error:
            raise QueryError("INVALID_VIEW", f"View '{ref.qualified}' does not parse: {error}") from error
        if not isinstance(tree, exp.Query):
            raise QueryError("INVALID_VIEW", f"View '{ref.qualified}' is not a query")
        catalog = str(document.get("catalog") or ref.catalog)
        database = str(document.get("schema") or ref.database)
        renamed = self._rename(tree, catalog, database)
        return tree.sql(dialect=ATHENA) if renamed else original

    def _table(self, ref: RelationRef, definition: Mapping[str, Any], local: str) -> ResolvedTable:
        storage = definition.get("StorageDescriptor") or {}
        parameters = definition.get("Parameters") or {}
        input_format = str(storage.get("InputFormat") or "")
        if str(parameters.get("table_type", "")).upper() == "ICEBERG" or (
            input_format and "parquet" not in input_format.lower()
        ):
            stored = parameters.get("table_type") or input_format
            raise QueryError("NOT_SUPPORTED", f"Table '{ref.qualified}' is {stored}; locally only Parquet tables run")
        location = str(storage.get("Location") or "")
        keys = _columns(definition.get("PartitionKeys") or [])
        lake_table = LakeTable(
            local,
            _columns(storage.get("Columns") or []),
            keys,
            f"{self._mirror_prefix}/{ref.database}/{ref.name}",
        )
        projection = projection_of(ref.qualified, location, keys, parameters, self._now)
        partitions: tuple[tuple[tuple[str, ...], str], ...] = ()
        if keys and projection is None:
            partitions = tuple(self._partitions(ref, location, keys))
        elif not keys and not location:
            raise QueryError("INVALID_TABLE_PROPERTY", f"Table '{ref.qualified}' has no location")
        return ResolvedTable(ref, lake_table, projection, location, partitions)

    def _partitions(
        self, ref: RelationRef, location: str, keys: Sequence[Column]
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        """The table's Glue partitions: (values, location); Hive's `<table location>/key=value/` when one has none."""
        paginator = self._glue.get_paginator("get_partitions")
        for page in paginator.paginate(DatabaseName=ref.database, TableName=ref.name):
            for partition in page.get("Partitions", []):
                values = tuple(str(v) for v in partition.get("Values", []))
                if len(values) != len(keys):
                    continue
                own = (partition.get("StorageDescriptor") or {}).get("Location")
                base = location if location.endswith("/") else location + "/"
                default = base + "".join(f"{key.name}={value}/" for key, value in zip(keys, values, strict=True))
                yield values, str(own or default)

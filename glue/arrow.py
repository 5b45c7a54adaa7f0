"""Arrow schemas derived from the Glue table specs, so the Parquet writer cannot drift from the catalog.

`arrow_type` is the writer's mapping: only the Glue types modlake's own tables use, so a schema change that needs a
new type is a deliberate change here. `catalog_arrow_type` is the reader's: any Glue/Hive column type a catalog
table may declare (the local Athena reads tables it did not write).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pyarrow as pa

from glue.schema import Column, TableSpec

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms"),
}
# Everything else a Glue/Hive column may be declared as (Athena reads timestamps with millisecond precision).
_CATALOG_SCALARS: dict[str, pa.DataType] = {
    **_SCALARS,
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "float": pa.float32(),
    "real": pa.float32(),
    "date": pa.date32(),
    "binary": pa.binary(),
    "varchar": pa.string(),
    "char": pa.string(),
}
_DECIMAL = re.compile(r"decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)|decimal")
_SIZED_STRING = re.compile(r"(?:varchar|char)\s*\(\s*\d+\s*\)")
HIVE_DEFAULT_DECIMAL = (10, 0)  # Hive's `decimal` without precision and scale


def split_top_level(body: str) -> list[str]:
    """Split 'a:int,b:array<x,y>' on the commas that are not inside angle brackets or parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p.strip() for p in parts]


def _arrow(glue_type: str, scalars: Mapping[str, pa.DataType], *, catalog: bool) -> pa.DataType:
    glue_type = glue_type.strip()
    if catalog:
        glue_type = glue_type.lower()
    if glue_type in scalars:
        return scalars[glue_type]
    if glue_type.startswith("array<") and glue_type.endswith(">"):
        return pa.list_(_arrow(glue_type[len("array<") : -1], scalars, catalog=catalog))
    if glue_type.startswith("struct<") and glue_type.endswith(">"):
        fields = []
        for part in split_top_level(glue_type[len("struct<") : -1]):
            name, _, inner = part.partition(":")
            fields.append(pa.field(name.strip(), _arrow(inner, scalars, catalog=catalog)))
        return pa.struct(fields)
    if catalog and glue_type.startswith("map<") and glue_type.endswith(">"):
        key, value = split_top_level(glue_type[len("map<") : -1])
        return pa.map_(_arrow(key, scalars, catalog=True), _arrow(value, scalars, catalog=True))
    if catalog and (decimal := _DECIMAL.fullmatch(glue_type)):
        precision, scale = (int(decimal[1]), int(decimal[2])) if decimal[1] else HIVE_DEFAULT_DECIMAL
        return pa.decimal128(precision, scale)
    if catalog and _SIZED_STRING.fullmatch(glue_type):
        return pa.string()
    raise ValueError(f"no Arrow mapping for Glue type {glue_type!r}")


def arrow_type(glue_type: str) -> pa.DataType:
    """Arrow type the writer uses for a Glue/Hive type string (modlake's scalars, array<…>, struct<…>)."""
    return _arrow(glue_type, _SCALARS, catalog=False)


def catalog_arrow_type(glue_type: str) -> pa.DataType:
    """Arrow type a reader expects for any Glue/Hive column type (adds the sized, decimal, date and map types)."""
    return _arrow(glue_type, _CATALOG_SCALARS, catalog=True)


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """Arrow schema of a table's Parquet objects (the partition column lives in the path, not the file)."""
    return pa.schema([pa.field(c.name, arrow_type(c.glue_type)) for c in spec.columns])


def catalog_arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """Arrow schema a reader expects for a catalog table's data columns (partition keys excluded)."""
    return pa.schema([pa.field(c.name, catalog_arrow_type(c.glue_type)) for c in columns])

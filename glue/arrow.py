"""Arrow schemas derived from the Glue table specs, so the Parquet writer cannot drift from the catalog."""

from __future__ import annotations

import pyarrow as pa

from glue.schema import TableSpec

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms"),
}


def _split_top_level(body: str) -> list[str]:
    """Split 'a:int,b:array<x,y>' on the commas that are not inside angle brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p.strip() for p in parts]


def arrow_type(glue_type: str) -> pa.DataType:
    """Arrow type for a Glue/Hive type string (scalars, array<…>, struct<…>)."""
    glue_type = glue_type.strip()
    if glue_type in _SCALARS:
        return _SCALARS[glue_type]
    if glue_type.startswith("array<") and glue_type.endswith(">"):
        return pa.list_(arrow_type(glue_type[len("array<") : -1]))
    if glue_type.startswith("struct<") and glue_type.endswith(">"):
        fields = []
        for part in _split_top_level(glue_type[len("struct<") : -1]):
            name, _, inner = part.partition(":")
            fields.append(pa.field(name.strip(), arrow_type(inner)))
        return pa.struct(fields)
    raise ValueError(f"no Arrow mapping for Glue type {glue_type!r}")


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """Arrow schema of a table's Parquet objects (the partition column lives in the path, not the file)."""
    return pa.schema([pa.field(c.name, arrow_type(c.glue_type)) for c in spec.columns])

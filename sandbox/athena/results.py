"""Query results as Athena hands them out: Trino's text for every value, the CSV object and the column metadata.

Athena renders every result value as the string Trino prints for it (GetQueryResults' `VarCharValue`, the cells of
`<QueryExecutionId>.csv`): doubles as Java's Double.toString, timestamps with milliseconds, arrays as `[a, b]`,
rows and maps as `{name=value, …}`, NULL as an absent value (an empty, unquoted CSV field) and, inside arrays,
rows and maps, as `null`. Type names come from the engine in Trino's spelling (`array(row(name varchar, …))`);
ColumnInfo carries only the base name, as Athena's does (`array`, `row`, `decimal`), with precision and scale.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from glue.arrow import split_top_level
from sandbox.athena.engine import ResultColumn

TIMESTAMP_PRECISION = 3  # Athena engine v3 reads and returns timestamp(3)
UNBOUNDED_VARCHAR = 2_147_483_647
# Precision Athena reports for fixed-size types (varchar, char and decimal carry theirs in the type).
_PRECISION = {
    "tinyint": 3,
    "smallint": 5,
    "integer": 10,
    "bigint": 19,
    "real": 7,
    "double": 17,
    "timestamp": TIMESTAMP_PRECISION,
    "time": TIMESTAMP_PRECISION,
    "varchar": UNBOUNDED_VARCHAR,
}
_CASE_SENSITIVE = frozenset({"varchar", "char"})
_INTEGERS = frozenset({"tinyint", "smallint", "integer", "bigint"})


@dataclass(frozen=True)
class TrinoType:
    """A parsed Trino type: its base name, its parameters (decimal's precision and scale) and its element types."""

    base: str
    parameters: tuple[str, ...] = ()
    elements: tuple[TrinoType, ...] = ()  # array: (element,), map: (key, value), row: one per field
    field_names: tuple[str, ...] = field(default=())  # row only


def parse_type(athena_type: str) -> TrinoType:
    """`array(row(name varchar, confidence double))` as a tree; unknown names stay scalars."""
    text = athena_type.strip()
    if "(" not in text or not text.endswith(")"):
        return TrinoType(text.lower())
    opening = text.index("(")
    base = text[:opening].strip().lower()
    arguments = split_top_level(text[opening + 1 : -1])
    if base == "array":
        return TrinoType(base, elements=(parse_type(arguments[0]),))
    if base == "map":
        return TrinoType(base, elements=tuple(parse_type(argument) for argument in arguments))
    if base == "row":
        names, types = [], []
        for argument in arguments:
            name, _, inner = argument.partition(" ")
            names.append(name.strip('"'))
            types.append(parse_type(inner))
        return TrinoType(base, elements=tuple(types), field_names=tuple(names))
    return TrinoType(base, parameters=tuple(arguments))


def java_double(value: float) -> str:
    """Java's Double.toString: shortest round-trip digits, plain in [1e-3, 1e7), else `d.dddE±n`."""
    return _java_floating(value, repr(abs(value)) if math.isfinite(value) else "")


def java_float(value: float) -> str:
    """Java's Float.toString for a REAL (float32) value: the shortest digits that read back as the same float32."""
    if not math.isfinite(value) or value == 0:
        return _java_floating(value, "")
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{abs(single):.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == abs(single):
            return _java_floating(value, text)
    return _java_floating(value, repr(abs(value)))


def _java_floating(value: float, shortest: str) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0.0"
    _, digit_tuple, exponent = Decimal(shortest).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    scientific = len(digits) - 1 + exponent
    if 1e-3 <= abs(value) < 1e7:
        if exponent >= 0:
            return f"{sign}{digits}{'0' * exponent}.0"
        point = len(digits) + exponent
        whole = digits[:point] if point > 0 else "0"
        fraction = digits[point:] if point > 0 else "0" * -point + digits
        return f"{sign}{whole}.{fraction}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{scientific}"


def _rounded(value: datetime, digits: int) -> datetime:
    """A timestamp rounded half-up to `digits` fractional digits, as Trino casts to a lower precision."""
    unit = 10 ** (6 - digits)
    remainder = value.microsecond % unit
    if remainder == 0:
        return value
    step = timedelta(microseconds=unit - remainder) if remainder * 2 >= unit else -timedelta(microseconds=remainder)
    return value + step


def _fraction(microsecond: int, digits: int) -> str:
    return f"{microsecond:06d}"[:digits] if digits else ""


def _timestamp(value: datetime, kind: TrinoType) -> str:
    digits = int(kind.parameters[0]) if kind.parameters else TIMESTAMP_PRECISION
    digits = min(max(digits, 0), 6)
    shown = _rounded(value, digits)
    fraction = _fraction(shown.microsecond, digits)
    return shown.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "")


def _time(value: time) -> str:
    moment = _rounded(datetime.combine(date(2000, 1, 1), value), TIMESTAMP_PRECISION)
    return moment.strftime("%H:%M:%S") + "." + _fraction(moment.microsecond, TIMESTAMP_PRECISION)


def _interval(value: timedelta) -> str:
    """Trino's `interval day to second`: `D HH:MM:SS.mmm`, a leading minus when negative."""
    total_ms = round(value / timedelta(milliseconds=1))
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    days, rest = divmod(total_ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{sign}{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _decimal(value: Any, kind: TrinoType) -> str:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if len(kind.parameters) == 2:
        number = number.quantize(Decimal(1).scaleb(-int(kind.parameters[1])))
    return format(number, "f")


def _pairs(value: Any) -> Iterable[tuple[Any, Any]]:
    """A MAP value's entries (DuckDB gives a dict, or {'key': [...], 'value': [...]} for non-hashable keys)."""
    if isinstance(value, Mapping):
        if set(value) == {"key", "value"} and isinstance(value["key"], list):
            return zip(value["key"], value["value"], strict=True)
        return value.items()
    return iter(value)


def _text(value: Any, kind: TrinoType) -> str:
    """The text of one non-NULL value of the given type."""
    base = kind.base
    if base == "boolean":
        return "true" if value else "false"
    if base in _INTEGERS:
        return str(int(value))
    if base == "double":
        return java_double(float(value))
    if base == "real":
        return java_float(float(value))
    if base == "decimal":
        return _decimal(value, kind)
    if base == "timestamp" and isinstance(value, datetime):
        return _timestamp(value, kind)
    if base == "date" and isinstance(value, date):
        return value.isoformat()
    if base == "time" and isinstance(value, time):
        return _time(value)
    if base.startswith("interval") and isinstance(value, timedelta):
        return _interval(value)
    if base == "varbinary" and isinstance(value, bytes | bytearray | memoryview):
        return " ".join(f"{byte:02x}" for byte in bytes(value))
    if base == "array":
        [element] = kind.elements or (TrinoType("unknown"),)
        return "[" + ", ".join(_nested(item, element) for item in value) + "]"
    if base == "map":
        key_type, value_type = kind.elements if len(kind.elements) == 2 else (TrinoType("unknown"),) * 2
        return "{" + ", ".join(f"{_nested(k, key_type)}={_nested(v, value_type)}" for k, v in _pairs(value)) + "}"
    if base == "row":
        items = list(value.values()) if isinstance(value, Mapping) else list(value)
        names = kind.field_names or (tuple(value) if isinstance(value, Mapping) else ())
        names = names or tuple(f"field{index}" for index in range(len(items)))
        types = kind.elements or tuple(TrinoType("unknown") for _ in items)
        return "{" + ", ".join(f"{n}={_nested(v, t)}" for n, v, t in zip(names, items, types, strict=False)) + "}"
    return _untyped(value)


def _untyped(value: Any) -> str:
    """Text by Python type, for a type name the engine did not give (never expected; keeps results readable)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, datetime):
        return _timestamp(value, TrinoType("timestamp"))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested(item, TrinoType("unknown")) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_nested(v, TrinoType('unknown'))}" for k, v in value.items()) + "}"
    return str(value)


def _nested(value: Any, kind: TrinoType) -> str:
    return "null" if value is None else _text(value, kind)


def cell_text(value: Any, athena_type: str) -> str | None:
    """One result value as Athena's VarCharValue (None for NULL: the cell has no VarCharValue)."""
    if value is None:
        return None
    return _text(value, parse_type(athena_type))


def row_texts(columns: Sequence[ResultColumn], rows: Iterable[Sequence[Any]]) -> list[list[str | None]]:
    """Every row as Athena's cell strings (types parsed once per column)."""
    kinds = [parse_type(column.athena_type) for column in columns]
    return [[None if v is None else _text(v, k) for v, k in zip(row, kinds, strict=True)] for row in rows]


def column_info(column: ResultColumn) -> dict[str, Any]:
    """GetQueryResults' ColumnInfo for one column, as Athena fills it for a query result."""
    kind = parse_type(column.athena_type)
    precision, scale = _PRECISION.get(kind.base, 0), 0
    if kind.base in ("varchar", "char") and kind.parameters:
        precision = int(kind.parameters[0])
    if kind.base == "decimal" and len(kind.parameters) == 2:
        precision, scale = int(kind.parameters[0]), int(kind.parameters[1])
    if kind.base == "timestamp" and kind.parameters:
        precision = int(kind.parameters[0])
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": column.name,
        "Label": column.name,
        "Type": kind.base,
        "Precision": precision,
        "Scale": scale,
        "Nullable": "UNKNOWN",
        "CaseSensitive": kind.base in _CASE_SENSITIVE,
    }


def _csv_field(text: str | None) -> str:
    return "" if text is None else '"' + text.replace('"', '""') + '"'


def csv_text(names: Sequence[str], rows: Iterable[Sequence[str | None]]) -> str:
    """The `<QueryExecutionId>.csv` Athena writes: a header, every value double-quoted, NULL empty, `\\n` endings."""
    lines = [",".join(_csv_field(name) for name in names)]
    lines.extend(",".join(_csv_field(text) for text in row) for row in rows)
    return "".join(line + "\n" for line in lines)

"""Athena partition projection: which partition values a Glue table's `projection.*` parameters make part of it.

With `projection.enabled` = true Athena ignores the table's Glue partitions and computes them from the table
parameters: per key a type (date, integer, enum, injected) and its range or values, and the partitions' S3
locations from `storage.location.template` (`s3://bucket/prefix/dt=${dt}/`), or Hive's `<location>/key=value/`
when there is none. An object whose path holds a value outside a key's projection is not part of the table.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from glue.schema import Column
from sandbox.athena.engine import QueryError

INVALID_TABLE_PROPERTY = "INVALID_TABLE_PROPERTY"
# Java DateTimeFormatter letters Athena's date projections use → strftime directives (zero-padded forms only).
_JAVA_FIELDS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_FIELD_UNITS = (("%S", "SECONDS"), ("%M", "MINUTES"), ("%H", "HOURS"), ("%d", "DAYS"), ("%m", "MONTHS"))
_UNIT_SECONDS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86_400, "WEEKS": 7 * 86_400}
_NOW = re.compile(r"NOW\s*(?:([+-])\s*(\d+)\s*(YEAR|MONTH|WEEK|DAY|HOUR|MINUTE|SECOND)S?)?", re.IGNORECASE)
_TEMPLATE_KEY = re.compile(r"\$\{([^}]+)\}")


def _invalid(table: str, message: str) -> QueryError:
    return QueryError(INVALID_TABLE_PROPERTY, f"Table {table}: {message}")


def java_date_format(pattern: str) -> str:
    """A Java date pattern (`yyyy-MM-dd`, `yyyy/MM/dd/HH`, quoted literals) as a strftime format; ValueError if
    it uses a letter this module does not support."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            end = pattern.find("'", index + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in date format {pattern!r}")
            out.append(pattern[index + 1 : end].replace("%", "%%") or "'")
            index = end + 1
        elif char.isalpha():
            end = index
            while end < len(pattern) and pattern[end] == char:
                end += 1
            letters = pattern[index:end]
            if letters not in _JAVA_FIELDS:
                raise ValueError(f"date format letter {letters!r} is not supported locally (in {pattern!r})")
            out.append(_JAVA_FIELDS[letters])
            index = end
        else:
            out.append("%%" if char == "%" else char)
            index += 1
    return "".join(out)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _shifted(moment: datetime, sign: str, amount: int, unit: str) -> datetime:
    step = amount if sign == "+" else -amount
    unit = unit.upper()
    if unit == "YEAR":
        return _add_months(moment, 12 * step)
    if unit == "MONTH":
        return _add_months(moment, step)
    return moment + timedelta(seconds=step * _UNIT_SECONDS[unit + "S"])


@dataclass(frozen=True)
class KeyProjection:
    """One partition key's projection: the values Athena would enumerate for it."""

    name: str
    kind: str  # date | integer | enum | injected
    values: tuple[str, ...] = ()  # enum
    low: int = 0  # integer range
    high: int = 0
    digits: int = 0
    interval: int = 1
    start: datetime | None = None  # date range, naive UTC, floored to the format's precision
    end: datetime | None = None
    strftime: str = ""
    unit: str = "DAYS"

    def accepts(self, value: str) -> bool:
        """True when the value is one this key's projection produces."""
        if self.kind == "enum":
            return value in self.values
        if self.kind == "injected":
            return True
        if self.kind == "integer":
            return self._integer(value)
        return self._date(value)

    def _integer(self, value: str) -> bool:
        if not re.fullmatch(r"-?\d+", value):
            return False
        number = int(value)
        shown = f"{number:0{self.digits}d}" if self.digits else str(number)
        return value == shown and self.low <= number <= self.high and (number - self.low) % max(self.interval, 1) == 0

    def _date(self, value: str) -> bool:
        assert self.start is not None and self.end is not None
        try:
            moment = datetime.strptime(value, self.strftime)
        except ValueError:
            return False
        if moment.strftime(self.strftime) != value or not self.start <= moment <= self.end:
            return False
        if self.unit in ("MONTHS", "YEARS"):
            months = (moment.year - self.start.year) * 12 + moment.month - self.start.month
            return months % (self.interval * (12 if self.unit == "YEARS" else 1)) == 0
        step = self.interval * _UNIT_SECONDS.get(self.unit, 86_400)
        return (moment - self.start).total_seconds() % step == 0


@dataclass(frozen=True)
class PartitionProjection:
    """A table's projected partitions: a rule per key and the S3 location template of a partition."""

    keys: tuple[KeyProjection, ...]
    template: str  # s3://bucket/…/${key}/… ending with "/"

    def accepts(self, values: Mapping[str, str]) -> bool:
        """True when every key's value is within its projection (else Athena does not read the path)."""
        return all(rule.accepts(values[rule.name]) for rule in self.keys)

    def template_keys(self) -> list[str]:
        """The keys the location template names, in order of appearance."""
        return [match.lower() for match in _TEMPLATE_KEY.findall(self.template)]


def _parameter(parameters: Mapping[str, str], name: str) -> str | None:
    """A table parameter by name, case-insensitively (Athena's own are lower-case; users write them any way)."""
    lowered = name.lower()
    for key, value in parameters.items():
        if key.lower() == lowered:
            return value
    return None


def _date_rule(table: str, key: str, parameters: Mapping[str, str], now: datetime) -> KeyProjection:
    prefix = f"projection.{key}."
    pattern = _parameter(parameters, prefix + "format")
    bounds = _parameter(parameters, prefix + "range")
    if not pattern or not bounds or bounds.count(",") != 1:
        raise _invalid(table, f"date projection of {key} needs {prefix}format and {prefix}range 'start,end'")
    try:
        strftime = java_date_format(pattern)
    except ValueError as error:
        raise _invalid(table, str(error)) from error
    unit = (_parameter(parameters, prefix + "interval.unit") or "").upper()
    if not unit:
        unit = next((name for directive, name in _FIELD_UNITS if directive in strftime), "YEARS")
    interval = _parameter(parameters, prefix + "interval") or "1"
    if not interval.isdigit() or int(interval) < 1 or unit not in (*_UNIT_SECONDS, "MONTHS", "YEARS"):
        raise _invalid(table, f"{prefix}interval {interval!r} {unit!r} is not a positive whole number of a unit")

    def boundary(text: str) -> datetime:
        text = text.strip()
        relative = _NOW.fullmatch(text)
        try:
            if relative is None:
                return datetime.strptime(text, strftime)
            moment = now if relative[1] is None else _shifted(now, relative[1], int(relative[2]), relative[3])
            return datetime.strptime(moment.strftime(strftime), strftime)  # floored to the format's precision
        except ValueError as error:
            raise _invalid(table, f"{prefix}range bound {text!r} does not match the format {pattern!r}") from error

    first, last = bounds.split(",")
    return KeyProjection(
        key,
        "date",
        start=boundary(first),
        end=boundary(last),
        strftime=strftime,
        unit=unit,
        interval=int(interval),
    )


def _rule(table: str, key: str, parameters: Mapping[str, str], now: datetime) -> KeyProjection:
    prefix = f"projection.{key}."
    kind = (_parameter(parameters, prefix + "type") or "").lower()
    if kind == "date":
        return _date_rule(table, key, parameters, now)
    if kind == "enum":
        values = _parameter(parameters, prefix + "values")
        if not values:
            raise _invalid(table, f"enum projection of {key} needs {prefix}values")
        return KeyProjection(key, kind, values=tuple(v.strip() for v in values.split(",")))
    if kind == "integer":
        bounds = _parameter(parameters, prefix + "range") or ""
        digits = _parameter(parameters, prefix + "digits") or "0"
        interval = _parameter(parameters, prefix + "interval") or "1"
        match = re.fullmatch(r"\s*(-?\d+)\s*,\s*(-?\d+)\s*", bounds)
        if match is None or not digits.isdigit() or not interval.isdigit():
            raise _invalid(table, f"integer projection of {key} needs {prefix}range 'low,high'")
        low, high = int(match[1]), int(match[2])
        return KeyProjection(key, kind, low=low, high=high, digits=int(digits), interval=int(interval))
    if kind == "injected":
        return KeyProjection(key, kind)
    raise _invalid(table, f"partition key {key} has no supported projection type ({prefix}type = {kind or 'missing'})")


def projection_of(
    table: str, location: str, partition_keys: Sequence[Column], parameters: Mapping[str, str], now: datetime
) -> PartitionProjection | None:
    """The table's projection, or None when `projection.enabled` is not true (Glue partitions apply then)."""
    if (_parameter(parameters, "projection.enabled") or "").strip().lower() != "true" or not partition_keys:
        return None
    rules = tuple(_rule(table, key.name.lower(), parameters, now) for key in partition_keys)
    template = _parameter(parameters, "storage.location.template")
    if not template:
        if not location:
            raise _invalid(table, "has neither a location nor a storage.location.template")
        base = location if location.endswith("/") else location + "/"
        template = base + "".join(f"{rule.name}=${{{rule.name}}}/" for rule in rules)
    template = template if template.endswith("/") else template + "/"
    projection = PartitionProjection(rules, template)
    missing = {rule.name for rule in rules} - set(projection.template_keys())
    if missing:
        raise _invalid(table, f"storage.location.template does not place {', '.join(sorted(missing))}")
    return projection

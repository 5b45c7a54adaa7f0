"""EventBridge event patterns as AWS matches them, so tests can hold a rule's pattern against real-shaped events.

What AWS documents ("Creating event patterns", "Content filtering in Amazon EventBridge event patterns"):
- A pattern is a JSON object. Every field it names must match; fields it does not name are ignored.
- A field's value is either a nested object (matched against the event's object at that field) or a non-empty list
  of conditions, any one of which may match. A condition is a literal (string, number, boolean or null, matched
  exactly; numbers by value) or a content filter: prefix, suffix, equals-ignore-case, wildcard, anything-but,
  numeric, exists, cidr.
- An event field holding an array matches when any of its elements matches (for a nested object pattern: any
  element that is an object matching it).
- `$or` at any level takes a list of patterns, any one of which may match, beside the level's other fields.
- Matching is on leaves: a condition other than `exists` never matches an object, and `exists` is about whether
  the leaf is there (`"exists": false` also matches when its parent is missing).

A pattern AWS would refuse (an empty list, an unknown filter, a malformed numeric range) raises PatternError,
as PutRule answers InvalidEventPatternException.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

_MISSING = object()
_COMPARISONS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_FILTERS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr"}
)


class PatternError(ValueError):
    """A pattern EventBridge would refuse (its InvalidEventPatternException)."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver `event` to a rule with `pattern` (PatternError: AWS would refuse it)."""
    if not isinstance(pattern, Mapping):
        raise PatternError("an event pattern is a JSON object")
    return _object_matches(pattern, event)


def _object_matches(pattern: Mapping[str, Any], event: Any) -> bool:
    for field_name, expected in pattern.items():
        if field_name == "$or":
            if not isinstance(expected, list) or not expected:
                raise PatternError("$or takes a non-empty list of patterns")
            if not any(_object_matches(_as_pattern(branch), event) for branch in expected):
                return False
            continue
        value = event.get(field_name, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _nested_matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not expected:
                raise PatternError(f"{field_name}: a pattern's list of values must not be empty")
            if not _field_matches(expected, value):
                return False
        else:
            raise PatternError(f"{field_name}: a pattern field is an object or a list, not {expected!r}")
    return True


def _as_pattern(branch: Any) -> Mapping[str, Any]:
    if not isinstance(branch, Mapping):
        raise PatternError("each $or branch is a pattern object")
    return branch


def _nested_matches(pattern: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, Mapping) and _object_matches(pattern, item) for item in value)
    if value is _MISSING or isinstance(value, Mapping):
        # a missing object matches only if every condition below it is satisfied by absence ("exists": false)
        return _object_matches(pattern, value if isinstance(value, Mapping) else {})
    return False


def _field_matches(conditions: Sequence[Any], value: Any) -> bool:
    leaves = value if isinstance(value, list) else [value]
    for condition in conditions:
        if isinstance(condition, Mapping) and "exists" in condition:
            _one_filter(condition)
            present = value is not _MISSING and not isinstance(value, Mapping)
            if condition["exists"] is present:
                return True
            continue
        if any(_leaf_matches(condition, leaf) for leaf in leaves if leaf is not _MISSING):
            return True
    return False


def _one_filter(condition: Mapping[str, Any]) -> tuple[str, Any]:
    if len(condition) != 1:
        raise PatternError(f"a content filter has exactly one key: {dict(condition)!r}")
    ((name, argument),) = condition.items()
    if name not in _FILTERS:
        raise PatternError(f"unknown content filter {name!r}")
    if name == "exists" and not isinstance(argument, bool):
        raise PatternError("exists takes true or false")
    return name, argument


def _leaf_matches(condition: Any, leaf: Any) -> bool:
    if isinstance(leaf, Mapping):
        return False  # only leaves are matched
    if not isinstance(condition, Mapping):
        return _equal(condition, leaf)
    name, argument = _one_filter(condition)
    if name == "numeric":
        return _numeric(argument, leaf)
    if name == "anything-but":
        return _anything_but(argument, leaf)
    if name == "cidr":
        return _cidr(argument, leaf)
    return _string_filter(name, argument, leaf)


def _equal(expected: Any, leaf: Any) -> bool:
    if isinstance(expected, list | Mapping):
        raise PatternError(f"a value in a pattern's list is a literal or a content filter, not {expected!r}")
    if isinstance(expected, bool) or isinstance(leaf, bool) or expected is None or leaf is None:
        return expected is leaf or (type(expected) is type(leaf) and expected == leaf)
    if isinstance(expected, int | float) and isinstance(leaf, int | float):
        return float(expected) == float(leaf)
    return isinstance(expected, str) and isinstance(leaf, str) and expected == leaf


def _string_filter(name: str, argument: Any, leaf: Any) -> bool:
    """prefix, suffix, equals-ignore-case and wildcard: strings only (prefix/suffix may ignore case)."""
    if name in ("prefix", "suffix") and isinstance(argument, Mapping):
        inner, text = _one_filter(argument)
        if inner != "equals-ignore-case" or not isinstance(text, str):
            raise PatternError(f"{name} takes a string or {{'equals-ignore-case': string}}")
        if not isinstance(leaf, str):
            return False
        subject, argument = leaf.casefold(), text.casefold()
    else:
        if not isinstance(argument, str):
            raise PatternError(f"{name} takes a string, not {argument!r}")
        if not isinstance(leaf, str):
            return False
        subject = leaf
    if name == "prefix":
        return subject.startswith(argument)
    if name == "suffix":
        return subject.endswith(argument)
    if name == "equals-ignore-case":
        return subject.casefold() == argument.casefold()
    return _wildcard(argument).fullmatch(subject) is not None


@cache
def _wildcard(pattern: str) -> re.Pattern[str]:
    """A wildcard filter: `*` matches any run of characters; `\\*` and `\\\\` are a literal star and backslash."""
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "*\\":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _numeric(argument: Any, leaf: Any) -> bool:
    """numeric: [op, number] or [lower-op, number, upper-op, number]; only JSON numbers match."""
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise PatternError(f"numeric takes [op, n] or [op, n, op, n], not {argument!r}")
    bounds = list(zip(argument[::2], argument[1::2], strict=True))
    for op, number in bounds:
        if op not in _COMPARISONS or isinstance(number, bool) or not isinstance(number, int | float):
            raise PatternError(f"numeric: bad comparison {op!r} {number!r}")
    if len(bounds) == 2 and (bounds[0][0] not in (">", ">=") or bounds[1][0] not in ("<", "<=")):
        raise PatternError("numeric range: a lower bound (> or >=) then an upper bound (< or <=)")
    if isinstance(leaf, bool) or not isinstance(leaf, int | float):
        return False
    return all(_COMPARISONS[op](float(leaf), float(number)) for op, number in bounds)


def _anything_but(argument: Any, leaf: Any) -> bool:
    """anything-but: a literal, a list of literals, or a prefix/suffix/equals-ignore-case/wildcard filter."""
    if isinstance(argument, Mapping):
        name, inner = _one_filter(argument)
        if name not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(f"anything-but does not take {name}")
        values = inner if isinstance(inner, list) else [inner]
        return isinstance(leaf, str) and not any(_string_filter(name, value, leaf) for value in values)
    values = argument if isinstance(argument, list) else [argument]
    if not values:
        raise PatternError("anything-but takes at least one value")
    return not any(_equal(value, leaf) for value in values)


def _cidr(argument: Any, leaf: Any) -> bool:
    if not isinstance(argument, str):
        raise PatternError("cidr takes a CIDR block string")
    try:
        network = ipaddress.ip_network(argument, strict=False)
    except ValueError:
        raise PatternError(f"cidr: {argument!r} is not a CIDR block") from None
    if not isinstance(leaf, str):
        return False
    try:
        return ipaddress.ip_address(leaf) in network
    except ValueError:
        return False

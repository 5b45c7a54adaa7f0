"""The project's IAM policy evaluator: statements judged as IAM judges identity policies.

An explicit Deny wins, else some Allow whose action, resource and conditions all cover the permission must match,
else the request is implicitly denied. tests/sandbox/stack/permissions.py maps recorded AWS calls onto
`Permission`s and checks them here; the endpoint checks function URL callers here (sandbox/function_urls.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Permission:
    """What IAM must allow for (part of) a call: an action on a resource, given the condition keys the call supplies.

    `alternatives` are permissions that each suffice instead of this one (SES authorizes a sender through its
    address identity OR its domain identity). `unknown` names condition keys the call does carry but whose values
    could not be worked out (a table missing from `partition_keys`): an Allow conditioned on one of them is not
    trusted to match, a Deny conditioned on one is assumed to apply.
    """

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    alternatives: tuple[Permission, ...] = ()
    unknown: tuple[str, ...] = ()

    def describe(self) -> str:
        """`action on resource [key=values]`, with any alternatives joined by "or"."""
        text = f"{self.action} on {self.resource}"
        keys = [f"{key}={','.join(values)}" for key, values in self.context.items()]
        keys += [f"{key}=<unknown>" for key in self.unknown]
        if keys:
            text += f" [{'; '.join(keys)}]"
        return " or ".join([text, *(alternative.describe() for alternative in self.alternatives)])


# --- evaluating policy statements ----------------------------------------------------------------------------------
@lru_cache(maxsize=2048)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(value: str, pattern: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _arn_like(value: str, pattern: str) -> bool:
    """IAM's ArnEquals/ArnLike: the six colon-separated parts compared one by one, each with wildcards."""
    parts, pattern_parts = value.split(":", 5), pattern.split(":", 5)
    return len(parts) == len(pattern_parts) == 6 and all(map(_like, parts, pattern_parts))


def _equals(value: str, expected: str) -> bool:
    return value == expected


def _bool_equals(value: str, expected: str) -> bool:
    return value.lower() == expected.lower()


# Condition operator → (does one request value match one policy value, is the operator negated).
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool_equals, False),
}
_SET_PREFIXES = ("", "ForAllValues", "ForAnyValue")


def _strings(value: Any, where: str) -> list[str]:
    """A policy element's values: IAM takes one value or a list of them (unresolved intrinsics are an error)."""
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str | bool | int | float) for item in values):
        raise ValueError(f"{where} holds {value!r}, which is not a string or list of strings (unresolved intrinsic?)")
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in values]


def _operator(name: str) -> tuple[str, Callable[[str, str], bool], bool]:
    prefix, _, base = name.rpartition(":")
    if prefix not in _SET_PREFIXES or base not in _OPERATORS:
        raise ValueError(
            f"unsupported IAM condition operator {name!r}: sandbox/iam.py evaluates "
            f"{', '.join(_OPERATORS)}, optionally prefixed ForAllValues:/ForAnyValue:"
        )
    matches, negated = _OPERATORS[base]
    return prefix, matches, negated


def _conditions(statement: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(operator, key, policy values) for every condition of the statement, operators checked."""
    block = statement.get("Condition", {})
    if not isinstance(block, Mapping) or not all(isinstance(keys, Mapping) for keys in block.values()):
        raise ValueError(f"malformed Condition block: {block!r}")
    found = []
    for operator, keys in block.items():
        _operator(operator)
        found += [(operator, key, _strings(values, f"Condition {operator} {key}")) for key, values in keys.items()]
    return found


def _request_values(permission: Permission, key: str) -> tuple[str, ...] | None:
    """The call's values for a condition key (IAM compares key names case-insensitively); None when absent."""
    for name, values in permission.context.items():
        if name.lower() == key.lower():
            return values
    return None


def _condition_holds(operator: str, key: str, expected: list[str], permission: Permission, effect: str) -> bool:
    if any(name.lower() == key.lower() for name in permission.unknown):
        return effect == "Deny"  # unprovable: an Allow does not apply, a Deny does
    prefix, matches, negated = _operator(operator)
    values = _request_values(permission, key) or ()

    def satisfied(value: str) -> bool:
        return any(matches(value, item) for item in expected) != negated

    if prefix == "ForAllValues":
        return all(satisfied(value) for value in values)  # vacuously true when the key is absent
    if prefix == "ForAnyValue":
        return any(satisfied(value) for value in values)  # false when the key is absent
    if not values:
        return negated  # an absent key matches nothing: StringEquals is false, StringNotEquals is true
    found = any(matches(value, item) for value in values for item in expected)
    return found != negated


def _applies(statement: Mapping[str, Any], permission: Permission) -> bool:
    """Whether the statement's action, resource and conditions all cover the permission."""
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"statement Effect must be Allow or Deny, not {effect!r}")
    conditions = _conditions(statement)  # checked even when the statement does not apply to this permission
    if ("Action" in statement) == ("NotAction" in statement):
        raise ValueError(f"a statement needs exactly one of Action and NotAction: {statement!r}")
    if ("Resource" in statement) == ("NotResource" in statement):
        raise ValueError(f"a statement needs exactly one of Resource and NotResource: {statement!r}")
    action_key = "Action" if "Action" in statement else "NotAction"
    action_listed = any(
        _like(permission.action, pattern, ignore_case=True) for pattern in _strings(statement[action_key], action_key)
    )
    resource_key = "Resource" if "Resource" in statement else "NotResource"
    resource_listed = any(
        _like(permission.resource, pattern) for pattern in _strings(statement[resource_key], resource_key)
    )
    if action_listed != (action_key == "Action") or resource_listed != (resource_key == "Resource"):
        return False
    return all(_condition_holds(op, key, values, permission, effect) for op, key, values in conditions)


def _label(statement: Mapping[str, Any], index: int) -> str:
    return f"statement {statement['Sid']!r}" if statement.get("Sid") else f"statement #{index}"


def _refusal_of(statements: Sequence[Mapping[str, Any]], permission: Permission) -> str | None:
    """Why IAM refuses this one permission (ignoring its alternatives), or None when it allows it."""
    allowed = False
    for index, statement in enumerate(statements):
        if not _applies(statement, permission):
            continue
        if statement["Effect"] == "Deny":
            return f"explicitly denied by {_label(statement, index)}"
        allowed = True
    if allowed:
        return None
    unconditional = [
        _label(statement, index)
        for index, statement in enumerate(statements)
        if statement.get("Effect") == "Allow"
        and statement.get("Condition")
        and _applies({key: value for key, value in statement.items() if key != "Condition"}, permission)
    ]
    if unconditional:
        return f"{', '.join(unconditional)} would allow it but for its Condition"
    return "no Allow statement matches (implicit deny)"


def _refusal(statements: Sequence[Mapping[str, Any]], permission: Permission) -> str | None:
    """Why IAM refuses the permission and every alternative to it, or None when it allows one of them."""
    reasons = []
    for option in (permission, *permission.alternatives):
        reason = _refusal_of(statements, option)
        if reason is None:
            return None
        reasons.append(reason if not permission.alternatives else f"{option.resource}: {reason}")
    return "; ".join(reasons)


def is_allowed(statements: Sequence[Mapping[str, Any]], permission: Permission) -> bool:
    """Whether identity-policy statements allow the permission (or one of its alternatives), as IAM decides."""
    return _refusal(statements, permission) is None


def is_denied(statements: Sequence[Mapping[str, Any]], permission: Permission) -> bool:
    """Whether some statement explicitly denies the permission (a Deny in any policy wins over every Allow)."""
    return any(statement.get("Effect") == "Deny" and _applies(statement, permission) for statement in statements)

"""What an EventBridge rule target receives: the event, a constant, a path of it, or an InputTransformer's output.

The InputTransformer follows AWS's documentation (API_InputTransformer, "Amazon EventBridge input transformation"):
each `<name>` of the InputTemplate is replaced by the value its InputPathsMap path finds in the event, or by one of
the predefined variables (aws.events.rule-arn, aws.events.rule-name, aws.events.event.ingestion-time,
aws.events.event, aws.events.event.json). In a JSON template a value inside a string literal goes in raw (a string
without its quotes) and one outside goes in as JSON; in a plain-text template strings go in raw and other values as
compact JSON. A path that finds nothing leaves an empty string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def path_value(event: Mapping[str, Any], path: str) -> Any:
    """A JSON path in dot notation ($.detail.key, list indices as numbers); None when the event has no such value."""
    value: Any = event
    for part in path.removeprefix("$").removeprefix(".").split(".") if path not in ("$", "") else []:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def render_template(
    transformer: Mapping[str, Any], event: Mapping[str, Any], *, rule_arn: str = "", ingestion_time: str = ""
) -> str:
    """An InputTransformer's output for `event`, as the target receives it."""
    template: str = transformer["InputTemplate"]
    values = {name: path_value(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    values |= {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_arn.rsplit("/", 1)[-1],
        "aws.events.event.ingestion-time": ingestion_time or str(event.get("time", "")),
        "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
        "aws.events.event.json": dict(event),
    }
    is_json = template.lstrip().startswith(("{", "["))
    out, in_string, index = [], False, 0
    while index < len(template):
        char = template[index]
        placeholder = PLACEHOLDER.match(template, index)
        if placeholder and placeholder.group(1) in values:
            value = values[placeholder.group(1)]
            if value is None:
                out.append("" if in_string or not is_json else "null")
            elif isinstance(value, str) and (in_string or not is_json):
                out.append(value)
            else:
                out.append(json.dumps(value, separators=(",", ":")))  # EventBridge writes compact JSON
            index = placeholder.end()
            continue
        if is_json and char == '"' and (index == 0 or template[index - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        index += 1
    return "".join(out)


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], *, rule_arn: str = "") -> str:
    """The body a target gets: its Input, its InputPath's value, its InputTransformer's output, or the event."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return json.dumps(path_value(event, target["InputPath"]))
    if "InputTransformer" in target:
        return render_template(target["InputTransformer"], event, rule_arn=rule_arn)
    return json.dumps(event)

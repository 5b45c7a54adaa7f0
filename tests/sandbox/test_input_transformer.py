"""sandbox.input_transformer renders a rule target's input as EventBridge documents it (API_InputTransformer)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.input_transformer import render_template, target_input

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "time": "2015-11-11T21:29:54Z",
    "detail": {"instance": "i-0123456789", "status": "RUNNING", "count": 3, "tags": ["a", "b"]},
}
PATHS = {"instance": "$.detail.instance", "status": "$.detail.status", "count": "$.detail.count"}


def test_a_plain_text_template_takes_strings_raw_and_other_values_as_json() -> None:
    transformer = {
        "InputPathsMap": PATHS | {"tags": "$.detail.tags"},
        "InputTemplate": "<instance> is <status>: <count> <tags>",
    }
    assert render_template(transformer, EVENT) == 'i-0123456789 is RUNNING: 3 ["a","b"]'


def test_a_json_template_quotes_nothing_itself_inside_strings_and_writes_json_outside() -> None:
    # The API reference's example: a variable in quotes goes in raw, one outside quotes as JSON
    template = '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\"", "n": <count>}'
    rendered = render_template({"InputPathsMap": PATHS, "InputTemplate": template}, EVENT)
    assert json.loads(rendered) == {
        "myInstance": "i-0123456789",
        "myStatus": 'i-0123456789 is in state "RUNNING"',
        "n": 3,
    }


def test_a_path_the_event_lacks_leaves_nothing_in_text_and_null_in_json() -> None:
    paths = {"missing": "$.detail.nothing"}
    assert render_template({"InputPathsMap": paths, "InputTemplate": "[<missing>]x"}, EVENT) == "[null]x"
    assert render_template({"InputPathsMap": paths, "InputTemplate": "value: <missing>."}, EVENT) == "value: ."


def test_predefined_variables_name_the_rule_and_carry_the_event() -> None:
    arn = "arn:aws:events:us-east-1:123456789012:rule/alerts"
    template = '{"rule": "<aws.events.rule-name>", "event": <aws.events.event.json>}'
    rendered = json.loads(render_template({"InputTemplate": template}, EVENT, rule_arn=arn))
    assert rendered == {"rule": "alerts", "event": EVENT}


def test_without_a_transformer_the_target_gets_its_input_its_path_or_the_event() -> None:
    assert target_input({"Input": '{"fixed": true}'}, EVENT) == '{"fixed": true}'
    assert json.loads(target_input({"InputPath": "$.detail.tags"}, EVENT)) == ["a", "b"]
    assert json.loads(target_input({}, EVENT)) == EVENT

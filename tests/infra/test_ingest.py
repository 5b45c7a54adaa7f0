"""The S3 event rules: what reaches the start queue, and what happens when delivery fails."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.event_patterns import matches
from stacks.ingest import key_filters
from tests.infra.conftest import PREFIX
from tests.infra.synth import Synth

pytestmark = pytest.mark.slow
EVENTS = Path(__file__).resolve().parents[1] / "events"


def _rules(synth: Synth) -> dict[str, dict[str, Any]]:
    """detail-type → rule properties."""
    rules = {}
    for rule in synth.resources("AWS::Events::Rule").values():
        properties = rule["Properties"]
        if "EventPattern" not in properties:  # the scheduler's tick (a schedule rule) is tested with moderation
            continue
        (detail_type,) = properties["EventPattern"]["detail-type"]
        rules[detail_type] = properties
    return rules


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_created_and_deleted_rules_watch_only_the_media_bucket(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given a synthesized stack
    synth: Synth = request.getfixturevalue(synth_name)
    # When its EventBridge rules are read
    rules = _rules(synth)
    # Then one rule per S3 detail type matches aws.s3 events of the media bucket only
    assert set(rules) == {"Object Created", "Object Deleted"}
    media_bucket = synth.output_ref("MediaBucketName")
    for rule in rules.values():
        pattern = rule["EventPattern"]
        assert pattern["source"] == ["aws.s3"]
        assert pattern["detail"]["bucket"] == {"name": [{"Ref": media_bucket}]}
        assert rule["State"] == "ENABLED"


def test_without_prefix_both_rules_match_suffixes_ignoring_case(dev: Synth) -> None:
    # Given the default configuration (mp4, mov; no prefix)
    # When the key filters of both rules are read
    keys = [rule["EventPattern"]["detail"]["object"]["key"] for rule in _rules(dev).values()]
    # Then both carry the same equals-ignore-case suffix filters
    expected = [{"suffix": {"equals-ignore-case": ".mp4"}}, {"suffix": {"equals-ignore-case": ".mov"}}]
    assert keys == [expected, expected]


def test_with_prefix_both_rules_match_every_case_variant_under_the_escaped_prefix(prod: Synth) -> None:
    # Given a key prefix holding * and \ and suffixes mp4, MOV, m4v
    # When the key filters of both rules are read
    keys = [rule["EventPattern"]["detail"]["object"]["key"] for rule in _rules(prod).values()]
    # Then they are literal-prefix wildcards, one per letter-case variant (4 + 8 + 4), identical for both rules
    wildcards = sorted(entry["wildcard"] for entry in keys[0])
    assert keys[0] == keys[1] == key_filters(prod.config.video_suffixes, PREFIX)
    assert len(wildcards) == 16
    assert all(w.startswith("uploads/in\\*box\\\\*.") for w in wildcards)
    assert {w.rsplit(".", 1)[1] for w in wildcards} >= {"mp4", "MP4", "mov", "MOV", "MoV", "m4v", "M4V"}


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_rules_target_the_start_queue_with_retries_and_a_dead_letter_queue(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given a synthesized stack
    synth: Synth = request.getfixturevalue(synth_name)
    start_queue = synth.output_ref("StartQueueUrl")
    queues = synth.resources("AWS::SQS::Queue")
    # When the rules' targets are read
    for rule in _rules(synth).values():
        (target,) = rule["Targets"]
        # Then events go to the start queue; undeliverable ones go to a separate queue after retries
        assert target["Arn"] == {"Fn::GetAtt": [start_queue, "Arn"]}
        dead_letter_queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert dead_letter_queue in queues and dead_letter_queue != start_queue
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (f"{PREFIX}clip.mp4", True),
        (f"{PREFIX}deeper/folder/clip.MoV", True),
        (f"{PREFIX}clip.M4v", True),
        (f"{PREFIX}clip.mp4.txt", False),
        ("uploads/inXbox\\clip.mp4", False),  # the prefix's * is literal
        ("uploads/in*box/clip.mp4", False),  # and so is its backslash
        ("elsewhere/clip.mp4", False),
    ],
)
def test_the_created_rule_matches_a_real_s3_event_as_eventbridge_would(prod: Synth, key: str, expected: bool) -> None:
    # Given prod's Object Created rule, its bucket reference resolved to the event's bucket
    event = json.loads((EVENTS / "s3_object_created_put.json").read_text(encoding="utf-8"))
    pattern = copy.deepcopy(_rules(prod)["Object Created"]["EventPattern"])
    pattern["detail"]["bucket"]["name"] = [event["detail"]["bucket"]["name"]]
    # When S3 sends an Object Created event for the key
    event["detail"]["object"]["key"] = key
    # Then EventBridge's matching (sandbox.event_patterns) delivers it exactly when the key is a video under the prefix
    assert matches(pattern, event) is expected

"""Real-time alerts: nothing without recipients; with them a rule whose pattern picks exactly the videos worth an alert
(held against real-shaped "Video Moderated" events with EventBridge's matching), one readable message per video, and
publishing that only the rule may do."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.collect_results.logic import event_detail
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.models import RawDetection, VideoRecord, VideoRef, VideoStatus, VideoSummary
from sandbox.event_patterns import matches
from sandbox.input_transformer import render_template
from tests.helpers import MEDIA_BUCKET, NOW, detection
from tests.infra.conftest import (
    ALERT_CATEGORIES,
    ALERT_EMAILS,
    ALERT_THRESHOLD,
    SLACK_CHANNEL_ID,
    SLACK_WORKSPACE_ID,
)
from tests.infra.synth import Synth, as_list

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
ALERTS_PATH = "modlake-dev/Alerts/"
ALERT_DLQ_ALARM_PATH = "modlake-dev/Monitoring/AlertDeliveryDeadLetterQueueAlarm/"
DASHBOARD_PATH = "modlake-dev/Monitoring/Dashboard/"  # graphs every DLQ, so it shows the alerts' one too
REGION = "us-east-1"
FLAG_POLICY = FlagPolicy(threshold=80.0)
VERSION_ID = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


# --- real-shaped "Video Moderated" events, built by collect_results' own detail builder ---------------------------
def moderated_event(
    detections: Sequence[RawDetection],
    *,
    key: str = "uploads/clip.mp4",
    bucket: str = MEDIA_BUCKET,
    source: str = "modlake",
    detail_type: str = "Video Moderated",
) -> dict[str, Any]:
    """The event EventBridge delivers for a video whose job found these detections (flagged at 80 %)."""
    summary = VideoSummary()
    DetectionClassifier(FLAG_POLICY).classify(detections, summary)
    record = VideoRecord(
        video=VideoRef(bucket=bucket, key=key, version_id=VERSION_ID, etag="e1", uploaded_at=NOW),
        status=VideoStatus.IN_PROGRESS,
        status_since=NOW,
        updated_at=NOW,
        job_id="job-1",
    )
    completed = datetime(2026, 11, 20, 10, 42, 7, tzinfo=UTC)
    detail = event_detail(record, "job-1", VideoStatus.SUCCEEDED, None, summary, completed, REGION)
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-20T10:42:08Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


# --- the template's parts -----------------------------------------------------------------------------------------


def _alert_rule(synth: Synth) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for r in synth.resources("AWS::Events::Rule").values()
        if "Video Moderated" in r["Properties"].get("EventPattern", {}).get("detail-type", [])
    ]
    return rule


def _targets(synth: Synth) -> dict[str, dict[str, Any]]:
    """The rule's targets by the construct path of their topic: Alerts/Topic and Alerts/SlackTopic."""
    return {
        synth.construct_paths[target["Arn"]["Ref"]].removeprefix(ALERTS_PATH).removesuffix("/Resource"): target
        for target in _alert_rule(synth)["Targets"]
    }


def _rule_id(synth: Synth) -> str:
    (rule_id,) = [k for k in synth.resources("AWS::Events::Rule") if synth.construct_paths[k].startswith(ALERTS_PATH)]
    return rule_id


def _slack_topic(synth: Synth) -> str:
    return str(_targets(synth)["SlackTopic"]["Arn"]["Ref"])


# --- off by default ---------------------------------------------------------------------------------------------
def test_without_recipients_the_template_has_no_alert_resource(dev: Synth) -> None:
    # Given the stack as cdk.json configures it (no alert_emails, no Slack ids)
    resources = dev.resources_json
    # Then nothing is under Alerts/, no rule listens for "Video Moderated", there is no Chatbot and no alerts output
    assert not [path for path in dev.construct_paths.values() if path.startswith(ALERTS_PATH)]
    assert not [
        r
        for r in dev.resources("AWS::Events::Rule").values()
        if "Video Moderated" in json.dumps(r["Properties"].get("EventPattern", {}))
    ]
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Chatbot::")]
    assert "AlertsTopicArn" not in dev.json["Outputs"]
    # And the only topics are the completion, ops and digest topics
    assert set(dev.resources("AWS::SNS::Topic")) == {
        dev.output_ref(name) for name in ("RekognitionTopicArn", "OpsTopicArn", "DigestTopicArn")
    }


def test_alerts_add_their_own_resources_and_change_nothing_else(dev: Synth, alerts: Synth) -> None:
    # Given the same stage and region with alerts off (dev) and on
    before, after = dev.resources_json, alerts.resources_json
    # Then every resource of dev is still there, the same (the dashboard aside: it graphs the alerts' DLQ too)
    dashboard = [k for k, path in dev.construct_paths.items() if path.startswith(DASHBOARD_PATH)]
    changed = [k for k, r in before.items() if after.get(k) != r and k not in dashboard]
    assert changed == []
    assert set(before) <= set(after)
    # And everything added belongs to the alerts or is the alarm on their dead-letter queue
    added = {k: alerts.construct_paths[k] for k in set(after) - set(before)}
    assert added and not [p for p in added.values() if not p.startswith((ALERTS_PATH, ALERT_DLQ_ALARM_PATH))]
    assert {after[k]["Type"] for k in added} == {
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Events::Rule",
        "AWS::KMS::Key",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SNS::Subscription",
        "AWS::IAM::Role",
        "AWS::Chatbot::SlackChannelConfiguration",
        "AWS::CloudWatch::Alarm",
    }


# --- the rule -----------------------------------------------------------------------------------------------------
def test_the_rule_listens_on_the_stages_bus_for_flagged_videos_over_the_threshold_in_the_categories(
    alerts: Synth,
) -> None:
    # Given the alert rule
    rule = _alert_rule(alerts)
    # Then it is on the configured bus and its pattern is modlake's flagged videos at or above 90 % in the categories
    assert rule["EventBusName"] == alerts.config.event_bus_name
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": [alerts.config.event_source],
        "detail-type": ["Video Moderated"],
        "detail": {
            "flagged": [True],
            "max_confidence": [{"numeric": [">=", ALERT_THRESHOLD]}],
            "categories": ALERT_CATEGORIES,
        },
    }


@pytest.mark.parametrize(
    ("detections", "envelope", "alerted"),
    [
        pytest.param([detection(83_400, "Violence", confidence=95.0)], {}, True, id="listed category above"),
        pytest.param([detection(83_400, "Violence", confidence=90.0)], {}, True, id="exactly the threshold"),
        pytest.param(
            [detection(1000, "Alcohol", confidence=99.0), detection(2000, "Hate Symbols", confidence=85.0)],
            {},
            True,
            id="two categories, one listed",
        ),
        pytest.param([detection(1000, "Violence", confidence=89.9)], {}, False, id="below the threshold"),
        pytest.param([detection(1000, "Violence", confidence=70.0)], {}, False, id="not flagged"),
        pytest.param([], {}, False, id="nothing detected"),
        pytest.param([detection(1000, "Alcohol", confidence=99.0)], {}, False, id="another category"),
        pytest.param([detection(1000, "Violence", confidence=95.0)], {"source": "aws.s3"}, False, id="another source"),
        pytest.param(
            [detection(1000, "Violence", confidence=95.0)],
            {"detail_type": "Object Created"},
            False,
            id="another detail type",
        ),
    ],
)
def test_the_pattern_matches_exactly_the_videos_worth_an_alert(
    alerts: Synth, detections: list[RawDetection], envelope: dict[str, str], alerted: bool
) -> None:
    # Given a real-shaped "Video Moderated" event of a video with these detections
    event = moderated_event(detections, **envelope)
    # When EventBridge holds it against the synthesized rule's pattern / Then it is delivered only when worth an alert
    assert matches(_alert_rule(alerts)["EventPattern"], event) is alerted


def test_without_alert_categories_any_flagged_video_over_the_threshold_matches(alerts: Synth) -> None:
    # Given the rule's pattern as an empty alert_categories leaves it (no categories field)
    pattern = json.loads(json.dumps(_alert_rule(alerts)["EventPattern"]))
    del pattern["detail"]["categories"]
    # Then a video flagged only for alcohol at 99 % matches, one at 85 % does not
    assert matches(pattern, moderated_event([detection(1000, "Alcohol", confidence=99.0)]))
    assert not matches(pattern, moderated_event([detection(1000, "Alcohol", confidence=85.0)]))


# --- what an alert says -------------------------------------------------------------------------------------------
def test_the_email_alert_is_one_readable_message_with_everything_an_operator_needs(alerts: Synth) -> None:
    # Given a video flagged for violence at 01:23 with 97.5 %, and the topic target's input transformer
    event = moderated_event(
        [detection(83_400, "Violence", confidence=97.5), detection(90_000, "Hate Symbols", confidence=91.0)],
        key="uploads/in box/clip #7.mp4",
    )
    target = _targets(alerts)["Topic"]
    # When EventBridge transforms the event
    text = render_template(target["InputTransformer"], event)
    # Then the first line sums it up, and the body has the video, categories, confidence, moment, link and stage
    summary, blank, *body = text.splitlines()
    assert summary == (
        f"modlake dev: flagged video s3://{event['detail']['bucket']}/uploads/in box/clip #7.mp4, "
        "max confidence 97.5% at 01:23"
    )
    assert blank == ""
    assert body == [
        f"Video: s3://{event['detail']['bucket']}/uploads/in box/clip #7.mp4",
        'Flagged categories: ["Hate Symbols","Violence"]',
        "Max confidence: 97.5%",
        "First flagged: 01:23 into the video",
        f"S3 console: {event['detail']['console_url']}",
        "Stage: dev",
        "Rekognition job: job-1",
    ]
    assert f"versionId={VERSION_ID}" in event["detail"]["console_url"]
    assert not text.startswith('"')  # the template is plain text, not a JSON string email would show in quotes


def test_the_slack_alert_is_a_chatbot_custom_notification_even_for_a_key_with_quotes(alerts: Synth) -> None:
    # Given a flagged video whose key holds a quote and a backslash, and the Slack topic target's transformer
    event = moderated_event([detection(3_725_000, "Violence", confidence=93.25)], key='uploads/"odd"\\name.mp4')
    target = _targets(alerts)["SlackTopic"]
    # When EventBridge transforms the event
    notification = json.loads(render_template(target["InputTransformer"], event))
    # Then it is valid custom-notification JSON with the moment, confidence, key, categories and link
    assert (notification["version"], notification["source"]) == ("1.0", "custom")
    content = notification["content"]
    assert content["title"] == ":rotating_light: modlake dev: flagged video, max confidence 93.25% at 1:02:05"
    assert content["description"] == f's3://{event["detail"]["bucket"]}/uploads/"odd"\\name.mp4'
    assert content["keywords"] == ["Violence"]
    assert content["nextSteps"] == [event["detail"]["console_url"]]


def test_the_readme_shows_the_alert_as_the_transformer_renders_it(alerts: Synth) -> None:
    # Given the README's example alert and the event it describes
    section = README.read_text().split("\n### Real-time alerts\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```text\n", 1)[1].split("```", 1)[0]
    event = moderated_event(
        [detection(83_400, "Violence", confidence=97.5), detection(90_000, "Hate Symbols", confidence=91.0)],
        key="uploads/2026/11/clip-0193.mp4",
        bucket="modlake-dev-media-1a2b3c4d",
    )
    # Then the README shows exactly what the email target receives
    assert example == render_template(_targets(alerts)["Topic"]["InputTransformer"], event) + "\n"


# --- delivery: topics, keys, retries, DLQ -------------------------------------------------------------------------
def test_the_alerts_topic_is_encrypted_and_subscribes_the_alert_emails(alerts: Synth) -> None:
    # Given the alerts topic the stack outputs
    key, _ = alerts.topic_key_and_policy("AlertsTopicArn")
    # Then its own rotating key encrypts it and every alert address is subscribed by email
    assert key["EnableKeyRotation"] is True
    assert alerts.email_subscribers("AlertsTopicArn") == set(ALERT_EMAILS)


@pytest.mark.parametrize("topic", ["Topic", "SlackTopic"])
def test_only_the_alert_rule_may_publish_and_eventbridge_may_use_the_key_only_for_this_account(
    alerts: Synth, topic: str
) -> None:
    # Given an alert topic, its topic policy and its key's policy
    topic_id = _targets(alerts)[topic]["Arn"]["Ref"]
    resources = alerts.resources_json
    key_id = resources[topic_id]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in alerts.resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    key_statements = resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
    events = {"Service": "events.amazonaws.com"}
    # Then EventBridge may publish to the topic only for the alert rule, from this account
    (publish,) = [s for s in policy if s["Effect"] == "Allow"]
    assert publish["Principal"] == events and publish["Action"] == "sns:Publish"
    assert publish["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [_rule_id(alerts), "Arn"]}},
    }
    # And use the key for exactly what SNS asks of it for a publisher, only for this account
    (use_key,) = [s for s in key_statements if s.get("Principal") == events]
    assert sorted(as_list(use_key["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use_key["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_no_policy_lets_eventbridge_in_without_a_condition(alerts: Synth) -> None:
    # Given every resource policy statement naming EventBridge (topic, key and queue policies)
    documents = [r["Properties"]["PolicyDocument"] for r in alerts.resources("AWS::SNS::TopicPolicy").values()]
    documents += [r["Properties"]["PolicyDocument"] for r in alerts.resources("AWS::SQS::QueuePolicy").values()]
    documents += [r["Properties"]["KeyPolicy"] for r in alerts.resources("AWS::KMS::Key").values()]
    statements = [
        s for d in documents for s in d["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    # Then each is conditioned on this account or on a rule (what targets.SnsTopic's own grant would not be)
    assert statements
    assert not [s for s in statements if not {"aws:SourceAccount", "aws:SourceArn"} & _condition_keys(s)]


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    return {key for keys in statement.get("Condition", {}).values() for key in keys}


@pytest.mark.parametrize("topic", ["Topic", "SlackTopic"])
def test_each_target_transforms_the_event_retries_and_dead_letters_like_the_other_rules(
    alerts: Synth, topic: str
) -> None:
    # Given an alert target and the ingest rules' targets (the stack's other event rules)
    target = _targets(alerts)[topic]
    ingest = [
        t
        for r in alerts.resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.s3"]
        for t in r["Properties"]["Targets"]
    ]
    dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    # Then it sends a transformed message, retries as the ingest rules do, and dead-letters to the alerts' own queue
    assert set(target["InputTransformer"]) == {"InputPathsMap", "InputTemplate"}
    assert ingest and all(t["RetryPolicy"] == target["RetryPolicy"] for t in ingest)
    assert alerts.construct_paths[dlq] == f"{ALERTS_PATH}DeliveryDeadLetterQueue/Resource"
    # And the queue takes the rule's dead letters, and the ops topic hears of any
    (queue_policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in alerts.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq} in p["Properties"]["Queues"]
    ]
    (send,) = [s for s in queue_policy if s["Effect"] == "Allow"]
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [_rule_id(alerts), "Arn"]}}}
    (alarm,) = [
        a["Properties"]
        for a in alerts.resources("AWS::CloudWatch::Alarm").values()
        if {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}} in a["Properties"]["Dimensions"]
    ]
    assert alarm["AlarmActions"] == [{"Ref": alerts.output_ref("OpsTopicArn")}]


# --- Slack --------------------------------------------------------------------------------------------------------
def test_the_slack_channel_gets_the_slack_topic_and_its_role_can_do_nothing(alerts: Synth) -> None:
    # Given the Chatbot Slack channel configuration and its role
    (channel,) = [r["Properties"] for r in alerts.resources("AWS::Chatbot::SlackChannelConfiguration").values()]
    role_id = channel["IamRoleArn"]["Fn::GetAtt"][0]
    role = alerts.resources_json[role_id]["Properties"]
    # Then it posts the Slack topic's notifications to the configured channel
    assert (channel["SlackWorkspaceId"], channel["SlackChannelId"]) == (SLACK_WORKSPACE_ID, SLACK_CHANNEL_ID)
    assert channel["SnsTopicArns"] == [{"Ref": _slack_topic(alerts)}]
    assert channel["ConfigurationName"] == "modlake-dev-alerts"
    # And channel members can run no AWS command: the guardrail denies all, no user role is needed
    assert channel["GuardrailPolicies"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AWSDenyAll"]]}
    ]
    assert channel["UserRoleRequired"] is False
    # And the role Chatbot assumes has no permission at all (posting an SNS notification needs none)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert alerts.role_policy_statements(role_id) == []

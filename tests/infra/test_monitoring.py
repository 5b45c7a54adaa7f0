"""Alarms: every dead-letter queue, every modlake function, and a stuck start queue page the ops topic."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.synth import Synth
from tests.infra.test_queues import dead_letter_queue_ids

pytestmark = pytest.mark.slow


def _alarms(synth: Synth, metric: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == metric
    ]


def _pages_ops(synth: Synth, alarm: dict[str, Any]) -> bool:
    return alarm["AlarmActions"] == [{"Ref": synth.output_ref("OpsTopicArn")}]


def test_every_dead_letter_queue_has_an_alarm_on_its_first_message(dev: Synth) -> None:
    # Given the dead-letter queues and the queue-depth alarms
    alarms = _alarms(dev, "ApproximateNumberOfMessagesVisible")
    # When the alarms are matched to queues by their QueueName dimension
    watched = {alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for alarm in alarms}
    # Then every DLQ is watched, one visible message alarms, and the ops topic is notified
    assert watched == dead_letter_queue_ids(dev)
    for alarm in alarms:
        assert alarm["Namespace"] == "AWS/SQS"
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert _pages_ops(dev, alarm)


def test_every_modlake_function_has_an_errors_alarm(dev: Synth) -> None:
    # Given the modlake functions and the Errors alarms
    alarms = _alarms(dev, "Errors")
    # When the alarms are matched to functions by their FunctionName dimension
    watched = {alarm["Dimensions"][0]["Value"]["Ref"] for alarm in alarms}
    # Then every function is watched, one error alarms, and the ops topic is notified
    assert watched == set(dev.modlake_functions())
    for alarm in alarms:
        assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/Lambda", "Sum")
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert _pages_ops(dev, alarm)


def test_a_start_queue_message_older_than_an_hour_alarms(dev: Synth) -> None:
    # Given the message-age alarms
    (alarm,) = _alarms(dev, "ApproximateAgeOfOldestMessage")
    # Then it watches the start queue for messages older than one hour
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dev.output_ref("StartQueueUrl"), "QueueName"]}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (3600, "GreaterThanThreshold")
    assert _pages_ops(dev, alarm)


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_ops_topic_is_encrypted_tls_only_and_publishable_by_cloudwatch(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given the ops topic
    synth: Synth = request.getfixturevalue(synth_name)
    topic_id = synth.output_ref("OpsTopicArn")
    topic = synth.resources_json[topic_id]["Properties"]
    key = synth.resources_json[topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    # Then it uses a rotating customer-managed key, denies non-TLS publishing,
    # and CloudWatch (this account only) may publish and use the key
    assert key["EnableKeyRotation"] is True
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    assert any(s["Effect"] == "Allow" and s["Principal"] == cloudwatch and s["Action"] == "sns:Publish" for s in policy)
    key_statements = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == cloudwatch]
    assert [sorted(s["Action"]) for s in key_statements] == [["kms:Decrypt", "kms:GenerateDataKey*"]]
    assert key_statements[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_each_alarm_email_is_subscribed_to_the_ops_topic(dev: Synth, prod: Synth) -> None:
    # Given dev without alarm emails and prod with two
    def emails(synth: Synth) -> set[str]:
        topic = {"Ref": synth.output_ref("OpsTopicArn")}
        return {
            s["Properties"]["Endpoint"]
            for s in synth.resources("AWS::SNS::Subscription").values()
            if s["Properties"]["Protocol"] == "email" and s["Properties"]["TopicArn"] == topic
        }

    # Then exactly the configured addresses are subscribed
    assert emails(dev) == set()
    assert emails(prod) == {"ops@example.com", "oncall@example.com"}

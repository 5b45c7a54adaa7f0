"""Alarms: every dead-letter queue, every modlake function, and a stuck start queue page the ops topic.
The dashboard: business metrics, queues, functions and Athena spend of the stage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.synth import Synth, render
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
    key, policy = synth.topic_key_and_policy("OpsTopicArn")
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
    # Then exactly the configured addresses are subscribed
    assert dev.email_subscribers("OpsTopicArn") == set()
    assert prod.email_subscribers("OpsTopicArn") == {"ops@example.com", "oncall@example.com"}


def _dashboard(synth: Synth) -> dict[str, Any]:
    """The dashboard body, its tokens rendered as <LogicalId>."""
    dashboard = synth.resources_json[synth.output_ref("DashboardName")]["Properties"]
    body: dict[str, Any] = json.loads(render(dashboard["DashboardBody"]))
    return {"name": dashboard["DashboardName"], **body}


def _widgets(synth: Synth) -> dict[str, list[Any]]:
    """Widget title → its metric rows."""
    return {w["properties"]["title"]: w["properties"]["metrics"] for w in _dashboard(synth)["widgets"]}


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_dashboard_is_named_after_the_stage(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given the stage's dashboard / Then it is modlake-<stage>
    synth: Synth = request.getfixturevalue(synth_name)
    assert _dashboard(synth)["name"] == f"modlake-{synth.config.stage}"


def test_dashboard_shows_the_business_metrics_by_service(dev: Synth) -> None:
    # Given the dashboard's rows in the modlake namespace
    rows = [row for metrics in _widgets(dev).values() for row in metrics if row[0] == "modlake"]
    # Then they are Powertools' metrics with the emitting function's folder as the service dimension
    assert {(row[1], row[3]) for row in rows} == {
        ("VideosModerated", "collect_results"),
        ("VideosFlagged", "collect_results"),
        ("MessagesFailed", "start_moderation"),
        ("MessagesFailed", "collect_results"),
        ("DigestsSent", "send_digest"),
    }
    assert all(row[2] == "service" and row[4]["stat"] == "Sum" for row in rows)


def test_dashboard_shows_every_queue_dead_letter_queue_and_function(dev: Synth) -> None:
    # Given the dashboard's SQS and Lambda rows
    rows = [row for metrics in _widgets(dev).values() for row in metrics if row[0] in ("AWS/SQS", "AWS/Lambda")]

    def watched(namespace: str, metric: str) -> set[str]:
        return {row[3].strip("<>").split(".")[0] for row in rows if row[:2] == [namespace, metric]}

    # Then both work queues, every DLQ (the digest schedule's included) and every function's errors and duration
    # are on it
    queues = {dev.output_ref("StartQueueUrl"), dev.output_ref("CollectQueueUrl")}
    assert watched("AWS/SQS", "ApproximateNumberOfMessagesVisible") == queues | dead_letter_queue_ids(dev)
    assert watched("AWS/Lambda", "Errors") == set(dev.modlake_functions())
    assert watched("AWS/Lambda", "Duration") == set(dev.modlake_functions())


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_dashboard_shows_the_bytes_the_workgroup_scanned(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given the Athena widget
    synth: Synth = request.getfixturevalue(synth_name)
    workgroup = f"modlake-{synth.config.stage}"
    ((expression,),) = _widgets(synth)[f"Athena bytes scanned ({workgroup})"]
    # Then it sums ProcessedBytes over every query state and type of the stage's workgroup
    assert expression["expression"] == (
        'SEARCH(\'{AWS/Athena,QueryState,QueryType,WorkGroup} MetricName="ProcessedBytes" '
        f"WorkGroup=\"{workgroup}\"', 'Sum', 300)"
    )


def test_the_digest_function_and_its_schedule_dead_letter_queue_page_the_ops_topic(dev: Synth) -> None:
    # Given the digest function and the schedule's DLQ
    function_id, _ = dev.function("send_digest")
    (schedule,) = dev.resources("AWS::Scheduler::Schedule").values()
    dead_letter_queue = schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    # Then a failed digest run and an undeliverable invocation each raise an alarm to the ops topic
    (errors,) = [a for a in _alarms(dev, "Errors") if a["Dimensions"][0]["Value"] == {"Ref": function_id}]
    (messages,) = [
        a
        for a in _alarms(dev, "ApproximateNumberOfMessagesVisible")
        if a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dead_letter_queue, "QueueName"]}
    ]
    assert _pages_ops(dev, errors) and _pages_ops(dev, messages)

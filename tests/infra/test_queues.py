"""Every queue: encrypted, TLS-only, and either a dead-letter queue or protected by one."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synth

pytestmark = pytest.mark.slow

FOURTEEN_DAYS = 14 * 24 * 3600


def dead_letter_queue_ids(synth: Synth) -> set[str]:
    """Queues used as a dead-letter queue by a queue, an EventBridge target, an SNS subscription or a schedule."""
    redrives = [q["Properties"].get("RedrivePolicy") for q in synth.resources("AWS::SQS::Queue").values()]
    redrives += [s["Properties"].get("RedrivePolicy") for s in synth.resources("AWS::SNS::Subscription").values()]
    arns = [r["deadLetterTargetArn"] for r in redrives if r]
    arns += [
        target["DeadLetterConfig"]["Arn"]
        for rule in synth.resources("AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
        if "DeadLetterConfig" in target
    ]
    arns += [
        schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"]
        for schedule in synth.resources("AWS::Scheduler::Schedule").values()
        if "DeadLetterConfig" in schedule["Properties"]["Target"]
    ]
    return {arn["Fn::GetAtt"][0] for arn in arns}


def test_every_queue_that_is_not_a_dead_letter_queue_has_one(dev: Synth) -> None:
    # Given every queue and the set of dead-letter queues
    queues = dev.resources("AWS::SQS::Queue")
    dead_letter_queues = dead_letter_queue_ids(dev)
    # When the working queues are selected
    working = {k: q for k, q in queues.items() if k not in dead_letter_queues}
    # Then each one redrives to a dead-letter queue, and there are exactly the start and collect queues
    assert set(working) == {dev.output_ref("StartQueueUrl"), dev.output_ref("CollectQueueUrl")}
    for queue in working.values():
        assert queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] in dead_letter_queues


def test_start_queue_redrive_and_visibility_follow_its_consumer(dev: Synth) -> None:
    # Given the start queue and start_moderation
    queue = dev.resources_json[dev.output_ref("StartQueueUrl")]["Properties"]
    _, function = dev.function("start_moderation")
    # Then messages move to the DLQ after 5 receives and stay hidden 6 × the function timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] == 6 * function["Properties"]["Timeout"] == 360


def test_collect_queue_redrive_and_visibility_follow_its_consumer(dev: Synth) -> None:
    # Given the collect queue and collect_results
    queue = dev.resources_json[dev.output_ref("CollectQueueUrl")]["Properties"]
    _, function = dev.function("collect_results")
    # Then messages move to the DLQ after 5 receives and stay hidden 6 × the function timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] == 6 * function["Properties"]["Timeout"] == 5400


def test_every_queue_keeps_messages_for_the_maximum_14_days(dev: Synth) -> None:
    # Given all seven queues (five of them dead-letter queues) / Then each keeps messages as long as SQS allows,
    # so a broken consumer loses nothing while it is fixed
    queues = dev.resources("AWS::SQS::Queue")
    assert len(queues) == 7 and len(dead_letter_queue_ids(dev)) == 5
    for queue in queues.values():
        assert queue["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS


def test_every_queue_is_encrypted_and_refuses_plain_http(dev: Synth) -> None:
    # Given every queue and queue policy
    policies = dev.resources("AWS::SQS::QueuePolicy").values()
    for queue_id, queue in dev.resources("AWS::SQS::Queue").items():
        # Then SSE-SQS is on and a policy denies requests without TLS
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert any(
            {"Ref": queue_id} in policy["Properties"]["Queues"]
            and statement["Effect"] == "Deny"
            and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for policy in policies
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ), queue_id


def test_collect_queue_receives_the_sns_envelope_with_a_subscription_dead_letter_queue(dev: Synth) -> None:
    # Given the completion topic's subscriptions
    (subscription,) = dev.resources("AWS::SNS::Subscription").values()
    properties = subscription["Properties"]
    # Then the collect queue is subscribed without raw delivery and undeliverable messages are kept
    assert properties["Protocol"] == "sqs"
    assert properties["TopicArn"] == {"Ref": dev.output_ref("RekognitionTopicArn")}
    assert properties["Endpoint"] == {"Fn::GetAtt": [dev.output_ref("CollectQueueUrl"), "Arn"]}
    assert properties["RawMessageDelivery"] is False
    assert properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] in dead_letter_queue_ids(dev)

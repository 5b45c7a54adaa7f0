"""The local stack's cap on queue waits (SandboxSettings.max_queue_wait): a failed message and a delayed send come
back within the cap instead of after the queue's visibility timeout or the send's DelaySeconds; receive counts and
redrive are SQS's own; without a cap the waits are AWS's again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.stack.queue_waits import cap_queue_waits, queue_wait_cap

CAP = 1


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")
    cap_queue_waits(None)


def _queue(sqs: Any, name: str, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=url, AttributeNames=["All"]).get("Messages", []))


def test_a_received_message_comes_back_within_the_cap_and_still_reaches_its_dlq(sqs: Any) -> None:
    # Given a queue with a 5-minute visibility timeout and a DLQ after two receives, and a cap of 1 s
    dlq = _queue(sqs, "dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = _queue(sqs, "work", VisibilityTimeout="300", RedrivePolicy=redrive)
    cap_queue_waits(CAP)
    sqs.send_message(QueueUrl=url, MessageBody="job")
    # When a consumer receives it twice without deleting it
    first = _receive(sqs, url)
    assert first and not _receive(sqs, url)  # invisible at once, as on AWS
    time.sleep(CAP + 0.2)
    second = _receive(sqs, url)
    # Then it was visible again after the cap, not after 5 minutes, and counted each receive
    assert second and second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    # And after maxReceiveCount it moved to the DLQ, as SQS does
    time.sleep(CAP + 0.2)
    assert not _receive(sqs, url)
    assert [m["Body"] for m in _receive(sqs, dlq)] == ["job"]


def test_a_delayed_send_arrives_within_the_cap(sqs: Any) -> None:
    url = _queue(sqs, "delayed")
    cap_queue_waits(CAP)
    # When a message is sent with a 2-minute delay
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=120)
    # Then it is held back, but only for the cap
    assert not _receive(sqs, url)
    time.sleep(CAP + 0.2)
    assert [m["Body"] for m in _receive(sqs, url)] == ["later"]


def test_without_a_cap_the_waits_are_aws_s(sqs: Any) -> None:
    # Given a cap that was lifted again (a stack stopped)
    cap_queue_waits(CAP)
    cap_queue_waits(None)
    assert queue_wait_cap() is None
    url = _queue(sqs, "aws-times", VisibilityTimeout="300")
    sqs.send_message(QueueUrl=url, MessageBody="job")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=120)
    # When the first is received and the cap's time passes
    assert [m["Body"] for m in _receive(sqs, url)] == ["job"]
    time.sleep(CAP + 0.2)
    # Then neither is back: the visibility timeout and the delay are the queue's and the send's
    assert not _receive(sqs, url)


def test_a_cap_below_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        cap_queue_waits(0)

"""SQS queues built one way: SSE-SQS, TLS only, and the longest retention SQS allows."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# Nothing is lost while an outage is fixed: SQS keeps a message at most 14 days.
MESSAGE_RETENTION = Duration.days(14)


def secure_queue(scope: Construct, construct_id: str, **props: Any) -> sqs.Queue:
    """A modlake queue (work queue or DLQ) with encryption, TLS-only access and 14-day retention."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=MESSAGE_RETENTION,
        **props,
    )

"""From an upload to a message on the start queue: EventBridge rules on the media bucket."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.lambda_factory import queue_visibility_timeout
from stacks.queues import secure_queue

START_MAX_RECEIVE_COUNT = 5
EVENT_DELIVERY_RETRIES = 10
EVENT_MAX_AGE = Duration.hours(24)
# EventBridge rejects patterns over 2048 characters; keep the key filters well inside it.
MAX_KEY_FILTERS_CHARACTERS = 1500


def key_filters(suffixes: Sequence[str], prefix: str = "") -> list[dict[str, Any]]:
    """EventBridge filters on detail.object.key that match the suffixes in any letter case, under the prefix."""
    if not suffixes:
        raise ValueError("at least one suffix is needed")
    if not prefix:
        filters: list[dict[str, Any]] = [{"suffix": {"equals-ignore-case": f".{suffix}"}} for suffix in suffixes]
    else:
        # EventBridge cannot combine a prefix and a case-insensitive suffix on one field, so spell out
        # every letter-case variant of each suffix as a wildcard behind the literal (escaped) prefix.
        literal_prefix = prefix.replace("\\", "\\\\").replace("*", "\\*")
        filters = [
            {"wildcard": f"{literal_prefix}*.{variant}"}
            for suffix in dict.fromkeys(s.lower() for s in suffixes)
            for variant in case_variants(suffix)
        ]
    if len(json.dumps(filters)) > MAX_KEY_FILTERS_CHARACTERS:
        raise ValueError(
            "the key filters for these suffixes and prefix exceed EventBridge's pattern size: "
            "use a shorter key_prefix or fewer video_suffixes"
        )
    return filters


def case_variants(text: str) -> list[str]:
    """Every upper/lower-case spelling of the text (characters without case appear once)."""
    choices = [dict.fromkeys((char.lower(), char.upper())) for char in text]
    return ["".join(combination) for combination in itertools.product(*choices)]


class Ingest(Construct):
    """Routes the media bucket's "Object Created" and "Object Deleted" events to the start queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        media_bucket: s3.IBucket,
        consumer_timeout: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.start_dead_letter_queue = secure_queue(self, "StartDeadLetterQueue")
        self.start_queue = secure_queue(
            self,
            "StartQueue",
            visibility_timeout=queue_visibility_timeout(consumer_timeout),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=START_MAX_RECEIVE_COUNT, queue=self.start_dead_letter_queue
            ),
        )
        # Events EventBridge could not deliver to the start queue (after its retries) land here.
        self.event_delivery_dead_letter_queue = secure_queue(self, "EventDeliveryDeadLetterQueue")
        Validations.of(self.event_delivery_dead_letter_queue).acknowledge(
            Acknowledgment(id="AwsSolutions-SQS3", reason="this queue is the dead-letter queue of the S3 event rules")
        )
        object_key = key_filters(config.video_suffixes, config.key_prefix)
        # Multipart uploads need nothing extra: CompleteMultipartUpload arrives as "Object Created".
        for detail_type in ("Object Created", "Object Deleted"):
            events.Rule(
                self,
                detail_type.replace(" ", "") + "Rule",
                description=f"modlake: {detail_type} in the media bucket → start queue",
                event_pattern=events.EventPattern(
                    source=["aws.s3"],
                    detail_type=[detail_type],
                    detail={"bucket": {"name": [media_bucket.bucket_name]}, "object": {"key": object_key}},
                ),
                targets=[
                    targets.SqsQueue(
                        self.start_queue,
                        dead_letter_queue=self.event_delivery_dead_letter_queue,
                        retry_attempts=EVENT_DELIVERY_RETRIES,
                        max_event_age=EVENT_MAX_AGE,
                    )
                ],
            )
        self.dead_letter_queues: dict[str, sqs.IQueue] = {
            "StartDeadLetterQueue": self.start_dead_letter_queue,
            "EventDeliveryDeadLetterQueue": self.event_delivery_dead_letter_queue,
        }

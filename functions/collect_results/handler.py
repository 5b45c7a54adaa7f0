"""Lambda entry point: SQS batch of Rekognition completions (SNS envelopes) and continuations."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle
from functions.common.adapters.clients import client
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.adapters.messaging import EventBridgePublisher, SqsWorkQueue
from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.adapters.s3 import S3LakeObjects, S3MediaObjects
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter
from functions.common.messages import parse_collect_message
from functions.common.observability import count, entry_point, process_batch
from functions.common.settings import CollectSettings

settings = CollectSettings.from_env()  # a missing variable fails the cold start, not a batch


def build_deps(settings: CollectSettings) -> CollectDeps:
    """Adapters for the real AWS services, built once per container."""
    return CollectDeps(
        store=DynamoVideoStore(client("dynamodb"), settings.videos_table),
        lake=LakeWriter(S3LakeObjects(client("s3"), settings.analytics_bucket)),
        moderation=RekognitionModeration(client("rekognition")),
        events=EventBridgePublisher(client("events"), settings.event_bus_name, settings.event_source),
        start_queue=SqsWorkQueue(client("sqs"), settings.start_queue_url),
        collect_queue=SqsWorkQueue(client("sqs"), settings.collect_queue_url),
        policy=FlagPolicy(
            threshold=settings.flag_threshold,
            category_thresholds=settings.category_thresholds,
            ignored_categories=frozenset(settings.ignored_categories),
        ),
        aggregate_by=settings.aggregate_by,
        # Lambda sets AWS_REGION itself, so the region is not a setting (send_digest reads it the same way).
        region=boto3.session.Session().region_name or "us-east-1",
        quarantine=settings.quarantine,
        media_tags=S3MediaObjects(client("s3")),
    )


deps = build_deps(settings)


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process one SQS batch and report failures per message."""

    def handle_record(record: SQSRecord) -> None:
        message = parse_collect_message(record.body)
        outcome = handle(message, deps, context.get_remaining_time_in_millis)
        count(f"Jobs{outcome}")
        if outcome is CollectOutcome.SUCCEEDED:
            count("VideosModerated")

    return process_batch(event, context, handle_record)

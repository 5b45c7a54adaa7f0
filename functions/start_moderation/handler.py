"""Lambda entry point: SQS batch of S3 events (and modlake retries) → start_moderation logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.common.adapters.clients import client
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.adapters.messaging import SqsWorkQueue
from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.adapters.s3 import S3LakeObjects, S3MediaObjects
from functions.common.lake import LakeWriter
from functions.common.messages import parse_start_message
from functions.common.observability import count, entry_point, process_batch
from functions.common.settings import StartSettings
from functions.start_moderation.logic import StartDeps, StartRun

settings = StartSettings.from_env()  # a missing variable fails the cold start, not a batch


def build_deps(settings: StartSettings) -> StartDeps:
    """Adapters for the real AWS services, built once per container."""
    media = S3MediaObjects(client("s3"))  # reads the videos and writes their quarantine tags
    return StartDeps(
        store=DynamoVideoStore(client("dynamodb"), settings.videos_table),
        media=media,
        lake=LakeWriter(S3LakeObjects(client("s3"), settings.analytics_bucket)),
        moderation=RekognitionModeration(
            client("rekognition"), settings.rekognition_topic_arn, settings.rekognition_role_arn
        ),
        retries=SqsWorkQueue(client("sqs"), settings.start_queue_url),
        min_confidence=settings.min_confidence,
        video_suffixes=settings.video_suffixes,
        key_prefix=settings.key_prefix,
        job_limit=settings.job_limit,
        max_video_seconds=settings.max_video_seconds,
        quarantine=settings.quarantine,
        media_tags=media,
    )


deps = build_deps(settings)


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process one SQS batch and report failures per message."""
    run = StartRun(deps)

    def handle(record: SQSRecord) -> None:
        message = parse_start_message(record.body, settings.media_bucket)
        outcome = run.handle(message)
        count(outcome.metric)

    return process_batch(event, context, handle)

"""Lambda entry point: one S3 Batch Operations task (invocation schema 1.0 or 2.0) → queue_backfill logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent, S3BatchOperationResponse
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask

from functions.common.adapters.clients import client
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.adapters.retryable import is_transient
from functions.common.adapters.s3 import S3LakeObjects, S3MediaObjects
from functions.common.lake import LakeWriter
from functions.common.observability import count, entry_point, logger
from functions.common.settings import BackfillSettings
from functions.queue_backfill.logic import BackfillDeps, TaskAnswer, TaskResult, queue_task

settings = BackfillSettings.from_env()  # a missing variable fails the cold start, not a job


def build_deps(settings: BackfillSettings) -> BackfillDeps:
    """Adapters for the real AWS services, built once per container."""
    media = S3MediaObjects(client("s3"))  # reads the videos and writes their quarantine tags
    return BackfillDeps(
        store=DynamoVideoStore(client("dynamodb"), settings.videos_table),
        media=media,
        lake=LakeWriter(S3LakeObjects(client("s3"), settings.analytics_bucket)),
        media_bucket=settings.media_bucket,
        video_suffixes=settings.video_suffixes,
        key_prefix=settings.key_prefix,
        max_video_seconds=settings.max_video_seconds,
        quarantine=settings.quarantine,
        media_tags=media,
    )


deps = build_deps(settings)


def answer(task: S3BatchOperationTask) -> TaskAnswer:
    """The task's answer; throttling and other transient AWS errors ask S3 Batch Operations to retry it."""
    key = task.s3_key  # S3 Batch sends keys URL-encoded: decoded here, exactly once (unquote_plus)
    try:
        return queue_task(deps, task.s3_bucket, key, task.s3_version_id)
    except Exception as error:
        if is_transient(error):
            logger.warning("backfill task will be retried", key=key, error=str(error))
            return TaskAnswer(TaskResult.TEMPORARY_FAILURE, f"retrying: {error}")
        logger.exception("backfill task failed", bucket=task.s3_bucket, key=key)
        return TaskAnswer(TaskResult.PERMANENT_FAILURE, f"{type(error).__name__}: {error}")


@entry_point
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer S3 Batch Operations (one task per invocation): Succeeded, TemporaryFailure or PermanentFailure."""
    batch = S3BatchOperationEvent(event)
    response = S3BatchOperationResponse(batch.invocation_schema_version, batch.invocation_id, "PermanentFailure")
    for task in batch.tasks:
        outcome = answer(task)
        count(f"BackfillTasks{outcome.result}")
        response.add_result(task.build_task_batch_response(outcome.result.value, outcome.message[:1024]))
    return response.asdict()

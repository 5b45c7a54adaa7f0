"""One S3 Batch Operations task: screen a stored object version and let it wait for a slot in the backfill lane.

It never calls Rekognition: a backfill of 10,000 videos must not race uploads for slots or flood the job limit.
Slots go to waiting videos as they free (see start_moderation.logic), uploads first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aws_lambda_powertools import Logger

from functions.common.lake import LakeWriter
from functions.common.models import VideoRef, VideoSource, VideoStatus, object_version, utc_now
from functions.common.ports import MediaObjects, MediaTags, VideoStore
from functions.common.quarantine import QuarantineMode
from functions.start_moderation.screening import screen

logger = Logger(child=True)

WAITING_REASON = "backfill: waiting for a Rekognition slot"
NO_OUTCOME_STATUSES = frozenset({VideoStatus.SKIPPED, VideoStatus.FAILED})  # reported as the task's failure


class TaskResult(StrEnum):
    """S3 Batch Operations' result codes: final success, retry the task, or final failure."""

    SUCCEEDED = "Succeeded"
    TEMPORARY_FAILURE = "TemporaryFailure"
    PERMANENT_FAILURE = "PermanentFailure"


@dataclass(frozen=True)
class TaskAnswer:
    """A task's result code and the text S3 Batch Operations puts in the completion report."""

    result: TaskResult
    message: str


@dataclass
class BackfillDeps:
    """Everything queue_backfill's logic talks to (the screening part of start_moderation's)."""

    store: VideoStore
    media: MediaObjects
    lake: LakeWriter
    media_bucket: str
    video_suffixes: tuple[str, ...]
    key_prefix: str = ""
    max_video_seconds: float | None = None
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: the outcomes of videos it skips are tagged
    media_tags: MediaTags | None = None  # the media bucket's tags (needed when quarantine is on)
    clock: Callable[[], datetime] = utc_now


def queue_task(deps: BackfillDeps, bucket: str, key: str, version_id: str | None) -> TaskAnswer:
    """Screen one manifest object (its key already URL-decoded, once) and queue it in the backfill lane."""
    if bucket != deps.media_bucket:
        return _failed(f"s3://{bucket} is not this stack's media bucket ({deps.media_bucket})", bucket, key)
    video = VideoRef(bucket, key, object_version(version_id), etag=None, source=VideoSource.BACKFILL)
    if video.version_id is None:  # an unversioned object is identified by its ETag
        info = deps.media.head(video)
        if info is None:
            return _failed("the object no longer exists", bucket, key)
        video = VideoRef(bucket, key, None, info.etag, info.size, source=VideoSource.BACKFILL)

    current = deps.store.get(video.video_id)
    if current is not None and current.status is VideoStatus.QUEUED:  # waiting already: leave it exactly as it is
        return TaskAnswer(TaskResult.SUCCEEDED, f"already {current.status} (not moderated again)")
    screened = screen(deps, video)
    if screened.status in NO_OUTCOME_STATUSES:
        return _failed(screened.reason or f"{screened.status}", bucket, key)
    if screened.status is not None:
        return TaskAnswer(TaskResult.SUCCEEDED, f"already {screened.status} (not moderated again)")
    if deps.store.mark_queued(screened.video, 0, WAITING_REASON, deps.clock()):
        logger.info("backfill video waits for a slot", video_id=video.video_id, key=key, seconds=screened.seconds)
        return TaskAnswer(TaskResult.SUCCEEDED, "waiting for a Rekognition slot")
    current = deps.store.get(video.video_id)  # an upload of the same version got there first
    status = current.status if current else VideoStatus.QUEUED
    return TaskAnswer(TaskResult.SUCCEEDED, f"already {status} (not moderated again)")


def _failed(reason: str, bucket: str, key: str) -> TaskAnswer:
    logger.warning("backfill task failed", bucket=bucket, key=key, reason=reason)
    return TaskAnswer(TaskResult.PERMANENT_FAILURE, reason)

"""Decide what happens to an uploaded video: skip it, start its job, or let it wait for capacity."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from aws_lambda_powertools import Logger

from functions.common.containers import SNIFF_BYTES, looks_like_mp4_or_mov
from functions.common.errors import RekognitionBusy, VideoRejected
from functions.common.lake import LakeWriter, video_row
from functions.common.messages import ObjectCreated, ObjectDeleted, RetryStart, StartMessage, retry_start_message
from functions.common.models import (
    MAX_VIDEO_BYTES,
    SETTLED_STATUSES,
    VideoRecord,
    VideoRef,
    VideoStatus,
    client_request_token,
    job_tag,
    partition_date,
    utc_now,
)
from functions.common.ports import MAX_DELAY_SECONDS, MediaObjects, ModerationService, VideoStore, WorkQueue

NOT_STARTED_STATUSES = frozenset({VideoStatus.SKIPPED, VideoStatus.FAILED})  # outcomes without a job

logger = Logger(child=True)

JOB_LIMIT_BASE_DELAY = 30  # seconds; a slot frees only when a job (minutes long) ends
THROTTLE_BASE_DELAY = 2  # seconds; TPS throttling clears within seconds


class StartOutcome(StrEnum):
    """What start_moderation did with one message."""

    STARTED = "Started"
    QUEUED = "Queued"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    DUPLICATE = "Duplicate"
    DELETED = "Deleted"
    UNKNOWN_OBJECT = "UnknownObject"


def retry_delay(attempt: int, busy: RekognitionBusy, rng: Callable[[float, float], float]) -> int:
    """Capped exponential backoff with jitter; longer for the job limit than for TPS throttling."""
    base = JOB_LIMIT_BASE_DELAY if busy.is_job_limit else THROTTLE_BASE_DELAY
    ceiling = min(MAX_DELAY_SECONDS, base * 2 ** min(max(attempt - 1, 0), 10))
    return int(rng(ceiling / 2, ceiling))


@dataclass
class StartDeps:
    """Everything start_moderation's logic talks to."""

    store: VideoStore
    media: MediaObjects
    lake: LakeWriter
    moderation: ModerationService
    retries: WorkQueue
    min_confidence: float
    video_suffixes: tuple[str, ...]
    key_prefix: str = ""
    clock: Callable[[], datetime] = utc_now
    rng: Callable[[float, float], float] = field(default=random.uniform)


class StartRun:
    """One invocation's batch. Once Rekognition reports its job limit, later videos wait without calling it."""

    def __init__(self, deps: StartDeps) -> None:
        self.deps = deps
        self.job_limit_reached: RekognitionBusy | None = None

    def handle(self, message: StartMessage) -> StartOutcome:
        """Route one parsed queue message (a type the parser never produces is a bug: it fails the message)."""
        match message:
            case ObjectDeleted():
                return self.mark_deleted(message)
            case RetryStart():
                return self.start(message.video, attempt=message.attempt, kicked=message.kicked)
            case ObjectCreated():
                logger.info(
                    "upload received", bucket=message.video.bucket, key=message.video.key, reason=message.reason
                )
                return self.start(message.video)
            case _:
                raise TypeError(f"start_moderation cannot handle a {type(message).__name__}")

    # --- uploads -------------------------------------------------------------------------------
    def start(self, video: VideoRef, *, attempt: int = 0, kicked: bool = False) -> StartOutcome:
        """Skip, start or queue one exact object version; a settled video changes nothing."""
        deps = self.deps
        existing = deps.store.get(video.video_id)
        if existing and existing.status in SETTLED_STATUSES:
            if existing.job_id is None and existing.completed_at and existing.status in NOT_STARTED_STATUSES:
                # Rewrite the same row from the record: repairs a row lost between the two writes.
                self._write_not_started_row(
                    existing.video, existing.status, existing.status_reason, existing.completed_at
                )
            logger.info("video already handled", video_id=video.video_id, status=str(existing.status))
            return StartOutcome.DUPLICATE

        unsupported = self._unsupported_reason(video.key)
        if unsupported:
            return self._not_started(video, VideoStatus.SKIPPED, unsupported)
        info = deps.media.head(video)
        if info is None:
            return self._not_started(video, VideoStatus.SKIPPED, "the object version no longer exists")
        video = replace(video, size=info.size, etag=video.etag or info.etag)
        if info.size == 0:
            return self._not_started(video, VideoStatus.SKIPPED, "the object is empty")
        if info.size > MAX_VIDEO_BYTES:
            return self._not_started(video, VideoStatus.SKIPPED, f"{info.size} bytes is over Rekognition's 10 GB limit")
        if not looks_like_mp4_or_mov(deps.media.read_start(video, SNIFF_BYTES)):
            return self._not_started(video, VideoStatus.SKIPPED, "not an MP4 or MOV file (no ISO-BMFF box header)")

        if self.job_limit_reached is not None:
            return self._wait(video, attempt, kicked, self.job_limit_reached)
        try:
            job_id = deps.moderation.start(
                video,
                token=client_request_token(video),
                job_tag=job_tag(video),
                min_confidence=deps.min_confidence,
            )
        except RekognitionBusy as busy:
            if busy.is_job_limit:
                self.job_limit_reached = busy
            return self._wait(video, attempt, kicked, busy)
        except VideoRejected as rejected:
            status = VideoStatus.SKIPPED if rejected.skip else VideoStatus.FAILED
            return self._not_started(video, status, f"Rekognition {rejected.code}: {rejected.message}")

        if deps.store.mark_in_progress(video, job_id, deps.min_confidence, deps.clock()):
            logger.info("moderation job started", video_id=video.video_id, job_id=job_id, key=video.key)
            return StartOutcome.STARTED
        logger.info("job already recorded by another delivery", video_id=video.video_id, job_id=job_id)
        return StartOutcome.DUPLICATE

    def _unsupported_reason(self, key: str) -> str | None:
        lowered = key.lower()
        if not lowered.endswith(tuple(f".{s.lower()}" for s in self.deps.video_suffixes)):
            return f"file type not in {', '.join(self.deps.video_suffixes)}"
        if self.deps.key_prefix and not key.startswith(self.deps.key_prefix):
            return f"key is outside the prefix {self.deps.key_prefix!r}"
        return None

    def _wait(self, video: VideoRef, attempt: int, kicked: bool, busy: RekognitionBusy) -> StartOutcome:
        """Record QUEUED and schedule the next try; a kicked try leaves that to the video's own chain."""
        deps = self.deps
        if kicked:
            logger.info("no free slot for kicked video", video_id=video.video_id, code=busy.code)
            return StartOutcome.QUEUED
        next_attempt = attempt + 1
        if not deps.store.mark_queued(video, next_attempt, busy.code, deps.clock()):
            return StartOutcome.DUPLICATE
        delay = retry_delay(next_attempt, busy, deps.rng)
        deps.retries.send(retry_start_message(video, next_attempt), delay_seconds=delay)
        logger.info(
            "video waits for Rekognition capacity",
            video_id=video.video_id,
            key=video.key,
            code=busy.code,
            attempt=next_attempt,
            delay_seconds=delay,
        )
        return StartOutcome.QUEUED

    def _not_started(self, video: VideoRef, status: VideoStatus, reason: str) -> StartOutcome:
        """Record a video that gets no job (SKIPPED or FAILED): DynamoDB first, then its Parquet row.

        The row's dt and completed_at are the recorded outcome time, so the outcome lands in the
        partition of the day it happened; a replay rewrites the same row from the record.
        """
        now = self.deps.clock()
        if not self.deps.store.mark_not_started(video, status, reason, now):
            return StartOutcome.DUPLICATE  # a concurrent delivery recorded it and writes the row
        self._write_not_started_row(video, status, reason, now)
        logger.warning("video not moderated", video_id=video.video_id, key=video.key, status=str(status), reason=reason)
        return StartOutcome.SKIPPED if status is VideoStatus.SKIPPED else StartOutcome.FAILED

    def _write_not_started_row(self, video: VideoRef, status: VideoStatus, reason: str | None, at: datetime) -> None:
        record = VideoRecord(video=video, status=status, status_since=at, updated_at=at)
        row = video_row(
            record,
            status,
            reason=reason,
            job_id=None,
            summary=None,
            metadata=None,
            model_version=None,
            completed_at=at,
        )
        self.deps.lake.write_video(partition_date(at), f"video-{video.video_id}", row)

    # --- deletions -----------------------------------------------------------------------------
    def mark_deleted(self, event: ObjectDeleted) -> StartOutcome:
        """Mark the deleted object's videos DELETED; Parquet history is never touched."""
        deps = self.deps
        records = deps.store.find_by_object(event.bucket, event.key)
        if event.version_id and event.deletion_type == "Permanently Deleted":
            records = [r for r in records if r.video.version_id == event.version_id]
        changed = [
            r for r in records if r.status is not VideoStatus.DELETED and deps.store.mark_deleted(r, deps.clock())
        ]
        if not records:
            logger.info("deleted object was never moderated", bucket=event.bucket, key=event.key)
            return StartOutcome.UNKNOWN_OBJECT
        logger.info("object deleted", bucket=event.bucket, key=event.key, videos_marked=len(changed))
        return StartOutcome.DELETED if changed else StartOutcome.DUPLICATE

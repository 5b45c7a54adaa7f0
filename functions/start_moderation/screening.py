"""Before any job is paid for: is this object version a video modlake should moderate, and has it been already?

Both ways a video arrives share these checks: start_moderation (an upload's event) and queue_backfill (an S3 Batch
Operations task). A video that fails them gets its SKIPPED outcome recorded (DynamoDB, then its Parquet row, then,
with quarantine on, its moderation tag).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from aws_lambda_powertools import Logger

from functions.common.containers import NotAMovie, read_movie_header
from functions.common.lake import LakeWriter, video_row
from functions.common.models import (
    MAX_VIDEO_BYTES,
    MAX_VIDEO_SECONDS,
    SETTLED_STATUSES,
    VideoRecord,
    VideoRef,
    VideoStatus,
    partition_date,
)
from functions.common.ports import MediaObjects, MediaTags, VideoStore
from functions.common.quarantine import QuarantineMode, outcome_of, tag_outcome

NOT_STARTED_STATUSES = frozenset({VideoStatus.SKIPPED, VideoStatus.FAILED})  # outcomes without a job

logger = Logger(child=True)


class ScreeningDeps(Protocol):
    """What screening reads and writes (StartDeps and BackfillDeps both have it)."""

    store: VideoStore
    media: MediaObjects
    lake: LakeWriter
    video_suffixes: tuple[str, ...]
    key_prefix: str
    max_video_seconds: float | None
    quarantine: QuarantineMode
    media_tags: MediaTags | None

    @property
    def clock(self) -> Callable[[], datetime]: ...


@dataclass(frozen=True)
class Screened:
    """The verdict on one object version: a video to moderate, or the status it already has or was just given."""

    video: VideoRef  # with its size and ETag from HeadObject once read
    status: VideoStatus | None = None  # None: moderate it; else already handled or just SKIPPED/FAILED
    reason: str | None = None
    recorded: bool = False  # True when this call recorded the outcome (False: it was there already)
    seconds: float | None = None  # the movie header's duration, when read

    @property
    def to_moderate(self) -> bool:
        return self.status is None


def screen(deps: ScreeningDeps, video: VideoRef) -> Screened:
    """Check an object version the way Rekognition would, cheaply: settled already, type, size, header, duration."""
    existing = deps.store.get(video.video_id)
    if existing and existing.status in SETTLED_STATUSES:
        if existing.job_id is None and existing.completed_at and existing.status in NOT_STARTED_STATUSES:
            # Rewrite the same row and tag from the record: repairs a row or tag lost after the record was written.
            write_not_started_row(deps, existing.video, existing.status, existing.status_reason, existing.completed_at)
            tag_outcome(deps.media_tags, existing.video, outcome_of(existing.status), deps.quarantine)
        logger.info("video already handled", video_id=video.video_id, status=str(existing.status))
        return Screened(video, existing.status, existing.status_reason)

    unsupported = unsupported_reason(video.key, deps.video_suffixes, deps.key_prefix)
    if unsupported:
        return not_started(deps, video, VideoStatus.SKIPPED, unsupported)
    info = deps.media.head(video)
    if info is None:
        return not_started(deps, video, VideoStatus.SKIPPED, "the object version no longer exists")
    video = replace(video, size=info.size, etag=video.etag or info.etag)
    if info.size == 0:
        return not_started(deps, video, VideoStatus.SKIPPED, "the object is empty")
    if info.size > MAX_VIDEO_BYTES:
        return not_started(deps, video, VideoStatus.SKIPPED, f"{info.size} bytes is over Rekognition's 10 GB limit")
    try:
        header = read_movie_header(lambda offset, length: deps.media.read_range(video, offset, length), info.size)
    except NotAMovie as error:
        return not_started(deps, video, VideoStatus.SKIPPED, str(error))
    too_long = duration_reason(header.seconds, deps.max_video_seconds)
    if too_long:
        return not_started(deps, video, VideoStatus.SKIPPED, too_long)
    return Screened(video, seconds=header.seconds)


def screen_again(deps: ScreeningDeps, video: VideoRef) -> Screened:
    """A waiting video's second look before its start: the record only, since its exact version passed every
    media check when it queued (a deletion since then marks it DELETED); a video without a record gets them all."""
    existing = deps.store.get(video.video_id)
    if existing is None:
        return screen(deps, video)
    if existing.status is VideoStatus.QUEUED:
        return Screened(existing.video)
    logger.info("video already handled", video_id=video.video_id, status=str(existing.status))
    return Screened(video, existing.status, existing.status_reason)


def unsupported_reason(key: str, suffixes: tuple[str, ...], key_prefix: str) -> str | None:
    """Why a key is not one modlake moderates (suffix in any case, inside the prefix); None when it is."""
    if not key.lower().endswith(tuple(f".{s.lower()}" for s in suffixes)):
        return f"file type not in {', '.join(suffixes)}"
    if key_prefix and not key.startswith(key_prefix):
        return f"key is outside the prefix {key_prefix!r}"
    return None


def duration_reason(seconds: float | None, policy_seconds: float | None) -> str | None:
    """Why a video is too long to pay for: Rekognition's 6 hours, or the operator's max_video_minutes policy."""
    if seconds is None:
        return None
    minutes = seconds / 60
    if seconds > MAX_VIDEO_SECONDS:
        return f"the video lasts {minutes:.1f} minutes, over Rekognition's 6-hour limit"
    if policy_seconds is not None and seconds > policy_seconds:
        return f"the video lasts {minutes:.1f} minutes, over the max_video_minutes policy ({policy_seconds / 60:g})"
    return None


def not_started(deps: ScreeningDeps, video: VideoRef, status: VideoStatus, reason: str) -> Screened:
    """Record a video that gets no job (SKIPPED or FAILED): DynamoDB first, then its Parquet row, then its tag.

    The row's dt and completed_at are the recorded outcome time, so the outcome lands in the partition of the
    day it happened; a replay rewrites the same row and tag from the record.
    """
    now = deps.clock()
    if not deps.store.mark_not_started(video, status, reason, now):
        current = deps.store.get(video.video_id)  # a concurrent delivery recorded it and writes the row
        return Screened(video, current.status if current else status, reason)
    write_not_started_row(deps, video, status, reason, now)
    tag_outcome(deps.media_tags, video, outcome_of(status), deps.quarantine)
    logger.warning("video not moderated", video_id=video.video_id, key=video.key, status=str(status), reason=reason)
    return Screened(video, status, reason, recorded=True)


def write_not_started_row(
    deps: ScreeningDeps, video: VideoRef, status: VideoStatus, reason: str | None, at: datetime
) -> None:
    """The moderation_videos row of a video that got no job, under the day of its outcome."""
    record = VideoRecord(video=video, status=status, status_since=at, updated_at=at)
    row = video_row(
        record, status, reason=reason, job_id=None, summary=None, metadata=None, model_version=None, completed_at=at
    )
    deps.lake.write_video(partition_date(at), f"video-{video.video_id}", row)

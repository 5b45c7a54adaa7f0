"""Ports: what the logic needs from the outside world. AWS adapters and in-memory fakes implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from functions.common.models import (
    CollectCheckpoint,
    Detection,
    ObjectInfo,
    ResultsPage,
    TagWrite,
    VideoMetadata,
    VideoRecord,
    VideoRef,
    VideoStatus,
    VideoSummary,
)
from functions.common.verdicts import Verdict
from queries import SqlFile


class LabelWriter(Protocol):
    """Writes a job's detections in as few requests as the store allows."""

    def add(self, page: Sequence[Detection]) -> None: ...

    def flush(self) -> int:
        """Write everything queued; returns the write requests made so far."""
        ...


class VideoStore(Protocol):
    """Video summaries and labels (DynamoDB)."""

    def get(self, video_id: str) -> VideoRecord | None: ...

    def find_by_job(self, job_id: str) -> VideoRecord | None: ...

    def find_by_object(self, bucket: str, key: str) -> list[VideoRecord]: ...

    def oldest_in_status(self, status: VideoStatus, limit: int) -> list[VideoRecord]: ...

    def count_in_status(self, status: VideoStatus) -> int:
        """How many videos are in this status (modlake's own running jobs, for IN_PROGRESS)."""
        ...

    def next_waiting(self, limit: int) -> list[VideoRecord]:
        """The QUEUED videos that get the next free Rekognition slots: uploads oldest first, then backfill."""
        ...

    def mark_queued(self, video: VideoRef, attempts: int, reason: str, now: datetime) -> bool:
        """QUEUED unless the video has moved on; False when it had."""
        ...

    def claim_waiting(self, video_id: str, now: datetime, hold_seconds: int) -> bool:
        """Claim a QUEUED video for a kicked start unless another claim younger than hold_seconds holds it."""
        ...

    def release_claim(self, video_id: str) -> bool:
        """Drop a QUEUED video's claim (its kicked start was refused), so the next free slot can take it."""
        ...

    def mark_in_progress(self, video: VideoRef, job_id: str, min_confidence: float, now: datetime) -> bool:
        """IN_PROGRESS unless the video has moved on; False when it had."""
        ...

    def mark_not_started(self, video: VideoRef, status: VideoStatus, reason: str, now: datetime) -> bool:
        """SKIPPED or FAILED before any job, unless the video has moved on; False when it had."""
        ...

    def label_writer(self, video_id: str) -> LabelWriter:
        """A buffered writer for one video's detections."""
        ...

    def save_checkpoint(self, video_id: str, checkpoint: CollectCheckpoint, expected_chunks: int) -> bool:
        """Store progress if nobody else advanced it meanwhile; False when somebody did."""
        ...

    def clear_checkpoint(self, video_id: str) -> bool:
        """Forget a running job's progress (to collect it again); False when the job is not running."""
        ...

    def complete(
        self,
        record: VideoRecord,
        status: VideoStatus,
        *,
        reason: str | None,
        summary: VideoSummary | None,
        metadata: VideoMetadata | None,
        model_version: str | None,
        completed_at: datetime,
        now: datetime,
    ) -> bool:
        """Settle a job's video (SUCCEEDED or FAILED) once; False when it was already settled."""
        ...

    def mark_deleted(self, record: VideoRecord, now: datetime) -> bool: ...


class ReviewStore(Protocol):
    """Reviewers' side of the videos table: lookups, the review queue and the append-only verdict history."""

    def get(self, video_id: str) -> VideoRecord | None: ...

    def find_by_object(self, bucket: str, key: str) -> list[VideoRecord]: ...

    def review_queue(self, limit: int) -> list[VideoRecord]:
        """Flagged videos no verdict has reviewed yet, oldest flag first."""
        ...

    def find_verdict(self, video_id: str, verdict_id: str) -> Verdict | None:
        """The stored verdict with this id (a replayed request finds the verdict its first try recorded)."""
        ...

    def add_verdict(self, verdict: Verdict) -> bool:
        """Append the verdict to the video's history unless it is there already; False when it was."""
        ...

    def apply_verdict(self, verdict: Verdict) -> bool:
        """Make it the summary's latest verdict (unless a newer one is) and take the video off the review queue."""
        ...

    def verdicts(self, video_id: str) -> list[Verdict]:
        """A video's verdicts, oldest first."""
        ...


class MediaTags(Protocol):
    """Object tags of media object versions (S3): the quarantine's moderation tag."""

    def put_tag(self, video: VideoRef, key: str, value: str) -> TagWrite:
        """Set one tag on the exact version, keeping its other tags; no write when it holds the value already."""
        ...


class MediaObjects(Protocol):
    """The media bucket (S3)."""

    def head(self, video: VideoRef) -> ObjectInfo | None:
        """HeadObject of the exact version; None when it no longer exists."""
        ...

    def read_start(self, video: VideoRef, length: int) -> bytes:
        """The first bytes of the exact version (to sniff the container)."""
        ...

    def read_range(self, video: VideoRef, offset: int, length: int) -> bytes:
        """Up to `length` bytes of the exact version from `offset` (fewer at the end; b"" past it): one ranged GET."""
        ...


class LakeObjects(Protocol):
    """The analytics bucket (S3)."""

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, keys: Sequence[str]) -> None: ...


class ModerationService(Protocol):
    """Rekognition Video content moderation."""

    def start(self, video: VideoRef, *, token: str, job_tag: str, min_confidence: float) -> str:
        """Start a job (or get the existing one for this token); returns the JobId."""
        ...

    def results_page(
        self, job_id: str, *, next_token: str | None, max_results: int, aggregate_by: str
    ) -> ResultsPage: ...


MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds: a WorkQueue delays a message this long at most


class WorkQueue(Protocol):
    """An SQS queue modlake sends its own messages to (delays capped at MAX_DELAY_SECONDS)."""

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None: ...


class EventPublisher(Protocol):
    """EventBridge: the "Video Moderated" integration event."""

    def video_moderated(self, detail: dict[str, Any]) -> None: ...


class QueryRunner(Protocol):
    """Runs named SQL (Athena in AWS) and returns typed rows."""

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        """Run the queries (concurrently where possible); rows per query, in request order."""
        ...


class DigestNotifier(Protocol):
    """Delivers the plain-text digest (SNS email subscriptions in AWS)."""

    def publish(self, subject: str, message: str) -> str:
        """Returns the delivery's message id."""
        ...


class HtmlMailer(Protocol):
    """Delivers the HTML digest from a verified sender (SES in AWS)."""

    def send(self, subject: str, html: str, text: str) -> str:
        """Returns the delivery's message id."""
        ...


class OncePerKey(Protocol):
    """Runs work at most once per key and remembers its result (Powertools idempotency in AWS)."""

    def run_once(self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """The work's result, and whether this call ran it (False: an earlier call's result)."""
        ...

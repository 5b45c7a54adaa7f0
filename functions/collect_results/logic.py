"""Collect a finished job: every results page, the video's summary, Parquet rows and the integration event."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger

from functions.common.display import s3_console_url, video_time
from functions.common.errors import ModlakeError, PaginationExpired, RekognitionBusy, UnknownJob
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.lake import LakeWriter, label_rows, video_row
from functions.common.messages import (
    CollectMessage,
    ContinueCollect,
    completion_message,
    continue_collect_message,
    retry_start_message,
)
from functions.common.models import (
    CollectCheckpoint,
    Detection,
    JobNotification,
    ResultsPage,
    VideoMetadata,
    VideoRecord,
    VideoStatus,
    VideoSummary,
    iso,
    partition_date,
    utc_now,
)
from functions.common.observability import count
from functions.common.ports import EventPublisher, MediaTags, ModerationService, VideoStore, WorkQueue
from functions.common.quarantine import QuarantineMode, outcome_of, tag_outcome

logger = Logger(child=True)

PAGE_SIZE = 1000  # GetContentModeration's maximum
CHECKPOINT_RESERVE_MS = 120_000  # stop fetching with this much Lambda time left, and resume
SLOTS_FREED_PER_JOB = 1
# Several jobs can end at once; each claims a different waiting video. A claim lapses after this long,
# so a video whose kicked try lost the slot to a fresh upload can be kicked again by a later job.
KICK_CLAIM_SECONDS = 60
THROTTLED_RETRY_SECONDS = (30.0, 120.0)  # jittered delay before a throttled collection tries again
KICK_LOOKAHEAD = 10  # waiting videos examined per freed slot (others may be claimed already)
# The summary columns a "Video Moderated" event carries, by their name in the event: an alert acts on the
# flagged categories, so they are its "categories"; every category seen is "detected_categories". event_detail adds
# what an alert shows without another lookup: "first_flagged" (mm:ss) and the object version's "console_url".
EVENT_SUMMARY_NAMES = {
    "flagged": "flagged",
    "flagged_categories": "categories",
    "categories": "detected_categories",
    "max_confidence": "max_confidence",
    "first_flagged_ms": "first_flagged_ms",
    "label_count": "label_count",
}


class CollectOutcome(StrEnum):
    """What collect_results did with one message."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CHECKPOINTED = "Checkpointed"
    DUPLICATE = "Duplicate"
    THROTTLED = "Throttled"


class JobNotReady(ModlakeError):
    """Rekognition says the job is not finished although its completion arrived; retried later."""


@dataclass
class CollectDeps:
    """Everything collect_results' logic talks to."""

    store: VideoStore
    lake: LakeWriter
    moderation: ModerationService
    events: EventPublisher
    start_queue: WorkQueue
    collect_queue: WorkQueue
    policy: FlagPolicy
    aggregate_by: str = "TIMESTAMPS"
    clock: Callable[[], datetime] = utc_now
    page_size: int = PAGE_SIZE
    checkpoint_reserve_ms: int = CHECKPOINT_RESERVE_MS
    rng: Callable[[float, float], float] = random.uniform
    region: str = "us-east-1"  # the function's own: the region of the console links in its events
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: each outcome is tagged on the video's version
    media_tags: MediaTags | None = None  # the media bucket's tags (needed when quarantine is on)


def handle(message: CollectMessage, deps: CollectDeps, time_left_ms: Callable[[], int]) -> CollectOutcome:
    """Route a completion notification or a continuation; when Rekognition throttles, try again later.

    A throttled read is re-sent as a fresh, delayed message instead of failing, so a busy hour can
    never push completions into the DLQ (pages already stored are simply written again).
    """
    try:
        return _route(message, deps, time_left_ms)
    except RekognitionBusy as busy:
        delay = int(deps.rng(*THROTTLED_RETRY_SECONDS))
        body = (
            continue_collect_message(message.job_id, message.video_id)
            if isinstance(message, ContinueCollect)
            else completion_message(message)
        )
        deps.collect_queue.send(body, delay_seconds=delay)
        logger.warning("Rekognition throttled; collecting later", job_id=message.job_id, code=busy.code, delay=delay)
        return CollectOutcome.THROTTLED


def _route(message: CollectMessage, deps: CollectDeps, time_left_ms: Callable[[], int]) -> CollectOutcome:
    if isinstance(message, ContinueCollect):
        record = deps.store.get(message.video_id)  # consistent read: the checkpoint was written just now
        if record is None or record.job_id != message.job_id:
            raise UnknownJob(f"continuation for job {message.job_id} of unknown video {message.video_id}")
        if record.checkpoint is None:
            logger.info("continuation for a job already collected", job_id=message.job_id)
            return CollectOutcome.DUPLICATE
        return _collect_pages(record, message.job_id, record.checkpoint.completed_at, deps, time_left_ms)
    return collect_job(message, deps, time_left_ms)


def _find_video(note: JobNotification, store: VideoStore) -> VideoRecord:
    """The video of a job, by JobId (authoritative) with JobTag as a cross-check; never by the API field."""
    indexed = store.find_by_job(note.job_id)
    record = store.get(indexed.video_id) if indexed else None  # the index is eventually consistent; the item is not
    if record is None and note.job_tag:
        tagged = store.get(note.job_tag)
        if tagged is not None and tagged.job_id == note.job_id:
            record = tagged
    if record is None:
        raise UnknownJob(f"no video has job {note.job_id} (tag {note.job_tag!r}); retrying in case its start is late")
    if note.job_tag and note.job_tag != record.video_id:
        logger.warning("job tag does not match the video", job_id=note.job_id, job_tag=note.job_tag)
    return record


def collect_job(note: JobNotification, deps: CollectDeps, time_left_ms: Callable[[], int]) -> CollectOutcome:
    """Handle Rekognition's completion message for one job."""
    record = _find_video(note, deps.store)
    if record.status not in (VideoStatus.IN_PROGRESS, VideoStatus.DELETED) or record.completed_at is not None:
        logger.info("job already collected", job_id=note.job_id, status=str(record.status))
        return CollectOutcome.DUPLICATE
    if note.status != "SUCCEEDED":
        return _record_failure(record, note, deps)
    if record.checkpoint is not None:  # a redelivered completion for a job being collected in chunks
        return _collect_pages(record, note.job_id, record.checkpoint.completed_at, deps, time_left_ms)
    return _collect_pages(record, note.job_id, note.timestamp, deps, time_left_ms)


@dataclass
class JobProgress:
    """Where one collect job is within this invocation: its video, what its pages added up to, what is staged.

    The persisted part is the CollectCheckpoint it builds; everything else lives for one invocation.
    """

    record: VideoRecord
    job_id: str
    completed_at: datetime
    classifier: DetectionClassifier  # numbers detections on from the checkpoint's count
    summary: VideoSummary = field(default_factory=VideoSummary)
    metadata: VideoMetadata = field(default_factory=VideoMetadata)
    model_version: str | None = None
    staged: int = 0  # label chunks parked in the lake by earlier invocations
    detections: list[Detection] = field(default_factory=list)  # this invocation's, not yet in the lake

    @classmethod
    def resume(cls, record: VideoRecord, job_id: str, completed_at: datetime, policy: FlagPolicy) -> JobProgress:
        """Pick the job up where its stored checkpoint left it, or at its first page."""
        checkpoint = record.checkpoint
        if checkpoint is None:
            return cls(record, job_id, completed_at, DetectionClassifier(policy))
        return cls(
            record,
            job_id,
            completed_at,
            DetectionClassifier(policy, start_index=checkpoint.detections_done),
            summary=checkpoint.summary,
            metadata=checkpoint.metadata,
            model_version=checkpoint.model_version,
            staged=checkpoint.chunks_written,
        )

    def add(self, page: ResultsPage) -> list[Detection]:
        """Classify one results page into the summary and keep its stream facts; returns its detections."""
        detections = self.classifier.classify(page.detections, self.summary)
        self.detections.extend(detections)
        self.metadata, self.model_version = page.metadata, page.model_version or self.model_version
        return detections

    def label_rows(self) -> list[dict[str, Any]]:
        """This invocation's moderation_labels rows."""
        return label_rows(self.record, self.job_id, self.detections, self.model_version, self.completed_at)

    def checkpoint(self, next_token: str) -> CollectCheckpoint:
        """What the next invocation resumes from once this one's rows are staged as one more chunk."""
        return CollectCheckpoint(
            next_token=next_token,
            chunks_written=self.staged + 1,
            detections_done=self.classifier.next_index,
            summary=self.summary,
            metadata=self.metadata,
            model_version=self.model_version,
            completed_at=self.completed_at,
        )


def _record_failure(record: VideoRecord, note: JobNotification, deps: CollectDeps) -> CollectOutcome:
    """FAILED/ERROR: keep Rekognition's status message on the video and in the lake."""
    page = deps.moderation.results_page(note.job_id, next_token=None, max_results=1, aggregate_by=deps.aggregate_by)
    reason = page.status_message or f"Rekognition reported {note.status}"
    progress = JobProgress(
        record,
        note.job_id,
        note.timestamp,
        DetectionClassifier(deps.policy),
        metadata=page.metadata,
        model_version=page.model_version,
    )
    _finish(progress, VideoStatus.FAILED, reason, deps)
    logger.warning("moderation job failed", job_id=note.job_id, video_id=record.video_id, reason=reason)
    return CollectOutcome.FAILED


def _collect_pages(
    record: VideoRecord, job_id: str, completed_at: datetime, deps: CollectDeps, time_left_ms: Callable[[], int]
) -> CollectOutcome:
    """Read every page; a checkpoint whose NextToken expired (tokens live 24 h) restarts from the first page."""
    try:
        return _read_pages(record, job_id, completed_at, deps, time_left_ms)
    except PaginationExpired:
        if record.checkpoint is None:
            raise
        logger.warning("results token expired; collecting the job again from its first page", job_id=job_id)
        deps.lake.discard_staged(job_id, record.checkpoint.chunks_written)
        if not deps.store.clear_checkpoint(record.video_id):
            return CollectOutcome.DUPLICATE
        record.checkpoint = None
        return _read_pages(record, job_id, completed_at, deps, time_left_ms)


def _read_pages(
    record: VideoRecord, job_id: str, completed_at: datetime, deps: CollectDeps, time_left_ms: Callable[[], int]
) -> CollectOutcome:
    """Read every page (NextToken loop: there is no paginator), checkpointing before time runs out."""
    progress = JobProgress.resume(record, job_id, completed_at, deps.policy)
    next_token = record.checkpoint.next_token if record.checkpoint else None
    first_page = record.checkpoint is None
    labels = deps.store.label_writer(record.video_id)

    while True:
        page = deps.moderation.results_page(
            job_id, next_token=next_token, max_results=deps.page_size, aggregate_by=deps.aggregate_by
        )
        if first_page and page.job_status != "SUCCEEDED":
            raise JobNotReady(f"job {job_id} is {page.job_status} although its completion arrived")
        first_page = False
        labels.add(progress.add(page))
        next_token = page.next_token
        if not next_token:
            break
        if time_left_ms() < deps.checkpoint_reserve_ms:
            labels.flush()
            return _checkpoint(progress, next_token, deps)

    labels.flush()
    _finish(progress, VideoStatus.SUCCEEDED, None, deps)
    logger.info(
        "moderation results collected",
        job_id=job_id,
        video_id=record.video_id,
        labels=progress.summary.label_count,
        flagged=progress.summary.flagged,
    )
    return CollectOutcome.SUCCEEDED


def _checkpoint(progress: JobProgress, next_token: str, deps: CollectDeps) -> CollectOutcome:
    """Park this invocation's rows, store the NextToken and hand the rest to a fresh invocation."""
    job_id, video_id = progress.job_id, progress.record.video_id
    deps.lake.stage(job_id, progress.staged, progress.label_rows())
    checkpoint = progress.checkpoint(next_token)
    if not deps.store.save_checkpoint(video_id, checkpoint, expected_chunks=progress.staged):
        logger.warning("another invocation advanced this job; stopping", job_id=job_id)
        return CollectOutcome.DUPLICATE
    deps.collect_queue.send(continue_collect_message(job_id, video_id))
    logger.info(
        "collection checkpointed",
        job_id=job_id,
        chunks=checkpoint.chunks_written,
        detections=checkpoint.detections_done,
    )
    return CollectOutcome.CHECKPOINTED


def _finish(progress: JobProgress, status: VideoStatus, reason: str | None, deps: CollectDeps) -> None:
    """Write the lake objects, tag the version, publish the event, settle the video, then free a waiting video's slot.

    Only a SUCCEEDED job has results: a failed one gets no labels object and no summary. The tag is written before
    the video is settled, so a failed tag write retries the message and a replay writes the same tag.
    """
    record, job_id, completed_at = progress.record, progress.job_id, progress.completed_at
    dt = partition_date(completed_at)
    summary = None
    if status is VideoStatus.SUCCEEDED:
        summary = progress.summary
        deps.lake.write_labels(dt, job_id, progress.label_rows(), staged_chunks=progress.staged)
    row = video_row(
        record,
        status,
        reason=reason,
        job_id=job_id,
        summary=summary,
        metadata=progress.metadata,
        model_version=progress.model_version,
        completed_at=completed_at,
    )
    deps.lake.write_video(dt, job_id, row)
    tag_outcome(deps.media_tags, record.video, outcome_of(status, summary), deps.quarantine)
    deps.events.video_moderated(event_detail(record, job_id, status, reason, summary, completed_at, deps.region))
    settled = deps.store.complete(
        record,
        status,
        reason=reason,
        summary=summary,
        metadata=progress.metadata,
        model_version=progress.model_version,
        completed_at=completed_at,
        now=deps.clock(),
    )
    deps.lake.discard_staged(job_id, progress.staged)
    if settled and summary is not None and summary.flagged:
        count("VideosFlagged")
    if not settled:
        logger.info("video was settled by another delivery", job_id=job_id)
    release_waiting_videos(deps.store, deps.start_queue, SLOTS_FREED_PER_JOB, deps.clock())


def release_waiting_videos(store: VideoStore, start_queue: WorkQueue, slots: int, now: datetime) -> int:
    """A job ended, so a Rekognition slot is free: give it to the next waiting video (uploads first) at once.

    Each kicked video is claimed first, so jobs that end together (and fill passes) take different videos.
    """
    released: list[str] = []
    for record in store.next_waiting(slots + KICK_LOOKAHEAD):
        if len(released) == slots:
            break
        if store.claim_waiting(record.video_id, now, KICK_CLAIM_SECONDS):
            start_queue.send(retry_start_message(record.video, record.attempts, kicked=True))
            released.append(record.video_id)
    if released:
        logger.info("released waiting videos", video_ids=released)
    return len(released)


def event_detail(
    record: VideoRecord,
    job_id: str,
    status: VideoStatus,
    reason: str | None,
    summary: VideoSummary | None,
    completed_at: datetime,
    region: str,
) -> dict[str, Any]:
    """The "Video Moderated" event detail: enough for an alert without another lookup."""
    video = record.video
    columns = (summary or VideoSummary()).columns()
    first_flagged_ms = columns["first_flagged_ms"]
    return (
        {
            "video_id": video.video_id,
            "bucket": video.bucket,
            "key": video.key,
            "version_id": video.version_id,
            "s3_uri": video.s3_uri,
            "source": str(video.source),
            "job_id": job_id,
            "status": str(status),
            "status_reason": reason,
        }
        | {name: columns[column] for column, name in EVENT_SUMMARY_NAMES.items()}
        | {
            "first_flagged": None if first_flagged_ms is None else video_time(first_flagged_ms),
            "console_url": s3_console_url(region, video.bucket, video.key, video.version_id),
            "completed_at": iso(completed_at),
        }
    )

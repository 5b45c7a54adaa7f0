"""Decide what happens to a video: skip it, start its job, or let it wait in its lane for a free slot.

Rekognition runs at most `job_limit` jobs per account and has no queue of its own. A video that finds every slot
busy waits in DynamoDB (status QUEUED, in the upload or the backfill lane) instead of retrying its start: slots are
given out as they free, uploads first — by collect_results when one of modlake's jobs ends (one kicked video per
ended job) and by a fill pass every minute (the "tick", which also finds slots freed by other workloads in the
account). No waiting video has a message in any queue, so none can reach a DLQ for waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from aws_lambda_powertools import Logger

from functions.common.errors import RekognitionBusy, VideoRejected
from functions.common.lake import LakeWriter
from functions.common.messages import (
    FillSlots,
    ObjectCreated,
    ObjectDeleted,
    RetryStart,
    StartMessage,
    retry_start_message,
)
from functions.common.models import VideoRef, VideoStatus, client_request_token, job_tag, utc_now
from functions.common.observability import count
from functions.common.ports import (
    MAX_DELAY_SECONDS,
    MediaObjects,
    MediaTags,
    ModerationService,
    VideoStore,
    WorkQueue,
)
from functions.common.quarantine import QuarantineMode
from functions.start_moderation.screening import not_started, screen, screen_again

logger = Logger(child=True)

DEFAULT_JOB_LIMIT = 20  # Rekognition's default concurrent stored-video jobs per account
THROTTLE_BASE_DELAY = 2  # seconds; TPS throttling clears within seconds
# A fill pass claims a waiting video before starting it, so passes and kicks running together take different
# videos; a claim lapses after this long (a claimed video whose start was refused can be taken again).
CLAIM_SECONDS = 60
LOOKAHEAD = 10  # extra waiting videos a pass examines (others may be claimed already)
SLOTS_BUSY = "SlotsBusy"  # the status_reason of a video that waits because modlake counts every slot in use


class StartOutcome(StrEnum):
    """What start_moderation did with one message."""

    STARTED = "Started"
    QUEUED = "Queued"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    DUPLICATE = "Duplicate"
    DELETED = "Deleted"
    UNKNOWN_OBJECT = "UnknownObject"
    FILL_PASS = "FillPass"

    @property
    def metric(self) -> str:
        """The business metric one such message counts: Videos<outcome>, or FillPasses for the tick's pass."""
        return "FillPasses" if self is StartOutcome.FILL_PASS else f"Videos{self.value}"


def retry_delay(attempt: int, rng: Callable[[float, float], float]) -> int:
    """Capped exponential backoff with jitter for a start refused by TPS throttling."""
    ceiling = min(MAX_DELAY_SECONDS, THROTTLE_BASE_DELAY * 2 ** min(max(attempt - 1, 0), 10))
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
    job_limit: int = DEFAULT_JOB_LIMIT
    max_video_seconds: float | None = None  # the max_video_minutes policy; None: only Rekognition's 6 hours
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: outcomes decided here are tagged on the version
    media_tags: MediaTags | None = None  # the media bucket's tags (needed when quarantine is on)
    clock: Callable[[], datetime] = utc_now
    rng: Callable[[float, float], float] = field(default=random.uniform)


class StartRun:
    """One invocation's batch: it counts modlake's running jobs once, and after a refusal calls Rekognition no more."""

    def __init__(self, deps: StartDeps) -> None:
        self.deps = deps
        self.job_limit_reached: RekognitionBusy | None = None
        self._free_slots: int | None = None  # job_limit minus modlake's IN_PROGRESS videos, counted when needed

    def handle(self, message: StartMessage) -> StartOutcome:
        """Route one parsed queue message (a type the parser never produces is a bug: it fails the message)."""
        match message:
            case ObjectDeleted():
                return self.mark_deleted(message)
            case FillSlots():
                return self.fill_slots()
            case RetryStart():
                return self.start(message.video, attempt=message.attempt, kicked=message.kicked)
            case ObjectCreated():
                logger.info(
                    "upload received", bucket=message.video.bucket, key=message.video.key, reason=message.reason
                )
                return self.start(message.video)
            case _:
                raise TypeError(f"start_moderation cannot handle a {type(message).__name__}")

    # --- one video -----------------------------------------------------------------------------
    def start(self, video: VideoRef, *, attempt: int = 0, kicked: bool = False) -> StartOutcome:
        """Skip, start or queue one exact object version; a settled video changes nothing.

        A kicked start (a slot was just freed for this waiting video) asks Rekognition whatever modlake's count
        says; any other start waits without a call when modlake already runs `job_limit` jobs.
        """
        deps = self.deps
        # A retry or a kick is for a video that passed screening when it queued: no second HeadObject and header.
        screened = screen_again(deps, video) if attempt or kicked else screen(deps, video)
        if not screened.to_moderate:
            if not screened.recorded:
                return StartOutcome.DUPLICATE
            return StartOutcome.SKIPPED if screened.status is VideoStatus.SKIPPED else StartOutcome.FAILED
        video = screened.video

        if self.job_limit_reached is not None:  # refused earlier in this batch: no call, the same answer
            return self._refused(video, attempt, kicked, self.job_limit_reached)
        if not kicked and self.free_slots() <= 0:
            return self._wait(video, attempt, kicked, SLOTS_BUSY)
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
                return self._refused(video, attempt, kicked, busy)
            return self._wait(video, attempt, kicked, busy.code, retry_in=retry_delay(attempt + 1, deps.rng))
        except VideoRejected as rejected:
            status = VideoStatus.SKIPPED if rejected.skip else VideoStatus.FAILED
            not_started(deps, video, status, f"Rekognition {rejected.code}: {rejected.message}")
            return StartOutcome.SKIPPED if status is VideoStatus.SKIPPED else StartOutcome.FAILED

        if self._free_slots is not None:
            self._free_slots -= 1
        if deps.store.mark_in_progress(video, job_id, deps.min_confidence, deps.clock()):
            logger.info(
                "moderation job started", video_id=video.video_id, job_id=job_id, key=video.key, source=video.source
            )
            return StartOutcome.STARTED
        logger.info("job already recorded by another delivery", video_id=video.video_id, job_id=job_id)
        return StartOutcome.DUPLICATE

    def free_slots(self) -> int:
        """Slots modlake believes are free: job_limit minus its own running jobs (counted once per run)."""
        if self._free_slots is None:
            self._free_slots = self.deps.job_limit - self.deps.store.count_in_status(VideoStatus.IN_PROGRESS)
        return self._free_slots

    def _refused(self, video: VideoRef, attempt: int, kicked: bool, busy: RekognitionBusy) -> StartOutcome:
        """Every slot is taken (Rekognition's job limit): wait in the lane; a kicked video gives its claim back, since
        the slot it was kicked for went elsewhere and the next freed one (or fill pass) may take it at once."""
        if kicked:
            self.deps.store.release_claim(video.video_id)
        return self._wait(video, attempt, kicked, busy.code)

    def _wait(
        self, video: VideoRef, attempt: int, kicked: bool, reason: str, retry_in: int | None = None
    ) -> StartOutcome:
        """Record QUEUED in the video's lane; only a TPS-throttled start is tried again by a delayed message.

        A kicked video is QUEUED already and stays in its lane: the next freed slot or fill pass takes it.
        """
        deps = self.deps
        next_attempt = attempt + 1
        if not kicked and not deps.store.mark_queued(video, next_attempt, reason, deps.clock()):
            return StartOutcome.DUPLICATE
        if retry_in is not None:
            deps.retries.send(retry_start_message(video, next_attempt), delay_seconds=retry_in)
        logger.info(
            "video waits for a Rekognition slot",
            video_id=video.video_id,
            key=video.key,
            source=video.source,
            reason=reason,
            kicked=kicked,
            retry_in=retry_in,
        )
        return StartOutcome.QUEUED

    # --- the waiting queue ---------------------------------------------------------------------
    def fill_slots(self) -> StartOutcome:
        """A fill pass (the tick): start waiting videos, uploads first, while modlake counts free slots.

        A slot already given to a claimed video (its kicked start is on its way) is not free for another. The pass
        stops at Rekognition's first refusal, so it costs at most one refused call even when another workload in
        the account holds the slots modlake believes free.
        """
        deps = self.deps
        free = self.free_slots()
        started = 0
        if free > 0:
            for record in deps.store.next_waiting(free + LOOKAHEAD):
                if started >= free or self.job_limit_reached is not None:
                    break
                now = deps.clock()
                if record.claimed_at is not None and (now - record.claimed_at).total_seconds() < CLAIM_SECONDS:
                    free -= 1  # a freed slot is on its way to this video (a kick in flight): not free for another
                    continue
                if not deps.store.claim_waiting(record.video_id, now, CLAIM_SECONDS):
                    continue
                if self.start(record.video, attempt=record.attempts, kicked=True) is StartOutcome.STARTED:
                    started += 1
                    count("VideosStarted")
        logger.info("fill pass", free_slots=free, started=started, refused=self.job_limit_reached is not None)
        return StartOutcome.FILL_PASS

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

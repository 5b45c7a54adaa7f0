"""In-memory fakes of modlake's ports, with the same conditional semantics as the AWS adapters."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle
from functions.common.errors import RekognitionBusy, VideoRejected
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter
from functions.common.models import (
    CollectCheckpoint,
    Detection,
    JobNotification,
    ObjectInfo,
    RawDetection,
    ResultsPage,
    VideoMetadata,
    VideoRecord,
    VideoRef,
    VideoStatus,
    VideoSummary,
)
from functions.common.ports import LakeObjects


class InMemoryVideoStore:
    """VideoStore fake: summaries keyed by video id, labels keyed like the table's sort keys."""

    def __init__(self) -> None:
        self.records: dict[str, VideoRecord] = {}
        self.labels: dict[str, dict[tuple[int, int], Detection]] = {}
        self.kicked_at: dict[str, datetime] = {}

    def get(self, video_id: str) -> VideoRecord | None:
        record = self.records.get(video_id)
        return copy.deepcopy(record) if record else None

    def find_by_job(self, job_id: str) -> VideoRecord | None:
        return next((copy.deepcopy(r) for r in self.records.values() if r.job_id == job_id), None)

    def find_by_object(self, bucket: str, key: str) -> list[VideoRecord]:
        found = [r for r in self.records.values() if r.video.bucket == bucket and r.video.key == key]
        return copy.deepcopy(sorted(found, key=lambda r: r.video.uploaded_at or r.status_since, reverse=True))

    def oldest_in_status(self, status: VideoStatus, limit: int) -> list[VideoRecord]:
        found = sorted((r for r in self.records.values() if r.status is status), key=lambda r: r.status_since)
        return copy.deepcopy(found[:limit])

    def _new_or_queued(self, video_id: str) -> bool:
        record = self.records.get(video_id)
        return record is None or record.status is VideoStatus.QUEUED

    def mark_queued(self, video: VideoRef, attempts: int, reason: str, now: datetime) -> bool:
        if not self._new_or_queued(video.video_id):
            return False
        existing = self.records.get(video.video_id)
        self.records[video.video_id] = VideoRecord(
            video=video,
            status=VideoStatus.QUEUED,
            status_since=existing.status_since if existing else now,
            updated_at=now,
            attempts=attempts,
            status_reason=reason,
        )
        return True

    def claim_waiting(self, video_id: str, now: datetime, hold_seconds: int) -> bool:
        record = self.records.get(video_id)
        if record is None or record.status is not VideoStatus.QUEUED:
            return False
        claimed = self.kicked_at.get(video_id)
        if claimed is not None and (now - claimed).total_seconds() < hold_seconds:
            return False
        self.kicked_at[video_id] = now
        return True

    def mark_in_progress(self, video: VideoRef, job_id: str, min_confidence: float, now: datetime) -> bool:
        if not self._new_or_queued(video.video_id):
            return False
        existing = self.records.get(video.video_id)
        self.records[video.video_id] = VideoRecord(
            video=video,
            status=VideoStatus.IN_PROGRESS,
            status_since=now,
            updated_at=now,
            job_id=job_id,
            min_confidence=min_confidence,
            attempts=existing.attempts if existing else 0,
        )
        return True

    def mark_not_started(self, video: VideoRef, status: VideoStatus, reason: str, now: datetime) -> bool:
        if not self._new_or_queued(video.video_id):
            return False
        self.records[video.video_id] = VideoRecord(
            video=video, status=status, status_since=now, updated_at=now, status_reason=reason, completed_at=now
        )
        return True

    def label_writer(self, video_id: str) -> InMemoryLabelWriter:
        return InMemoryLabelWriter(self, video_id)

    def save_checkpoint(self, video_id: str, checkpoint: CollectCheckpoint, expected_chunks: int) -> bool:
        record = self.records[video_id]
        stored = record.checkpoint.chunks_written if record.checkpoint else 0
        if record.status is not VideoStatus.IN_PROGRESS or stored != expected_chunks:
            return False
        record.checkpoint = copy.deepcopy(checkpoint)
        return True

    def clear_checkpoint(self, video_id: str) -> bool:
        record = self.records[video_id]
        if record.status is not VideoStatus.IN_PROGRESS:
            return False
        record.checkpoint = None
        return True

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
        current = self.records[record.video_id]
        if current.job_id != record.job_id or current.status not in (VideoStatus.IN_PROGRESS, VideoStatus.DELETED):
            return False
        if current.completed_at is not None:
            return False
        current.status = VideoStatus.DELETED if current.status is VideoStatus.DELETED else status
        current.status_reason = reason
        current.summary = copy.deepcopy(summary)
        current.metadata = metadata
        current.model_version = model_version
        current.completed_at = completed_at
        current.updated_at = now
        current.checkpoint = None
        return True

    def mark_deleted(self, record: VideoRecord, now: datetime) -> bool:
        current = self.records.get(record.video_id)
        if current is None or current.status is VideoStatus.DELETED:
            return False
        current.status = VideoStatus.DELETED
        current.deleted_at = now
        return True

    def labels_in_time_order(self, video_id: str) -> list[Detection]:
        return [self.labels[video_id][k] for k in sorted(self.labels.get(video_id, {}))]


class InMemoryLabelWriter:
    """LabelWriter fake: keeps detections keyed like the table (replays overwrite), counts flushes."""

    def __init__(self, store: InMemoryVideoStore, video_id: str) -> None:
        self.store = store
        self.video_id = video_id
        self.flushes = 0

    def add(self, page: Sequence[Detection]) -> None:
        items = self.store.labels.setdefault(self.video_id, {})
        for detection in page:
            items[(detection.raw.timestamp_ms, detection.index)] = detection

    def flush(self) -> int:
        self.flushes += 1
        return self.flushes


class InMemoryObjects:
    """S3 fake for both buckets: bytes by key, with put/get/delete counters."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body
        self.puts.append(key)

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"


@dataclass
class FakeMedia:
    """Media bucket fake: objects by (key, version) → bytes."""

    objects: dict[tuple[str, str | None], bytes] = field(default_factory=dict)

    def add(self, video: VideoRef, body: bytes = MP4_HEAD + b"\x00" * 100) -> VideoRef:
        self.objects[(video.key, video.version_id)] = body
        return replace(video, size=len(body))

    def head(self, video: VideoRef) -> ObjectInfo | None:
        body = self.objects.get((video.key, video.version_id))
        if body is None:
            return None
        return ObjectInfo(size=len(body), etag="etag-" + str(len(body)), version_id=video.version_id)

    def read_start(self, video: VideoRef, length: int) -> bytes:
        return self.objects[(video.key, video.version_id)][:length]


class FakeModeration:
    """Rekognition fake: a job per token, a concurrency limit, scripted errors and results pages."""

    def __init__(self, *, max_jobs: int = 20) -> None:
        self.max_jobs = max_jobs
        self.jobs: dict[str, str] = {}  # token -> job id
        self.running: set[str] = set()
        self.start_calls = 0
        self.page_calls: list[dict[str, Any]] = []
        self.errors: list[Exception] = []
        self.pages: dict[str, list[ResultsPage]] = {}

    def start(self, video: VideoRef, *, token: str, job_tag: str, min_confidence: float) -> str:
        self.start_calls += 1
        if self.errors:
            raise self.errors.pop(0)
        if token in self.jobs:
            return self.jobs[token]
        if len(self.running) >= self.max_jobs:
            raise RekognitionBusy("LimitExceededException", "too many concurrent jobs")
        job_id = f"job-{len(self.jobs) + 1:04d}"
        self.jobs[token] = job_id
        self.running.add(job_id)
        return job_id

    def finish(self, job_id: str) -> None:
        self.running.discard(job_id)

    def results_page(self, job_id: str, *, next_token: str | None, max_results: int, aggregate_by: str) -> ResultsPage:
        self.page_calls.append({"job_id": job_id, "next_token": next_token, "max_results": max_results})
        pages = self.pages[job_id]
        index = int(next_token) if next_token else 0
        return pages[index]


def reject(code: str, message: str, *, skip: bool) -> VideoRejected:
    return VideoRejected(code, message, skip=skip)


def make_pages(
    detections: Sequence[RawDetection],
    page_size: int,
    *,
    status: str = "SUCCEEDED",
    metadata: VideoMetadata | None = None,
    model_version: str = "7.0",
) -> list[ResultsPage]:
    """Split detections into ResultsPages whose next_token is the next page's index."""
    meta = metadata or VideoMetadata(
        codec="h264",
        format="QuickTime / MOV",
        duration_ms=60_000,
        frame_rate=30.0,
        frame_width=1280,
        frame_height=720,
        color_range="LIMITED",
    )
    chunks = [list(detections[i : i + page_size]) for i in range(0, len(detections), page_size)] or [[]]
    return [
        ResultsPage(
            job_status=status,
            status_message=None,
            detections=tuple(chunk),
            metadata=meta,
            model_version=model_version,
            next_token=str(i + 1) if i + 1 < len(chunks) else None,
        )
        for i, chunk in enumerate(chunks)
    ]


@dataclass
class RecordingQueue:
    """WorkQueue fake that keeps what was sent."""

    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        self.sent.append((copy.deepcopy(body), delay_seconds))


@dataclass
class RecordingEvents:
    """EventPublisher fake that keeps what was published."""

    published: list[dict[str, Any]] = field(default_factory=list)

    def video_moderated(self, detail: dict[str, Any]) -> None:
        self.published.append(copy.deepcopy(detail))


def fake_collect_deps(lake_objects: LakeObjects | None = None, **overrides: Any) -> CollectDeps:
    """collect_results' dependencies, all in memory unless a real lake (e.g. S3 on moto) is given."""
    deps = CollectDeps(
        store=InMemoryVideoStore(),
        lake=LakeWriter(lake_objects or InMemoryObjects()),
        moderation=FakeModeration(),
        events=RecordingEvents(),
        start_queue=RecordingQueue(),
        collect_queue=RecordingQueue(),
        policy=FlagPolicy(),
    )
    for name, value in overrides.items():
        if not hasattr(deps, name):
            raise TypeError(f"CollectDeps has no field {name!r}")
        setattr(deps, name, value)
    return deps


def collect_finished_job(
    deps: CollectDeps, clip: VideoRef, job_id: str, detections: Sequence[RawDetection], completed_at: datetime
) -> CollectOutcome:
    """Record `clip` as IN_PROGRESS with `job_id`, give the job these results, and collect its completion."""
    deps.store.mark_in_progress(clip, job_id, 50.0, completed_at)
    deps.moderation.pages[job_id] = make_pages(detections, 1000)
    note = JobNotification(job_id, "SUCCEEDED", "StartContentModeration", clip.video_id, completed_at, None, None)
    return handle(note, deps, lambda: 900_000)

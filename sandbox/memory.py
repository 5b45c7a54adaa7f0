"""In-memory ports and a Rekognition client stand-in, shared by the tests and the local sample lake."""

from __future__ import annotations

import copy
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.common.models import (
    CollectCheckpoint,
    Detection,
    VideoMetadata,
    VideoRecord,
    VideoRef,
    VideoSource,
    VideoStatus,
    VideoSummary,
)
from functions.common.verdicts import Verdict

_LANE_ORDER = {VideoSource.UPLOAD: 0, VideoSource.BACKFILL: 1}  # uploads get free slots first


class InMemoryVideoStore:
    """VideoStore fake: summaries keyed by video id, labels keyed like the table's sort keys."""

    def __init__(self) -> None:
        self.records: dict[str, VideoRecord] = {}
        self.labels: dict[str, dict[tuple[int, int], Detection]] = {}
        self.verdict_items: dict[str, dict[tuple[datetime, str], Verdict]] = {}  # video id → history, keyed like sk

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

    def count_in_status(self, status: VideoStatus) -> int:
        return sum(r.status is status for r in self.records.values())

    def next_waiting(self, limit: int) -> list[VideoRecord]:
        waiting = (r for r in self.records.values() if r.status is VideoStatus.QUEUED)
        ordered = sorted(waiting, key=lambda r: (_LANE_ORDER[r.video.source], r.status_since))
        return copy.deepcopy(ordered[:limit])

    def _with_source(self, video: VideoRef) -> VideoRef:
        """An upload's source overrides a backfill's; a backfill never relabels a video first seen as an upload."""
        existing = self.records.get(video.video_id)
        if existing is not None and video.source is VideoSource.BACKFILL:
            return replace(video, source=existing.video.source)
        return video

    def _new_or_queued(self, video_id: str) -> bool:
        record = self.records.get(video_id)
        return record is None or record.status is VideoStatus.QUEUED

    def mark_queued(self, video: VideoRef, attempts: int, reason: str, now: datetime) -> bool:
        if not self._new_or_queued(video.video_id):
            return False
        existing = self.records.get(video.video_id)
        self.records[video.video_id] = VideoRecord(
            video=self._with_source(video),
            status=VideoStatus.QUEUED,
            status_since=existing.status_since if existing else now,
            updated_at=now,
            attempts=attempts,
            status_reason=reason,
            claimed_at=existing.claimed_at if existing else None,
        )
        return True

    def claim_waiting(self, video_id: str, now: datetime, hold_seconds: int) -> bool:
        record = self.records.get(video_id)
        if record is None or record.status is not VideoStatus.QUEUED:
            return False
        claimed = record.claimed_at
        if claimed is not None and (now - claimed).total_seconds() < hold_seconds:
            return False
        record.claimed_at = now
        return True

    def release_claim(self, video_id: str) -> bool:
        record = self.records.get(video_id)
        if record is None or record.status is not VideoStatus.QUEUED:
            return False
        record.claimed_at = None
        return True

    def mark_in_progress(self, video: VideoRef, job_id: str, min_confidence: float, now: datetime) -> bool:
        if not self._new_or_queued(video.video_id):
            return False
        existing = self.records.get(video.video_id)
        self.records[video.video_id] = VideoRecord(
            video=self._with_source(video),
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
            video=self._with_source(video),
            status=status,
            status_since=now,
            updated_at=now,
            status_reason=reason,
            completed_at=now,
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
        current.awaiting_review = bool(summary and summary.flagged) and current.status is VideoStatus.SUCCEEDED
        return True

    def mark_deleted(self, record: VideoRecord, now: datetime) -> bool:
        current = self.records.get(record.video_id)
        if current is None or current.status is VideoStatus.DELETED:
            return False
        current.status = VideoStatus.DELETED
        current.deleted_at = now
        current.awaiting_review = False
        return True

    def review_queue(self, limit: int) -> list[VideoRecord]:
        awaiting = (r for r in self.records.values() if r.awaiting_review)
        ordered = sorted(awaiting, key=lambda r: r.completed_at or r.status_since)
        return copy.deepcopy(ordered[:limit])

    def verdicts(self, video_id: str) -> list[Verdict]:
        history = self.verdict_items.get(video_id, {})
        return [history[k] for k in sorted(history)]

    def find_verdict(self, video_id: str, verdict_id: str) -> Verdict | None:
        return next((v for v in self.verdicts(video_id) if v.verdict_id == verdict_id), None)

    def add_verdict(self, verdict: Verdict) -> bool:
        history = self.verdict_items.setdefault(verdict.video_id, {})
        key = (verdict.recorded_at, verdict.verdict_id)
        if key in history:
            return False
        history[key] = verdict
        return True

    def apply_verdict(self, verdict: Verdict) -> bool:
        current = self.records.get(verdict.video_id)
        if current is None:
            return False
        current.awaiting_review = False
        latest = current.latest_verdict
        if latest is not None and (latest.recorded_at, latest.verdict_id) > (verdict.recorded_at, verdict.verdict_id):
            return False
        current.latest_verdict = verdict.latest
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


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def movie_head(duration_ms: int = 60_000) -> bytes:
    """The start of a faststart MP4: ftyp, then moov whose mvhd (version 0, timescale 1000) holds the duration."""
    mvhd = _box(b"mvhd", struct.pack(">B3xIIII", 0, 0, 0, 1000, duration_ms) + bytes(80))
    return _box(b"ftyp", b"isom\x00\x00\x02\x00isom") + _box(b"moov", mvhd)


def movie_bytes(duration_ms: int = 60_000, payload: int = 100) -> bytes:
    """A whole (tiny) MP4 whose header says it lasts `duration_ms`: movie_head, then an mdat of zeros."""
    return movie_head(duration_ms) + _box(b"mdat", bytes(payload))


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


@dataclass
class ScriptedJob:
    """What the in-memory Rekognition answers for one job: its outcome and GetContentModeration labels."""

    status: str = "SUCCEEDED"
    status_message: str | None = None
    labels: list[dict[str, Any]] = field(default_factory=list)
    video_metadata: dict[str, Any] = field(default_factory=dict)
    model_version: str = "7.0"


class InMemoryRekognition:
    """A boto3 Rekognition client stand-in: StartContentModeration and GetContentModeration, response-shaped.

    It sits under the real RekognitionModeration adapter, so parsing and error translation run as in AWS.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, ScriptedJob] = {}  # job id -> script
        self.start_errors: dict[str, tuple[str, str]] = {}  # S3 key -> (error code, message)
        self.scripts: dict[str, ScriptedJob] = {}  # S3 key -> script for the job it will start
        self.started: dict[str, str] = {}  # ClientRequestToken -> job id

    def script(self, key: str, job: ScriptedJob) -> None:
        """What the job started for this S3 key will report."""
        self.scripts[key] = job

    def reject_start(self, key: str, code: str, message: str) -> None:
        """StartContentModeration for this S3 key fails with this error code."""
        self.start_errors[key] = (code, message)

    def start_content_moderation(self, **request: Any) -> dict[str, Any]:
        key = request["Video"]["S3Object"]["Name"]
        if key in self.start_errors:
            code, message = self.start_errors[key]
            raise ClientError({"Error": {"Code": code, "Message": message}}, "StartContentModeration")
        token = request["ClientRequestToken"]
        if token not in self.started:  # the same token returns the same JobId, as in AWS
            job_id = hashlib.sha256(f"job/{token}".encode()).hexdigest()
            self.started[token] = job_id
            self.jobs[job_id] = self.scripts.get(key, ScriptedJob())
        return {"JobId": self.started[token]}

    def get_content_moderation(self, **request: Any) -> dict[str, Any]:
        job_id = request["JobId"]
        if job_id not in self.jobs:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": job_id}}, "GetContentModeration"
            )
        job = self.jobs[job_id]
        start = int(request.get("NextToken") or 0)
        end = start + int(request["MaxResults"])
        response: dict[str, Any] = {
            "JobId": job_id,
            "JobStatus": job.status,
            "VideoMetadata": job.video_metadata,
            "ModerationLabels": job.labels[start:end] if job.status == "SUCCEEDED" else [],
            "ModerationModelVersion": job.model_version,
            "GetRequestMetadata": {"SortBy": request.get("SortBy", "TIMESTAMP"), "AggregateBy": request["AggregateBy"]},
        }
        if job.status_message:
            response["StatusMessage"] = job.status_message
        if job.status == "SUCCEEDED" and end < len(job.labels):
            response["NextToken"] = str(end)
        return response

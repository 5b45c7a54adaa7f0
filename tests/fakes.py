"""In-memory fakes of modlake's ports, with the same conditional semantics as the AWS adapters.

The ports the local sandbox needs too live in sandbox.memory; they are re-exported here for the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle
from functions.common.errors import RekognitionBusy, VideoRejected
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter
from functions.common.models import (
    JobNotification,
    ObjectInfo,
    RawDetection,
    ResultsPage,
    VideoMetadata,
    VideoRef,
)
from functions.common.ports import LakeObjects
from functions.common.quarantine import MAX_OBJECT_TAGS, TagWrite
from sandbox.memory import (
    MP4_HEAD,
    InMemoryLabelWriter,
    InMemoryObjects,
    InMemoryVideoStore,
    RecordingEvents,
    RecordingQueue,
    movie_bytes,
)

__all__ = [
    "MP4_HEAD",
    "movie_bytes",
    "FakeMedia",
    "FakeModeration",
    "InMemoryLabelWriter",
    "InMemoryObjects",
    "InMemoryVideoStore",
    "RecordingEvents",
    "RecordingQueue",
    "collect_finished_job",
    "fake_collect_deps",
    "make_pages",
    "reject",
]


@dataclass
class FakeMedia:
    """Media bucket fake: objects by (key, version) → bytes, and each version's tags (as S3MediaObjects.put_tag)."""

    objects: dict[tuple[str, str | None], bytes] = field(default_factory=dict)
    tags: dict[tuple[str, str | None], dict[str, str]] = field(default_factory=dict)
    tag_writes: int = 0  # PutObjectTagging calls: a replay makes none

    def add(self, video: VideoRef, body: bytes | None = None) -> VideoRef:
        body = movie_bytes() if body is None else body
        self.objects[(video.key, video.version_id)] = body
        return replace(video, size=len(body))

    def head(self, video: VideoRef) -> ObjectInfo | None:
        body = self.objects.get((video.key, video.version_id))
        if body is None:
            return None
        return ObjectInfo(size=len(body), etag="etag-" + str(len(body)), version_id=video.version_id)

    def read_start(self, video: VideoRef, length: int) -> bytes:
        return self.objects[(video.key, video.version_id)][:length]

    def read_range(self, video: VideoRef, offset: int, length: int) -> bytes:
        return self.objects[(video.key, video.version_id)][offset : offset + max(length, 0)]

    def put_tag(self, video: VideoRef, key: str, value: str) -> TagWrite:
        version = (video.key, video.version_id)
        if version not in self.objects:
            return TagWrite.MISSING
        current = self.tags.setdefault(version, {})
        if current.get(key) == value:
            return TagWrite.UNCHANGED
        if len({k for k in current if k != key}) >= MAX_OBJECT_TAGS:
            return TagWrite.NO_ROOM
        current[key] = value
        self.tag_writes += 1
        return TagWrite.WRITTEN


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

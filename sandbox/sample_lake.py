"""A deterministic sample analytics lake, written by modlake's own start and collect logic.

`write_sample_lake` plans several weeks of uploads (flagged and clean videos, failed jobs, skipped files, days
without videos, videos completed minutes around UTC midnight and around 15:00 UTC — midnight in Tokyo) and, when
asked (`backfill_videos`), a backfill of long-stored videos on the last day alongside its uploads; runs each through
start_moderation's and collect_results' logic over in-memory ports and an in-memory Rekognition client (behind
the real adapter), and copies the Parquet objects those wrote to a directory laid out like the analytics bucket.
It returns what it planned, so tests can compute every expected answer without SQL.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle
from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter, verdict_row
from functions.common.models import JobNotification, ObjectInfo, VideoRecord, VideoRef, VideoSource, VideoStatus
from functions.common.observability import metrics
from functions.common.verdicts import Verdict, VerdictKind, VerdictRequest
from functions.start_moderation.logic import StartDeps, StartOutcome, StartRun
from glue import TABLES
from sandbox.memory import (
    InMemoryObjects,
    InMemoryRekognition,
    InMemoryVideoStore,
    RecordingEvents,
    RecordingQueue,
    ScriptedJob,
    movie_head,
)

MEDIA_BUCKET = "modlake-media-sample"
FLAG_THRESHOLD = 80.0  # one threshold for every category, none ignored: a detection flags at ≥ 80
MIN_CONFIDENCE = 50.0
VIDEO_SUFFIXES = ("mp4", "mov")
PAGE_SIZE = 25  # small pages, so long videos take several GetContentModeration pages
SEED = 20261120
# Days (counted back from end_day) without any video: Athena sees no partition for them.
EMPTY_DAYS_BACK = frozenset({3, 12, 20, 29})
# Completion times every other day gets: UTC midnight (exactly, and minutes around it) and 15:00 UTC, which is
# midnight in Asia/Tokyo (UTC+9), so a Tokyo calendar day spans two dt partitions and has videos on both sides.
EDGE_TIMES = (time(0, 0), time(0, 3, 20), time(14, 59, 59, 999000), time(15, 0), time(23, 58, 40))
# The backfill: `modlake backfill` moderating objects stored long before, on the last day (the day the digest
# preview shows), its outcomes spread over the small hours UTC — inside that day in UTC and in Tokyo. The digest
# preview and the analytics tests ask for BACKFILL_VIDEOS of them; a lake without backfill_videos has none.
BACKFILL_VIDEOS = 300
BACKFILL_HOURS = (1, 7)  # completions spread over [01:00, 07:00) UTC, on whole seconds
# Reviewers' verdicts: every other flagged video is reviewed this long after its outcome, by one of these.
VERDICT_DELAY = timedelta(hours=3)
REVIEWERS = ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/reviewers/bob")

# Rekognition moderation taxonomy v7: top-level category → {level-2 label: level-3 labels}.
TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "Explicit": {
        "Explicit Nudity": ("Exposed Female Nipple", "Exposed Buttocks or Anus"),
        "Explicit Sexual Activity": (),
    },
    "Non-Explicit Nudity of Intimate parts and Kissing": {
        "Non-Explicit Nudity": ("Bare Back", "Implied Nudity"),
        "Kissing on the Lips": (),
    },
    "Swimwear or Underwear": {"Female Swimwear or Underwear": (), "Male Swimwear or Underwear": ()},
    "Violence": {"Weapons": (), "Graphic Violence": ("Blood & Gore", "Physical Violence")},
    "Visually Disturbing": {"Death and Emaciation": ("Corpses",), "Crashes": ("Air Crash",)},
    "Drugs & Tobacco": {"Products": ("Pills",), "Drugs & Tobacco Paraphernalia & Use": ("Smoking",)},
    "Alcohol": {"Alcohol Use": ("Drinking",), "Alcoholic Beverages": ()},
    "Rude Gestures": {"Middle Finger": ()},
    "Hate Symbols": {"Nazi Party": (), "White Supremacy": ()},
}


class Outcome(StrEnum):
    """What a planned upload should end as (the logic decides; write_sample_lake checks it did)."""

    FLAGGED = "flagged"  # SUCCEEDED, at least one detection at or above the threshold
    CLEAN_LABELS = "clean-labels"  # SUCCEEDED, detections all below the threshold
    CLEAN = "clean"  # SUCCEEDED, no detections
    LONG_FLAGGED = "long-flagged"  # SUCCEEDED, many detections over several results pages
    FAILED_JOB = "failed-job"  # the Rekognition job FAILED
    FAILED_START = "failed-start"  # StartContentModeration refused the request (FAILED, no job)
    SKIPPED_SUFFIX = "skipped-suffix"  # not a video file type modlake moderates
    SKIPPED_NOT_MP4 = "skipped-not-mp4"  # a .mp4 name without an MP4 box header
    SKIPPED_EMPTY = "skipped-empty"  # zero bytes
    SKIPPED_REJECTED = "skipped-rejected"  # Rekognition cannot read the object (InvalidS3ObjectException)


_WEIGHTED_OUTCOMES = (
    (Outcome.FLAGGED, 36),
    (Outcome.CLEAN_LABELS, 16),
    (Outcome.CLEAN, 12),
    (Outcome.LONG_FLAGGED, 4),
    (Outcome.FAILED_JOB, 8),
    (Outcome.FAILED_START, 4),
    (Outcome.SKIPPED_SUFFIX, 6),
    (Outcome.SKIPPED_NOT_MP4, 5),
    (Outcome.SKIPPED_EMPTY, 4),
    (Outcome.SKIPPED_REJECTED, 5),
)
# A backfill selection holds video keys only (no other suffixes), and stored videos are mostly clean.
_BACKFILL_OUTCOMES = (
    (Outcome.FLAGGED, 24),
    (Outcome.CLEAN_LABELS, 20),
    (Outcome.CLEAN, 36),
    (Outcome.LONG_FLAGGED, 1),
    (Outcome.FAILED_JOB, 6),
    (Outcome.FAILED_START, 3),
    (Outcome.SKIPPED_NOT_MP4, 5),
    (Outcome.SKIPPED_EMPTY, 3),
    (Outcome.SKIPPED_REJECTED, 2),
)
_JOB_OUTCOMES = frozenset({Outcome.FLAGGED, Outcome.CLEAN_LABELS, Outcome.CLEAN, Outcome.LONG_FLAGGED})
_STARTED_OUTCOMES = _JOB_OUTCOMES | {Outcome.FAILED_JOB}


@dataclass(frozen=True)
class SampleDetection:
    """One detection Rekognition reports for a sample video."""

    timestamp_ms: int
    label: str
    parent: str  # "" at the top level
    level: int
    top_category: str
    confidence: float
    content_types: tuple[str, ...] = ()  # e.g. ("Animated",)

    @property
    def flagged(self) -> bool:
        return self.confidence >= FLAG_THRESHOLD


@dataclass(frozen=True)
class SampleVideo:
    """One planned video (an upload, or a stored object the backfill moderated) and its outcome: the facts tests
    compute expected query answers from."""

    key: str
    outcome: Outcome
    uploaded_at: datetime  # UTC; a backfilled object's upload was long before its outcome
    completed_at: datetime  # UTC; its date is the dt partition of the video's row
    size_bytes: int
    duration_ms: int | None  # None when no job reported metadata
    detections: tuple[SampleDetection, ...] = ()
    version_id: str | None = None
    source: VideoSource = VideoSource.UPLOAD
    started_at: datetime | None = None  # when start_moderation started its job (None: no job started)
    status: str = ""  # filled in from what the logic recorded
    status_reason: str | None = None
    job_id: str | None = None
    video_id: str = ""

    bucket: ClassVar[str] = MEDIA_BUCKET

    @property
    def ref(self) -> VideoRef:
        return VideoRef(
            bucket=self.bucket,
            key=self.key,
            version_id=self.version_id,
            etag=f"etag-{self.size_bytes}",
            size=self.size_bytes,
            uploaded_at=self.uploaded_at,
            source=self.source,
        )

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def day(self) -> date:
        return self.completed_at.date()

    @property
    def dt(self) -> str:
        return self.day.isoformat()

    @property
    def backfill(self) -> bool:
        return self.source is VideoSource.BACKFILL

    @property
    def flagged(self) -> bool:
        return any(d.flagged for d in self.detections)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({d.top_category for d in self.detections}))

    @property
    def flagged_categories(self) -> tuple[str, ...]:
        return tuple(sorted({d.top_category for d in self.detections if d.flagged}))

    @property
    def max_confidence(self) -> float | None:
        return max((d.confidence for d in self.detections), default=None)

    @property
    def first_flagged_ms(self) -> int | None:
        return min((d.timestamp_ms for d in self.detections if d.flagged), default=None)

    @property
    def label_count(self) -> int:
        return len(self.detections)

    @property
    def flagged_label_count(self) -> int:
        return sum(d.flagged for d in self.detections)

    @property
    def labels_per_category(self) -> Counter[str]:
        return Counter(d.top_category for d in self.detections)


@dataclass(frozen=True)
class SampleVerdict:
    """A reviewer's verdict on a flagged sample video, as the review API records it in moderation_verdicts."""

    video: SampleVideo
    verdict: str  # confirmed | overturned
    reviewer: str
    recorded_at: datetime
    category: str | None = None  # the category the reviewer named (None: the video's top flagged category)
    note: str | None = None
    confidence: float | None = None  # the video's highest confidence as recorded at review time (None: the video's)

    @property
    def max_confidence(self) -> float:
        return self.confidence if self.confidence is not None else self.video.max_confidence or 0.0

    @property
    def judged_category(self) -> str:
        """The category the verdict is about: the one the reviewer named, else the video's top flagged one."""
        return self.category or self.top_category

    @property
    def top_category(self) -> str:
        return max((d for d in self.video.detections if d.flagged), key=lambda d: d.confidence).top_category

    @property
    def dt(self) -> str:
        return self.recorded_at.date().isoformat()

    def record(self) -> VideoRecord:
        """The moderated video the verdict is on, as the review API reads it (its identity is what the row keeps)."""
        at = self.video.completed_at
        return VideoRecord(video=self.video.ref, status=VideoStatus.SUCCEEDED, status_since=at, updated_at=at)

    def recorded(self) -> Verdict:
        """The verdict as the review API records it (its id from functions.common.verdicts, as for a request)."""
        request = VerdictRequest(
            VerdictKind(self.verdict), self.category, self.note, f"sample-{int(self.recorded_at.timestamp())}"
        )
        verdict = Verdict.of(self.record(), request, self.reviewer, self.recorded_at)
        return replace(verdict, top_category=self.top_category, max_confidence=self.max_confidence)

    @property
    def verdict_id(self) -> str:
        return self.recorded().verdict_id

    def row(self) -> dict[str, Any]:
        """The moderation_verdicts row, built by the lake writer's own verdict_row."""
        return verdict_row(self.recorded(), self.record())


def plan_verdicts(videos: Iterable[SampleVideo], end_day: date) -> tuple[SampleVerdict, ...]:
    """Every other flagged video gets a verdict VERDICT_DELAY after its outcome (on a day that has videos, on or
    before end_day: the sample's empty days stay empty); every fourth of those is overturned."""
    videos = list(videos)
    active_days = {v.day for v in videos if v.day <= end_day}
    flagged = [v for v in videos if v.status == "SUCCEEDED" and v.flagged]
    reviewed = [v for v in flagged if (v.completed_at + VERDICT_DELAY).date() in active_days][::2]
    return tuple(
        SampleVerdict(
            video,
            "overturned" if index % 4 == 3 else "confirmed",
            REVIEWERS[index % len(REVIEWERS)],
            (video.completed_at + VERDICT_DELAY).replace(microsecond=0),
        )
        for index, video in enumerate(reviewed)
    )


@dataclass(frozen=True)
class SampleLake:
    """What write_sample_lake wrote: the videos (in completion order) and the lake object keys."""

    root: Path
    end_day: date
    days: int
    videos: tuple[SampleVideo, ...]
    keys: tuple[str, ...]
    verdicts: tuple[SampleVerdict, ...] = ()  # reviewers' verdicts on some flagged videos (moderation_verdicts)

    @property
    def first_day(self) -> date:
        return self.end_day - timedelta(days=self.days - 1)

    def videos_on(self, day: date) -> list[SampleVideo]:
        """Videos whose rows are in the day's dt partition."""
        return [v for v in self.videos if v.day == day]

    def videos_between(self, start: datetime, end: datetime) -> list[SampleVideo]:
        """Videos completed in [start, end)."""
        return [v for v in self.videos if start <= v.completed_at < end]

    def partition_keys(self, table: str, days: Iterable[date]) -> set[str]:
        """The lake keys of a table in the given days' dt partitions."""
        prefixes = tuple(f"{table}/dt={day.isoformat()}/" for day in days)
        return {key for key in self.keys if key.startswith(prefixes)}


# --- planning ---------------------------------------------------------------------------------------------------
def _detections(rng: random.Random, duration_ms: int, events: int, flagged: bool) -> tuple[SampleDetection, ...]:
    """Detections of `events` moments, each a taxonomy chain (level 1, maybe 2 and 3) at one timestamp."""
    moments = sorted(rng.sample(range(0, duration_ms, 500), k=min(events, duration_ms // 500)))
    out: list[SampleDetection] = []
    for i, ts in enumerate(moments):
        top = rng.choice(sorted(TAXONOMY))
        if flagged and (i == 0 or rng.random() < 0.4):
            base = round(rng.uniform(FLAG_THRESHOLD, 99.9), 2)
        else:
            base = round(rng.uniform(MIN_CONFIDENCE, FLAG_THRESHOLD - 0.01), 2)
        chain = [(top, "", 1)]
        if rng.random() < 0.7:
            level2 = rng.choice(sorted(TAXONOMY[top]))
            chain.append((level2, top, 2))
            level3 = TAXONOMY[top][level2]
            if level3 and rng.random() < 0.6:
                chain.append((rng.choice(level3), level2, 3))
        for depth, (label, parent, level) in enumerate(chain):
            confidence = max(MIN_CONFIDENCE, round(base - depth * rng.uniform(0.0, 1.5), 2))
            content_types = ("Animated",) if i % 3 == 1 and depth == 0 else ()
            out.append(SampleDetection(ts, label, parent, level, top, confidence, content_types))
    return tuple(out)


def _plan_video(rng: random.Random, day: date, slot: int, at: time) -> SampleVideo:
    outcomes, weights = zip(*_WEIGHTED_OUTCOMES, strict=True)
    outcome = rng.choices(outcomes, weights)[0]
    completed_at = datetime.combine(day, at, UTC)
    day_start = datetime.combine(day, time(0), UTC)
    name = f"uploads/{day:%Y/%m/%d}/clip-{slot:02d}"
    if slot % 4 == 3:
        name = f"uploads/{day:%Y/%m/%d}/Team Review {slot:02d}"  # a key with spaces and an upper-case suffix
    suffix = ".MOV" if slot % 4 == 3 else ".mp4"
    size = rng.randint(2_000_000, 900_000_000)
    duration_ms: int | None = rng.choice((12_000, 30_500, 61_000, 95_500, 180_000, 600_000))
    if outcome == Outcome.LONG_FLAGGED:
        duration_ms = 1_800_000
    if outcome in _STARTED_OUTCOMES:
        uploaded_at = completed_at - timedelta(minutes=rng.randint(1, 9), seconds=rng.randint(0, 59))
    else:  # no job: the outcome comes seconds after the upload (kept on its day: start_moderation partitions by it)
        uploaded_at = max(day_start, completed_at - timedelta(seconds=2))
        duration_ms = None
    if outcome == Outcome.FAILED_JOB:
        duration_ms = None
    if outcome == Outcome.SKIPPED_SUFFIX:
        suffix = ".txt"
    if outcome == Outcome.SKIPPED_EMPTY:
        size = 0
    detections = _outcome_detections(rng, outcome, duration_ms, most_labels=6)
    return SampleVideo(
        key=name + suffix,
        outcome=outcome,
        uploaded_at=uploaded_at,
        completed_at=completed_at,
        size_bytes=size,
        duration_ms=duration_ms,
        detections=detections,
        version_id=f"v{day:%Y%m%d}{slot:02d}" if slot % 5 else None,  # some from an unversioned bucket
        started_at=uploaded_at + timedelta(seconds=2) if outcome in _STARTED_OUTCOMES else None,
    )


def _outcome_detections(
    rng: random.Random, outcome: Outcome, duration_ms: int | None, most_labels: int
) -> tuple[SampleDetection, ...]:
    """The detections a planned outcome has: a few for a flagged or labelled video, 40 for a long flagged one."""
    if outcome in (Outcome.FLAGGED, Outcome.CLEAN_LABELS):
        assert duration_ms is not None
        return _detections(rng, duration_ms, rng.randint(1, most_labels), flagged=outcome == Outcome.FLAGGED)
    if outcome == Outcome.LONG_FLAGGED:
        assert duration_ms is not None
        return _detections(rng, duration_ms, 40, flagged=True)
    return ()


def _plan_backfilled(rng: random.Random, index: int, at: datetime) -> SampleVideo:
    """One stored object `modlake backfill` moderated: uploaded long before, its outcome reached at `at`."""
    outcomes, weights = zip(*_BACKFILL_OUTCOMES, strict=True)
    outcome = rng.choices(outcomes, weights)[0]
    uploaded_at = at - timedelta(days=rng.randint(30, 700), seconds=rng.randint(0, 86_399))
    size = 0 if outcome == Outcome.SKIPPED_EMPTY else rng.randint(2_000_000, 600_000_000)
    duration_ms: int | None = rng.choice((15_000, 45_500, 120_000, 300_000))
    if outcome == Outcome.LONG_FLAGGED:
        duration_ms = 1_800_000
    started = outcome in _STARTED_OUTCOMES
    if not started or outcome == Outcome.FAILED_JOB:
        duration_ms = None
    detections = _outcome_detections(rng, outcome, duration_ms, most_labels=4)
    return SampleVideo(
        key=f"archive/{uploaded_at:%Y/%m}/stored-{index:04d}.mp4",
        outcome=outcome,
        uploaded_at=uploaded_at,
        completed_at=at,
        size_bytes=size,
        duration_ms=duration_ms,
        detections=detections,
        version_id=f"b{index:04d}" if index % 7 else None,
        source=VideoSource.BACKFILL,
        started_at=at - timedelta(minutes=rng.randint(2, 25)) if started else None,
    )


def plan_backfill(day: date, videos: int) -> list[SampleVideo]:
    """A backfill of `videos` stored objects whose outcomes come in over BACKFILL_HOURS of `day` (UTC)."""
    rng = random.Random(SEED * 1000 - 1)
    first, last = (datetime.combine(day, time(hour), UTC) for hour in BACKFILL_HOURS)
    step = timedelta(seconds=(last - first).total_seconds() // max(videos, 1))
    return [_plan_backfilled(rng, index, first + step * index) for index in range(videos)]


def plan_videos(end_day: date, days: int, backfill_videos: int = 0) -> list[SampleVideo]:
    """The uploads of `days` days ending with end_day and a backfill of `backfill_videos` on end_day, in completion
    order (a day's plan depends only on its distance from end_day, so lakes of different lengths agree on the days
    they share)."""
    planned: list[SampleVideo] = []
    for back in range(days):
        if back in EMPTY_DAYS_BACK:
            continue
        day = end_day - timedelta(days=back)
        rng = random.Random(SEED * 1000 + back)
        times = list(EDGE_TIMES)
        for _ in range(rng.randint(1, 3)):
            times.append(time(rng.randint(1, 21), rng.randint(0, 59), rng.randint(0, 59)))
        planned.extend(_plan_video(rng, day, slot, at) for slot, at in enumerate(sorted(times)))
    if days > 0 and backfill_videos > 0:
        planned.extend(plan_backfill(end_day, backfill_videos))
    return sorted(planned, key=lambda v: (v.completed_at, v.key))


# --- running the logic ------------------------------------------------------------------------------------------
class _SampleMedia:
    """The media bucket as start_moderation sees it: each planned object's size and first bytes (zeros after)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None], tuple[int, bytes]] = {}

    def add(self, video: SampleVideo, head: bytes) -> None:
        self.objects[(video.key, video.version_id)] = (video.size_bytes, head)

    def head(self, video: VideoRef) -> ObjectInfo | None:
        size, _ = self.objects[(video.key, video.version_id)]
        return ObjectInfo(size=size, etag=video.etag or "", version_id=video.version_id)

    def read_start(self, video: VideoRef, length: int) -> bytes:
        return self.read_range(video, 0, length)

    def read_range(self, video: VideoRef, offset: int, length: int) -> bytes:
        size, head = self.objects[(video.key, video.version_id)]
        end = min(size, offset + max(length, 0))
        if offset >= end:
            return b""
        return head[offset:end].ljust(end - offset, b"\x00")


def _rekognition_labels(detections: Iterable[SampleDetection]) -> list[dict[str, Any]]:
    """GetContentModeration's ModerationLabels (AggregateBy TIMESTAMPS) for the detections."""
    labels = []
    for d in detections:
        label: dict[str, Any] = {
            "Timestamp": d.timestamp_ms,
            "ModerationLabel": {
                "Confidence": d.confidence,
                "Name": d.label,
                "ParentName": d.parent,
                "TaxonomyLevel": d.level,
            },
        }
        if d.content_types:
            label["ContentTypes"] = [{"Confidence": 88.5, "Name": name} for name in d.content_types]
        labels.append(label)
    return labels


def rekognition_job(video: SampleVideo) -> ScriptedJob:
    """What Rekognition reports for the video's job."""
    if video.outcome == Outcome.FAILED_JOB:
        return ScriptedJob(status="FAILED", status_message="Unsupported codec/format.")
    metadata = {
        "Codec": "h264",
        "DurationMillis": video.duration_ms,
        "Format": "QuickTime / MOV",
        "FrameRate": 29.97,
        "FrameHeight": 720,
        "FrameWidth": 1280,
        "ColorRange": "LIMITED",
    }
    return ScriptedJob(labels=_rekognition_labels(video.detections), video_metadata=metadata)


class _Pipeline:
    """start_moderation's and collect_results' logic over in-memory ports, driven one planned video at a time."""

    def __init__(self) -> None:
        self.lake_objects = InMemoryObjects()
        self.store = InMemoryVideoStore()
        self.media = _SampleMedia()
        self.rekognition = InMemoryRekognition()
        moderation = RekognitionModeration(self.rekognition, "arn:aws:sns:local:0:AmazonRekognition", "role")
        lake = self.lake = LakeWriter(self.lake_objects)
        self.start = StartDeps(
            store=self.store,
            media=self.media,
            lake=lake,
            moderation=moderation,
            retries=RecordingQueue(),
            min_confidence=MIN_CONFIDENCE,
            video_suffixes=VIDEO_SUFFIXES,
        )
        self.collect = CollectDeps(
            store=self.store,
            lake=lake,
            moderation=moderation,
            events=RecordingEvents(),
            start_queue=RecordingQueue(),
            collect_queue=RecordingQueue(),
            policy=FlagPolicy(threshold=FLAG_THRESHOLD),
            page_size=PAGE_SIZE,
        )

    def run(self, video: SampleVideo) -> SampleVideo:
        """Upload, start and (for a job) collect one video; returns it with the status the logic recorded."""
        if video.outcome == Outcome.SKIPPED_NOT_MP4:
            head = b"RIFF\x00\x00\x00\x00AVI LIST"
        else:  # the file's own duration; a job that fails reports none, but the file still has one
            head = movie_head(video.duration_ms or 60_000)
        self.media.add(video, head)
        if video.outcome == Outcome.FAILED_START:
            self.rekognition.reject_start(video.key, "InvalidParameterException", "Request has invalid parameters")
        if video.outcome == Outcome.SKIPPED_REJECTED:
            self.rekognition.reject_start(video.key, "InvalidS3ObjectException", "Unable to get object metadata")
        self.rekognition.script(video.key, rekognition_job(video))
        self.start.clock = lambda: video.started_at or video.completed_at
        outcome = StartRun(self.start).start(video.ref)
        if video.started_at is not None:
            if outcome is not StartOutcome.STARTED:
                raise RuntimeError(f"sample video {video.key} did not start: {outcome}")
            self._collect(video)
        metrics.clear_metrics()  # sample data is not business activity
        record = self.store.get(video.ref.video_id)
        if record is None:
            raise RuntimeError(f"sample video {video.key} left no record")
        expected = _EXPECTED_STATUS.get(video.outcome, VideoStatus.SKIPPED)
        if record.status is not expected:
            raise RuntimeError(
                f"sample video {video.key} ended {record.status} ({record.status_reason}), not {expected}"
            )
        return replace(
            video,
            status=str(record.status),
            status_reason=record.status_reason,
            job_id=record.job_id,
            video_id=record.video_id,
        )

    def _collect(self, video: SampleVideo) -> None:
        record = self.store.get(video.ref.video_id)
        assert record is not None and record.job_id is not None
        job = self.rekognition.jobs[record.job_id]
        note = JobNotification(
            job_id=record.job_id,
            status=job.status,
            api="StartContentModeration",
            job_tag=record.video_id,
            timestamp=video.completed_at,
            bucket=video.bucket,
            key=video.key,
        )
        self.collect.clock = lambda: video.completed_at
        outcome = handle(note, self.collect, lambda: 900_000)
        if outcome not in (CollectOutcome.SUCCEEDED, CollectOutcome.FAILED):
            raise RuntimeError(f"sample video {video.key} was not collected: {outcome}")


_EXPECTED_STATUS = {
    **dict.fromkeys(_JOB_OUTCOMES, VideoStatus.SUCCEEDED),
    Outcome.FAILED_JOB: VideoStatus.FAILED,
    Outcome.FAILED_START: VideoStatus.FAILED,
}


def write_sample_lake(
    root: Path, *, end_day: date, days: int = 35, backfill_videos: int = 0, quiet: bool = True
) -> SampleLake:
    """Write `days` days of sample Parquet (ending with end_day, with a backfill of `backfill_videos` stored videos on
    it) under root, laid out like the analytics bucket.

    quiet silences the logic's logs meanwhile: the sample's failed and skipped videos are planned, not news.
    """
    root = Path(root)
    for spec in TABLES:
        existing = root / spec.prefix
        if existing.exists() and any(existing.iterdir()):
            raise FileExistsError(f"{existing} is not empty: write the sample lake to a fresh directory")
    pipeline = _Pipeline()
    previous = logging.root.manager.disable
    if quiet:
        logging.disable(logging.WARNING)
    try:
        videos = tuple(pipeline.run(video) for video in plan_videos(end_day, days, backfill_videos))
    finally:
        logging.disable(previous)
    verdicts = plan_verdicts(videos, end_day)
    for verdict in verdicts:  # as the review API writes them: one object per verdict, at a key its id decides
        pipeline.lake.write_verdict(verdict.recorded(), verdict.record())
    keys = [key for spec in TABLES for key in pipeline.lake_objects.keys(spec.prefix)]
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pipeline.lake_objects.get(key))
    return SampleLake(root=root, end_day=end_day, days=days, videos=videos, keys=tuple(keys), verdicts=verdicts)

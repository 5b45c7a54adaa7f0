"""Domain models shared by the functions: videos, detections, outcomes and queue messages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

MAX_VIDEO_BYTES = 10 * 1024**3  # Rekognition Video's stored-video limits: 10 GB and 6 hours
MAX_VIDEO_SECONDS = 6 * 3600
CLIENT_TOKEN_PATTERN = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
JOB_TAG_PATTERN = re.compile(r"^[a-zA-Z0-9_.\-:+=/]{1,1024}$")


class VideoStatus(StrEnum):
    """Lifecycle of a video in modlake."""

    QUEUED = "QUEUED"  # waiting for a free Rekognition slot
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    DELETED = "DELETED"


class VideoSource(StrEnum):
    """How a video reached modlake: its upload's S3 event, or `modlake backfill` over stored objects."""

    UPLOAD = "upload"
    BACKFILL = "backfill"


# Statuses after which a redelivered upload event must change nothing.
SETTLED_STATUSES = frozenset(
    {VideoStatus.IN_PROGRESS, VideoStatus.SUCCEEDED, VideoStatus.FAILED, VideoStatus.SKIPPED, VideoStatus.DELETED}
)


def longest_video_seconds(policy_seconds: float | None) -> float:
    """The longest video modlake pays for: Rekognition's 6 hours, or a tighter max_video_minutes policy."""
    return MAX_VIDEO_SECONDS if policy_seconds is None else min(policy_seconds, MAX_VIDEO_SECONDS)


def utc_now() -> datetime:
    """Current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO-8601 UTC string with millisecond precision, sortable as text."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str | int | float) -> datetime:
    """Parse an ISO-8601 string or epoch milliseconds into an aware UTC datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def partition_date(ts: datetime) -> str:
    """dt partition value (UTC date) for a timestamp."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d")


def object_version(value: object) -> str | None:
    """An S3 version id, or None for an unversioned object (S3 says so with no id, "" or the string "null")."""
    return None if value in (None, "", "null") else str(value)


@dataclass(frozen=True)
class VideoRef:
    """One exact S3 object version that modlake moderates."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None = None
    uploaded_at: datetime | None = None
    source: VideoSource = VideoSource.UPLOAD  # not part of the identity: both ways to one version are one video

    @property
    def version_or_etag(self) -> str:
        """What identifies this content: the version id when versioned, else the ETag."""
        if self.version_id:
            return self.version_id
        if self.etag:
            return self.etag
        raise ValueError(f"s3://{self.bucket}/{self.key} has neither a version id nor an ETag")

    @property
    def video_id(self) -> str:
        """Deterministic id: the same object version always gets the same id (and job)."""
        material = "\x00".join((self.bucket, self.key, self.version_or_etag))
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def identity_fields(self) -> dict[str, Any]:
        """The identity columns every analytics row and DynamoDB summary carries."""
        return {
            "video_id": self.video_id,
            "bucket": self.bucket,
            "object_key": self.key,
            "version_id": self.version_id,
            "source": str(self.source),
        }

    def to_message(self) -> dict[str, Any]:
        """JSON-safe form, used in retry messages."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "uploaded_at": iso(self.uploaded_at) if self.uploaded_at else None,
            "source": str(self.source),
        }

    @classmethod
    def from_message(cls, body: dict[str, Any]) -> VideoRef:
        uploaded = body.get("uploaded_at")
        return cls(
            bucket=str(body["bucket"]),
            key=str(body["key"]),
            version_id=body.get("version_id"),
            etag=body.get("etag"),
            size=int(body["size"]) if body.get("size") is not None else None,
            uploaded_at=parse_time(uploaded) if uploaded else None,
            source=VideoSource(body.get("source") or VideoSource.UPLOAD),
        )


def client_request_token(video: VideoRef) -> str:
    """Same object version → same token → Rekognition returns the same JobId on a retry.

    botocore does not validate the token's pattern or length, so we do.
    """
    token = video.video_id
    if not CLIENT_TOKEN_PATTERN.match(token):
        raise ValueError(f"client request token {token!r} does not match {CLIENT_TOKEN_PATTERN.pattern}")
    return token


def job_tag(video: VideoRef) -> str:
    """JobTag carrying the video id, echoed back in the completion message."""
    tag = video.video_id
    if not JOB_TAG_PATTERN.match(tag):
        raise ValueError(f"job tag {tag!r} does not match {JOB_TAG_PATTERN.pattern}")
    return tag


@dataclass(frozen=True)
class ObjectInfo:
    """What HeadObject tells about the exact version."""

    size: int
    etag: str
    version_id: str | None


MAX_OBJECT_TAGS = 10  # S3 allows at most 10 tags per object version


class QuarantineMode(StrEnum):
    """The `quarantine` context: no tags, tags only, or tags and a bucket policy denying reads of flagged versions
    (functions/common/quarantine.py writes the tags; it is here so that settings and the CLI need no Powertools)."""

    OFF = "off"
    TAG = "tag"
    DENY = "deny"

    @property
    def tags(self) -> bool:
        """Whether outcomes are written as object tags (tag and deny)."""
        return self is not QuarantineMode.OFF


class TagWrite(StrEnum):
    """What writing one object tag on one object version did (the quarantine's moderation tag)."""

    WRITTEN = "written"  # the tag set now holds the tag
    UNCHANGED = "unchanged"  # it held it already (a replay): nothing was written
    NO_ROOM = "no_room"  # the version has MAX_OBJECT_TAGS other tags: nothing was written
    MISSING = "missing"  # the version no longer exists


@dataclass(frozen=True)
class ContentType:
    name: str
    confidence: float


@dataclass(frozen=True)
class VideoMetadata:
    """Stream facts Rekognition reports on every results page."""

    codec: str | None = None
    format: str | None = None
    duration_ms: int | None = None
    frame_rate: float | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    color_range: str | None = None

    @classmethod
    def from_rekognition(cls, meta: dict[str, Any]) -> VideoMetadata:
        """Read GetContentModeration's VideoMetadata, whose keys are Rekognition's names."""
        return cls._typed({name: meta.get(key) for name, (key, _) in _METADATA_FIELDS.items()})

    @classmethod
    def from_columns(cls, data: dict[str, Any]) -> VideoMetadata:
        """Read what columns() wrote (a DynamoDB item's Decimals or checkpoint JSON); other keys are ignored."""
        return cls._typed({name: data.get(name) for name in _METADATA_FIELDS})

    @classmethod
    def _typed(cls, values: dict[str, Any]) -> VideoMetadata:
        return cls(**{name: None if v is None else _METADATA_FIELDS[name][1](v) for name, v in values.items()})

    def columns(self) -> dict[str, Any]:
        """The stream facts as moderation_videos and the DynamoDB summary item name them (the field names)."""
        return asdict(self)


# Each stream fact: its field (= column) name → its key in Rekognition's VideoMetadata and its type.
_METADATA_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "codec": ("Codec", str),
    "format": ("Format", str),
    "duration_ms": ("DurationMillis", int),
    "frame_rate": ("FrameRate", float),
    "frame_width": ("FrameWidth", int),
    "frame_height": ("FrameHeight", int),
    "color_range": ("ColorRange", str),
}


@dataclass(frozen=True)
class RawDetection:
    """One element of GetContentModeration's ModerationLabels, every field kept."""

    timestamp_ms: int
    name: str
    parent_name: str
    taxonomy_level: int | None
    confidence: float
    start_timestamp_ms: int | None = None
    end_timestamp_ms: int | None = None
    duration_ms: int | None = None
    content_types: tuple[ContentType, ...] = ()


@dataclass(frozen=True)
class ResultsPage:
    """One GetContentModeration page."""

    job_status: str
    status_message: str | None
    detections: tuple[RawDetection, ...]
    metadata: VideoMetadata
    model_version: str | None
    next_token: str | None


@dataclass(frozen=True)
class Detection:
    """A detection enriched with its position, top-level category and flag decision."""

    index: int
    raw: RawDetection
    top_category: str
    flagged: bool

    def fields(self) -> dict[str, Any]:
        """The detection's own values, named as in moderation_labels and in DynamoDB label items."""
        raw = self.raw
        return {
            "detection_index": self.index,
            "timestamp_ms": raw.timestamp_ms,
            "start_timestamp_ms": raw.start_timestamp_ms,
            "end_timestamp_ms": raw.end_timestamp_ms,
            "segment_duration_ms": raw.duration_ms,
            "label_name": raw.name,
            "parent_name": raw.parent_name,
            "top_category": self.top_category,
            "taxonomy_level": raw.taxonomy_level,
            "confidence": raw.confidence,
            "flagged": self.flagged,
            "content_types": [{"name": c.name, "confidence": c.confidence} for c in raw.content_types],
        }


@dataclass(frozen=True)
class JobNotification:
    """Rekognition's completion message (delivered through SNS)."""

    job_id: str
    status: str
    api: str
    job_tag: str | None
    timestamp: datetime
    bucket: str | None
    key: str | None


# Summary fields the DynamoDB summary item and checkpoints keep but moderation_videos has no column for.
REVIEW_SUMMARY_FIELDS = frozenset({"top_category", "top_confidence"})


@dataclass
class VideoSummary:
    """Per-video roll-up of a job's detections."""

    label_count: int = 0
    flagged_label_count: int = 0
    max_confidence: float | None = None
    first_flagged_ms: int | None = None
    categories: set[str] = field(default_factory=set)
    flagged_categories: set[str] = field(default_factory=set)
    # The category of the highest-confidence flagging detection, and its confidence: a review's "top category".
    top_category: str | None = None
    top_confidence: float | None = None

    @property
    def flagged(self) -> bool:
        return self.flagged_label_count > 0

    def add(self, detection: Detection, ignored: bool) -> None:
        """Fold one detection into the summary (ignored categories count but never flag)."""
        self.label_count += 1
        if ignored:
            return
        self.categories.add(detection.top_category)
        confidence = detection.raw.confidence
        if self.max_confidence is None or confidence > self.max_confidence:
            self.max_confidence = confidence
        if detection.flagged:
            self.flagged_label_count += 1
            self.flagged_categories.add(detection.top_category)
            ts = detection.raw.timestamp_ms
            if self.first_flagged_ms is None or ts < self.first_flagged_ms:
                self.first_flagged_ms = ts
            if self.top_confidence is None or confidence > self.top_confidence:
                self.top_category, self.top_confidence = detection.top_category, confidence

    def columns(self) -> dict[str, Any]:
        """The summary as the flat columns moderation_videos, the DynamoDB summary item and the event share."""
        return {"flagged": self.flagged} | {k: v for k, v in self.to_json().items() if k not in REVIEW_SUMMARY_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return {
            "label_count": self.label_count,
            "flagged_label_count": self.flagged_label_count,
            "max_confidence": self.max_confidence,
            "first_flagged_ms": self.first_flagged_ms,
            "categories": sorted(self.categories),
            "flagged_categories": sorted(self.flagged_categories),
            "top_category": self.top_category,
            "top_confidence": self.top_confidence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoSummary:
        return cls(
            label_count=int(data["label_count"]),
            flagged_label_count=int(data["flagged_label_count"]),
            max_confidence=float(data["max_confidence"]) if data.get("max_confidence") is not None else None,
            first_flagged_ms=int(data["first_flagged_ms"]) if data.get("first_flagged_ms") is not None else None,
            categories=set(data.get("categories", [])),
            flagged_categories=set(data.get("flagged_categories", [])),
            top_category=data.get("top_category"),
            top_confidence=float(data["top_confidence"]) if data.get("top_confidence") is not None else None,
        )


class VerdictKind(StrEnum):
    """A reviewer's verdict on a flagged video: the flag was right, or it was not."""

    CONFIRMED = "confirmed"
    OVERTURNED = "overturned"


@dataclass(frozen=True)
class LatestVerdict:
    """A video's most recent verdict, as its summary item keeps it (the full history is in verdict items)."""

    verdict_id: str
    verdict: VerdictKind
    category: str | None
    reviewer: str
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (the API's `verdict`, and the summary item's `latest_verdict` map)."""
        return {
            "verdict_id": self.verdict_id,
            "verdict": str(self.verdict),
            "category": self.category,
            "reviewer": self.reviewer,
            "recorded_at": iso(self.recorded_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatestVerdict:
        """Read what to_json wrote (the summary item's `latest_verdict` map)."""
        return cls(
            verdict_id=str(data["verdict_id"]),
            verdict=VerdictKind(data["verdict"]),
            category=data.get("category"),
            reviewer=str(data["reviewer"]),
            recorded_at=parse_time(data["recorded_at"]),
        )


@dataclass
class VideoRecord:
    """The video's summary item in DynamoDB."""

    video: VideoRef
    status: VideoStatus
    status_since: datetime
    updated_at: datetime
    job_id: str | None = None
    status_reason: str | None = None
    attempts: int = 0
    min_confidence: float | None = None
    summary: VideoSummary | None = None
    metadata: VideoMetadata | None = None
    model_version: str | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None
    checkpoint: CollectCheckpoint | None = None
    claimed_at: datetime | None = None  # a waiting video a freed slot was just given to (its start is on its way)
    awaiting_review: bool = False  # flagged and not yet reviewed: in the review queue
    latest_verdict: LatestVerdict | None = None

    @property
    def video_id(self) -> str:
        return self.video.video_id


@dataclass(frozen=True)
class CollectCheckpoint:
    """Where a long collection stopped, so the next invocation resumes within the 24 h token life."""

    next_token: str
    chunks_written: int
    detections_done: int
    summary: VideoSummary
    metadata: VideoMetadata
    model_version: str | None
    completed_at: datetime

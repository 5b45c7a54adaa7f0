"""`modlake backfill`, the plain part: what is selected, what of it needs moderating, what that costs, and the job's
deterministic names (token, manifest, description). No AWS calls here; cli.backfill does those."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from cli.errors import CliError
from functions.common.backfill import (
    JOB_DESCRIPTION_PREFIX,
    MANIFEST_PREFIX,
    s3_batch_cost,
)
from functions.common.models import MAX_VIDEO_BYTES, MAX_VIDEO_SECONDS, VideoRef, VideoStatus, longest_video_seconds

MAX_DESCRIPTION_CHARS = 256  # CreateJob's Description limit (botocore's s3control model)
NULL_VERSION = "null"  # what S3 calls the version of an object written while versioning was off
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Statuses after which a video version is not moderated again, and those of a video already on its way.
OUTCOME_STATUSES = frozenset({VideoStatus.SUCCEEDED, VideoStatus.FAILED, VideoStatus.SKIPPED, VideoStatus.DELETED})
WAITING_STATUSES = frozenset({VideoStatus.QUEUED, VideoStatus.IN_PROGRESS})


def backfill_day(text: str | None, option: str) -> date | None:
    """A --since/--until value: exactly YYYY-MM-DD (Python would also take 20240131 and week dates)."""
    if text is None:
        return None
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"bad {option} {text!r}: expected a date as YYYY-MM-DD") from None


@dataclass(frozen=True)
class Selection:
    """What a backfill covers: the media bucket, a key prefix, and upload days (UTC, both ends included)."""

    bucket: str
    prefix: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def uri(self) -> str:
        """The selection's bucket and prefix as people paste them."""
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def days(self) -> str:
        """since..until, an open end as `*`."""
        return f"{self.since or '*'}..{self.until or '*'}"

    def covers(self, moment: datetime) -> bool:
        """True when an object's LastModified falls between since 00:00 UTC and the end of until (UTC)."""
        moment = moment.astimezone(UTC)
        if self.since is not None and moment < datetime.combine(self.since, time(0), UTC):
            return False
        return self.until is None or moment < datetime.combine(self.until + timedelta(days=1), time(0), UTC)

    def canonical(self) -> list[str]:
        """The selection as plain values, for hashing."""
        return [self.bucket, self.prefix, str(self.since or ""), str(self.until or "")]


def parse_selection(
    uri: str | None, *, media_bucket: str, stack_prefix: str, since: date | None, until: date | None
) -> Selection:
    """s3://BUCKET[/PREFIX] (default: the media bucket) within the stack's own key prefix, else a one-line error."""
    bucket, prefix = media_bucket, ""
    if uri is not None:
        if not uri.startswith("s3://"):
            raise CliError(f"{uri!r} is not an S3 URI: expected s3://BUCKET[/PREFIX]")
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise CliError(f"{uri!r} names no bucket: expected s3://BUCKET[/PREFIX]")
    if bucket != media_bucket:
        raise CliError(
            f"s3://{bucket} is not the stack's media bucket: backfill moderates s3://{media_bucket} only "
            "(the stack's functions and Rekognition can read no other bucket)"
        )
    if prefix.startswith(stack_prefix):
        narrowed = prefix
    elif stack_prefix.startswith(prefix):
        narrowed = stack_prefix  # a shorter prefix still means only what the stack moderates
    else:
        raise CliError(
            f"s3://{bucket}/{prefix} is outside the prefix {stack_prefix!r} the stack moderates: "
            f"use s3://{bucket}/{stack_prefix}…"
        )
    if since and until and since > until:
        raise CliError(f"--since {since} is after --until {until}: nothing would be selected")
    return Selection(bucket, narrowed, since, until)


@dataclass(frozen=True)
class StoredObject:
    """One current object version in the media bucket, as ListObjectVersions describes it."""

    bucket: str
    key: str
    version_id: str | None  # None: written while versioning was off (S3 says "null")
    etag: str  # without the quotes S3 puts around it
    size: int
    last_modified: datetime

    @property
    def video(self) -> VideoRef:
        """The exact version as the pipeline names it (its video id keys the DynamoDB summary)."""
        return VideoRef(bucket=self.bucket, key=self.key, version_id=self.version_id, etag=self.etag, size=self.size)

    @property
    def identity(self) -> tuple[str, str]:
        """(key, version id or, unversioned, ETag): what makes this content this content."""
        return self.key, self.version_id or self.etag

    @property
    def manifest_version(self) -> str:
        """The VersionId column: the version id, or "null" for the unversioned version (S3 accepts it as an id)."""
        return self.version_id or NULL_VERSION


def is_video_key(key: str, suffixes: Sequence[str]) -> bool:
    """True when the key ends with one of the stack's suffixes, in any case (as start_moderation decides)."""
    return key.lower().endswith(tuple(f".{suffix.lower()}" for suffix in suffixes))


def select_candidates(
    objects: Iterable[StoredObject], selection: Selection, suffixes: Sequence[str]
) -> list[StoredObject]:
    """The objects the selection covers: a video suffix, inside the prefix, uploaded on a selected day."""
    return [
        obj
        for obj in objects
        if obj.key.startswith(selection.prefix)
        and is_video_key(obj.key, suffixes)
        and selection.covers(obj.last_modified)
    ]


@dataclass(frozen=True)
class HeaderReading:
    """What a video's movie header said: its duration (None: unknown), or why it is not a readable movie."""

    seconds: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Sorted:
    """The candidates split by what the pipeline already knows of them."""

    empty: list[StoredObject] = field(default_factory=list)
    moderated: list[StoredObject] = field(default_factory=list)
    waiting: list[StoredObject] = field(default_factory=list)
    to_moderate: list[StoredObject] = field(default_factory=list)

    @property
    def needing_header(self) -> list[StoredObject]:
        """The videos whose duration is worth a ranged read (one over 10 GB is skipped by the pipeline anyway)."""
        return [obj for obj in self.to_moderate if obj.size <= MAX_VIDEO_BYTES]


def duration_limit_seconds(max_video_minutes: float) -> float:
    """The longest video the pipeline pays for, from the stack's max_video_minutes (0: no policy)."""
    return longest_video_seconds(max_video_minutes * 60 if max_video_minutes > 0 else None)


def sort_candidates(candidates: Sequence[StoredObject], statuses: Mapping[str, VideoStatus | str]) -> Sorted:
    """Empty ones left out; a version with an outcome, or waiting/running, is left alone; the rest is moderated.

    `statuses` maps video ids to their summary's status. A status this CLI does not know counts as an outcome:
    a backfill must never pay twice for a version the pipeline already holds.
    """
    result = Sorted()
    for obj in candidates:
        status = statuses.get(obj.video.video_id)
        if obj.size == 0:
            result.empty.append(obj)
        elif status is None:
            result.to_moderate.append(obj)
        elif status in WAITING_STATUSES:
            result.waiting.append(obj)
        else:
            result.moderated.append(obj)
    return result


@dataclass(frozen=True)
class BackfillPlan:
    """The dry run's numbers: what would be sent to the job, and what it would cost."""

    selection: Selection
    candidates: list[StoredObject]
    sorted: Sorted
    headers: dict[tuple[str, str], HeaderReading]
    price_per_minute: float
    ranged_gets: int
    max_video_seconds: float = MAX_VIDEO_SECONDS  # Rekognition's 6 hours, or the stack's tighter policy

    @property
    def to_moderate(self) -> list[StoredObject]:
        """The manifest's objects."""
        return self.sorted.to_moderate

    def _header(self, obj: StoredObject) -> HeaderReading | None:
        return self.headers.get(obj.identity)

    @property
    def unreadable(self) -> list[tuple[StoredObject, str]]:
        """Videos whose header is not a movie's, with the reason (sent anyway: the batch function reports them)."""
        return [
            (obj, reading.problem)
            for obj in self.to_moderate
            if (reading := self._header(obj)) is not None and reading.problem is not None
        ]

    @property
    def unknown_duration(self) -> list[StoredObject]:
        """Movies whose header leaves the duration unknown (a fragmented file without mehd)."""
        return [
            obj
            for obj in self.to_moderate
            if (reading := self._header(obj)) is not None and reading.problem is None and reading.seconds is None
        ]

    @property
    def over_size_limit(self) -> list[StoredObject]:
        """Videos over Rekognition's 10 GB: the pipeline skips them, so they cost no minutes."""
        return [obj for obj in self.to_moderate if obj.size > MAX_VIDEO_BYTES]

    @property
    def over_time_limit(self) -> list[StoredObject]:
        """Videos over Rekognition's 6 hours (or the max_video_minutes policy): the pipeline skips them, so they cost
        no minutes."""
        return [obj for obj in self.to_moderate if (seconds := self._seconds(obj)) and seconds > self.max_video_seconds]

    @property
    def duration_limit(self) -> str:
        """The limit over_time_limit applies, as the table names it: "6 h" or the policy's minutes."""
        if self.max_video_seconds >= MAX_VIDEO_SECONDS:
            return "6 h"
        return f"{self.max_video_seconds / 60:g} min (policy)"

    def _seconds(self, obj: StoredObject) -> float | None:
        reading = self._header(obj)
        return reading.seconds if reading is not None else None

    @property
    def total_bytes(self) -> int:
        """The size of everything the job would be sent."""
        return sum(obj.size for obj in self.to_moderate)

    @property
    def video_seconds(self) -> float:
        """The seconds Rekognition would be paid for: known durations up to its 6-hour limit."""
        return sum(
            seconds
            for obj in self.to_moderate
            if (seconds := self._seconds(obj)) is not None and seconds <= self.max_video_seconds
        )

    @property
    def video_minutes(self) -> float:
        """video_seconds in minutes."""
        return self.video_seconds / 60

    @property
    def rekognition_cost(self) -> float:
        """Estimated: minutes × the stack's price per minute."""
        return self.video_minutes * self.price_per_minute

    @property
    def s3_batch_cost(self) -> float:
        """What S3 Batch Operations charges for one job over the manifest (nothing when no job is needed)."""
        return s3_batch_cost(len(self.to_moderate)) if self.to_moderate else 0.0

    @property
    def token(self) -> str:
        """CreateJob's ClientRequestToken: the selection and every candidate version, so a rerun gets the same job."""
        return job_token(self.selection, self.candidates)

    def to_json(self) -> dict[str, Any]:
        """The numbers as JSON-safe values."""
        return {
            "selection": {
                "uri": self.selection.uri,
                "bucket": self.selection.bucket,
                "prefix": self.selection.prefix,
                "since": str(self.selection.since) if self.selection.since else None,
                "until": str(self.selection.until) if self.selection.until else None,
            },
            "candidates": len(self.candidates),
            "empty": len(self.sorted.empty),
            "already_moderated": len(self.sorted.moderated),
            "already_waiting_or_running": len(self.sorted.waiting),
            "to_moderate": len(self.to_moderate),
            "unreadable_headers": len(self.unreadable),
            "unknown_duration": len(self.unknown_duration),
            "over_6_hours": len(self.over_time_limit),  # or over the stack's max_video_minutes policy when it sets one
            "max_video_minutes": self.max_video_seconds / 60,
            "over_10_gb": len(self.over_size_limit),
            "total_bytes": self.total_bytes,
            "video_minutes": self.video_minutes,
            "price_per_minute": self.price_per_minute,
            "estimated_rekognition_cost": self.rekognition_cost,
            "s3_batch_operations_cost": self.s3_batch_cost,
            "ranged_gets": self.ranged_gets,
            "token": self.token,
            "unreadable": [
                {"key": obj.key, "version_id": obj.version_id, "reason": reason} for obj, reason in self.unreadable
            ],
        }


def job_token(selection: Selection, candidates: Iterable[StoredObject]) -> str:
    """64 hex chars over the selection and the sorted candidate versions (CreateJob takes 1–64 characters)."""
    material = json.dumps([selection.canonical(), sorted(obj.identity for obj in candidates)], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()[:64]


def manifest_key(token: str) -> str:
    """Where a selection's manifest lives in the analytics bucket (one per token: never overwritten)."""
    return f"{MANIFEST_PREFIX}{token}.csv"


def manifest_body(objects: Iterable[StoredObject]) -> bytes:
    """CSV rows Bucket,Key,VersionId; keys URL-encoded as S3 Batch Operations requires ('/' kept, '+' as %2B)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for obj in objects:
        writer.writerow([obj.bucket, quote(obj.key, safe="/"), obj.manifest_version])
    return text.getvalue().encode()


def job_description(selection: Selection) -> str:
    """`modlake backfill s3://bucket/prefix since..until`: how ListJobs tells this selection's jobs apart.

    A prefix too long for CreateJob's 256 characters is cut, and a hash of the whole selection keeps it unique.
    """
    text = f"{JOB_DESCRIPTION_PREFIX} {selection.uri} {selection.days}"
    if len(text) <= MAX_DESCRIPTION_CHARS:
        return text
    digest = hashlib.sha256(json.dumps(selection.canonical()).encode()).hexdigest()[:12]
    shell = f"{JOB_DESCRIPTION_PREFIX} s3://{selection.bucket}/… {selection.days} #{digest}"
    room = max(MAX_DESCRIPTION_CHARS - len(shell), 0)
    return f"{JOB_DESCRIPTION_PREFIX} s3://{selection.bucket}/{selection.prefix[:room]}… {selection.days} #{digest}"

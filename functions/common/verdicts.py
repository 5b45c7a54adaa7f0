"""Reviewers' verdicts on flagged videos: the request a reviewer sends, its validation, and its deterministic id.

A verdict's id is a hash of the video, the reviewer and the client's request_id (or, without one, of the verdict
itself), so a replayed request names the same verdict: the same DynamoDB item, the same Parquet object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.common.errors import ModlakeError
from functions.common.models import LatestVerdict, VerdictKind, VideoRecord, iso, parse_time
from functions.common.taxonomy import TOP_LEVEL_CATEGORIES

MAX_NOTE_CHARS = 1000
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9-]{8,64}")
VERDICT_FIELDS = ("verdict", "category", "note", "request_id")


class InvalidVerdict(ModlakeError):
    """A verdict request with a missing or invalid field (the API answers 400 naming it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class VerdictRequest:
    """What a reviewer asks to record: the verdict, optionally a category and a note, and an idempotency token."""

    verdict: VerdictKind
    category: str | None = None
    note: str | None = None
    request_id: str | None = None

    @classmethod
    def parse(cls, body: Any) -> VerdictRequest:
        """Validate a decoded JSON body; InvalidVerdict names the first field that is wrong."""
        if not isinstance(body, dict):
            raise InvalidVerdict("body", "expected a JSON object")
        unknown = sorted(set(body) - set(VERDICT_FIELDS))
        if unknown:
            raise InvalidVerdict(unknown[0], f"unknown field (expected {', '.join(VERDICT_FIELDS)})")
        verdict = body.get("verdict")
        if verdict not in {str(kind) for kind in VerdictKind}:
            raise InvalidVerdict("verdict", "must be 'confirmed' or 'overturned'")
        category = _optional_text(body, "category")
        if category is not None and category not in TOP_LEVEL_CATEGORIES:
            raise InvalidVerdict(
                "category", f"must be a top-level moderation category: {', '.join(TOP_LEVEL_CATEGORIES)}"
            )
        note = _optional_text(body, "note")
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise InvalidVerdict("note", f"at most {MAX_NOTE_CHARS} characters (got {len(note)})")
        request_id = _optional_text(body, "request_id")
        if request_id is not None and not REQUEST_ID_PATTERN.fullmatch(request_id):
            raise InvalidVerdict("request_id", f"must match {REQUEST_ID_PATTERN.pattern}")
        return cls(VerdictKind(verdict), category, note, request_id)

    def same_as(self, verdict: Verdict) -> bool:
        """Whether a stored verdict records this request (a replay), not another one under a reused request_id."""
        return (self.verdict, self.category, self.note) == (verdict.verdict, verdict.category, verdict.note)


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidVerdict(name, "must be a string")
    value = value.strip()
    return value or None


def verdict_id(video_id: str, reviewer: str, request: VerdictRequest) -> str:
    """The same request (by request_id, or by content without one) from the same reviewer → the same id."""
    parts: tuple[str, ...] = (video_id, reviewer, request.request_id or "")
    if not request.request_id:
        parts = (video_id, reviewer, str(request.verdict), request.category or "", request.note or "")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    """One recorded verdict, with what the video looked like when it was reviewed (for precision by category)."""

    verdict_id: str
    video_id: str
    verdict: VerdictKind
    category: str | None
    note: str | None
    reviewer: str  # the caller's IAM ARN, as the function URL's IAM authorizer verified it
    recorded_at: datetime
    request_id: str | None
    top_category: str | None  # the video's highest-confidence flagged category at review time
    max_confidence: float | None

    @classmethod
    def of(cls, record: VideoRecord, request: VerdictRequest, reviewer: str, now: datetime) -> Verdict:
        """The verdict a request records on a video now."""
        summary = record.summary
        return cls(
            verdict_id=verdict_id(record.video_id, reviewer, request),
            video_id=record.video_id,
            verdict=request.verdict,
            category=request.category,
            note=request.note,
            reviewer=reviewer,
            recorded_at=now,
            request_id=request.request_id,
            top_category=summary.top_category if summary else None,
            max_confidence=summary.max_confidence if summary else None,
        )

    @property
    def latest(self) -> LatestVerdict:
        """What the video's summary keeps of it."""
        return LatestVerdict(self.verdict_id, self.verdict, self.category, self.reviewer, self.recorded_at)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: the API's answer, and the fields of the DynamoDB verdict item."""
        return {
            "verdict_id": self.verdict_id,
            "video_id": self.video_id,
            "verdict": str(self.verdict),
            "category": self.category,
            "note": self.note,
            "reviewer": self.reviewer,
            "recorded_at": iso(self.recorded_at),
            "request_id": self.request_id,
            "top_category": self.top_category,
            "max_confidence": self.max_confidence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        """Read what to_json wrote (a DynamoDB verdict item's Decimals included)."""
        max_confidence = data.get("max_confidence")
        return cls(
            verdict_id=str(data["verdict_id"]),
            video_id=str(data["video_id"]),
            verdict=VerdictKind(data["verdict"]),
            category=data.get("category"),
            note=data.get("note"),
            reviewer=str(data["reviewer"]),
            recorded_at=parse_time(data["recorded_at"]),
            request_id=data.get("request_id"),
            top_category=data.get("top_category"),
            max_confidence=float(max_confidence) if max_confidence is not None else None,
        )

"""What one digest says: totals, categories, the most severe flagged videos and a 7-day trend, uploads and backfill
apart (a backfill of thousands of stored videos must not bury the day's uploads)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from functions.common.display import s3_console_url
from functions.common.models import VideoSource


@dataclass(frozen=True)
class DigestTotals:
    """Videos of one source with an outcome in the digest day, by outcome."""

    videos: int = 0
    moderated: int = 0
    flagged: int = 0
    failed: int = 0
    skipped: int = 0
    moderated_duration_ms: int = 0


@dataclass(frozen=True)
class ReviewLine:
    """Reviewers' work as of the end of the digest day: the flagged videos still awaiting a verdict (and since when
    the oldest has waited), and the verdicts recorded during the day."""

    awaiting: int = 0
    oldest_awaiting_since: datetime | None = None  # UTC, naive as Athena returns it
    reviewed: int = 0
    overturned: int = 0

    @property
    def overturn_rate(self) -> float | None:
        """Overturned verdicts per verdict recorded that day (None: no verdict)."""
        return self.overturned / self.reviewed if self.reviewed else None

    @property
    def is_empty(self) -> bool:
        return self.awaiting == 0 and self.reviewed == 0


@dataclass(frozen=True)
class CategoryCount:
    """Videos of one source a top-level category was detected in, and flagged."""

    category: str
    detected_videos: int
    flagged_videos: int


@dataclass(frozen=True)
class FlaggedVideo:
    """One of the day's most severe flagged videos."""

    video_id: str
    bucket: str
    object_key: str
    version_id: str | None
    max_confidence: float
    first_flagged_ms: int | None
    flagged_categories: str
    flagged_label_count: int
    duration_ms: int | None
    completed_at: datetime
    source: VideoSource = VideoSource.UPLOAD

    @property
    def backfill(self) -> bool:
        return self.source is VideoSource.BACKFILL

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.object_key}"

    @property
    def first_flagged_at(self) -> str:
        """Video time of the first flagging detection as mm:ss (minutes run past 59 for long videos)."""
        if self.first_flagged_ms is None:
            return "–"
        seconds = self.first_flagged_ms // 1000
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def console_url(self, region: str) -> str:
        """The object's page in the S3 console."""
        return s3_console_url(region, self.bucket, self.object_key, self.version_id)


@dataclass(frozen=True)
class TrendDay:
    """Outcomes of one source on one local day of the 7-day trend."""

    day: date
    moderated: int = 0
    flagged: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Digest:
    """Everything one digest email shows. totals, categories and trend are the uploads' (rows written before the
    source column existed count as uploads); backfill* are the same for `modlake backfill`; top_flagged holds both,
    each video with its source."""

    stage: str
    day: date
    timezone: str
    region: str
    totals: DigestTotals
    categories: tuple[CategoryCount, ...]
    top_flagged: tuple[FlaggedVideo, ...]
    trend: tuple[TrendDay, ...]
    generated_at: datetime
    backfill: DigestTotals = DigestTotals()
    backfill_categories: tuple[CategoryCount, ...] = ()
    backfill_trend: tuple[TrendDay, ...] = ()
    review: ReviewLine = ReviewLine()
    period_end: datetime | None = None  # the end of the digest day (UTC): what the oldest wait is measured to

    @property
    def has_backfill(self) -> bool:
        """The backfill reached an outcome for some video this day: only then does the digest mention it."""
        return self.backfill.videos > 0

    @property
    def nothing_flagged(self) -> bool:
        return self.totals.flagged == 0 and self.backfill.flagged == 0

    @property
    def needs_attention(self) -> bool:
        """Something flagged or failed, uploaded or backfilled: the cases `digest_skip_empty` never silences."""
        return any(t.flagged > 0 or t.failed > 0 for t in (self.totals, self.backfill))

    @property
    def subject(self) -> str:
        """The email subject (SNS: at most 100 printable characters); the backfill's numbers follow the uploads'."""
        totals = self.totals
        what = f"{totals.flagged} flagged" if totals.flagged else "nothing flagged"
        subject = f"modlake {self.stage} digest {self.day.isoformat()}: {what}, {totals.moderated} moderated"
        if self.has_backfill:
            subject += f"; backfill: {self.backfill.flagged} flagged, {self.backfill.moderated} moderated"
        return subject[:100]

    def to_json(self) -> dict[str, Any]:
        """The archived form: plain JSON types, videos with their S3 URI, mm:ss and console link."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["generated_at"] = self.generated_at.isoformat()
        data["subject"] = self.subject
        data["top_flagged"] = [
            asdict(video)
            | {
                "source": str(video.source),
                "completed_at": video.completed_at.isoformat(),
                "s3_uri": video.s3_uri,
                "first_flagged_at": video.first_flagged_at,
                "console_url": video.console_url(self.region),
            }
            for video in self.top_flagged
        ]
        data["review"] = asdict(self.review) | {
            "oldest_awaiting_since": self.review.oldest_awaiting_since.isoformat()
            if self.review.oldest_awaiting_since
            else None,
            "overturn_rate": self.review.overturn_rate,
        }
        data["period_end"] = self.period_end.isoformat() if self.period_end else None
        for name in ("trend", "backfill_trend"):
            data[name] = [asdict(day) | {"day": day.day.isoformat()} for day in getattr(self, name)]
        return data

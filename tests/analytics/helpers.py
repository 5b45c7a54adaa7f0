"""Expected answers for the analytics tests, computed from the sample lake's description (never by SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import queries
from sandbox.athena.engine import LakeQueryEngine, QueryResult
from sandbox.sample_lake import SampleLake, SampleVideo

VIDEOS_TABLE = "moderation_videos"
LABELS_TABLE = "moderation_labels"


@dataclass(frozen=True)
class Window:
    """A period in UTC, [start, end), and the dt partitions it touches."""

    start: datetime
    end: datetime

    @property
    def days(self) -> list[date]:
        last = (self.end - timedelta(milliseconds=1)).date()
        return [self.start.date() + timedelta(days=i) for i in range((last - self.start.date()).days + 1)]

    def parameters(self) -> list[str]:
        """day_from, day_to, period_start, period_end as Athena execution parameters."""
        naive = [self.start.replace(tzinfo=None), self.end.replace(tzinfo=None)]
        return [queries.execution_parameter(value) for value in (self.days[0], self.days[-1], *naive)]


def local_days(first: date, last: date, zone: str) -> Window:
    """The calendar days first..last in a time zone, as a UTC window."""
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return Window(start, end)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def run(engine: LakeQueryEngine, name: str, *values: str | int | float | date | datetime) -> QueryResult:
    """Run the named query (a file of queries/) with Python values as its execution parameters."""
    query = queries.named_query(name)
    parameters = [queries.execution_parameter(v) for v in values]
    return engine.execute(query.sql, parameters)


def naive(ts: datetime) -> datetime:
    """A UTC datetime as the engine returns timestamps (no zone, milliseconds)."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def moderated(videos: list[SampleVideo]) -> list[SampleVideo]:
    return [v for v in videos if v.status == "SUCCEEDED"]


def flagged(videos: list[SampleVideo]) -> list[SampleVideo]:
    return [v for v in moderated(videos) if v.flagged]


def uploads(videos: list[SampleVideo]) -> list[SampleVideo]:
    return [v for v in videos if not v.backfill]


def backfilled(videos: list[SampleVideo]) -> list[SampleVideo]:
    return [v for v in videos if v.backfill]


def by_source(videos: list[SampleVideo]) -> dict[str, list[SampleVideo]]:
    """The videos per source ('upload', 'backfill'), only the sources that have any."""
    grouped: dict[str, list[SampleVideo]] = {}
    for video in videos:
        grouped.setdefault(str(video.source), []).append(video)
    return grouped


def outcome_counts(videos: list[SampleVideo]) -> dict[str, int]:
    """videos, moderated, flagged, failed, skipped: what the volume and digest queries count."""
    return {
        "videos": len(videos),
        "moderated": len(moderated(videos)),
        "flagged": len(flagged(videos)),
        "failed": sum(v.status == "FAILED" for v in videos),
        "skipped": sum(v.status == "SKIPPED" for v in videos),
    }


def severity_order(videos: list[SampleVideo]) -> list[SampleVideo]:
    """Most severe first: highest max confidence, then earliest completed, then video id."""
    return sorted(videos, key=lambda v: (-(v.max_confidence or 0.0), v.completed_at, v.video_id))


def videos_in(lake: SampleLake, days: list[date]) -> list[SampleVideo]:
    wanted = set(days)
    return [v for v in lake.videos if v.day in wanted]

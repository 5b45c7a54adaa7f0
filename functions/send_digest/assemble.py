"""The digest of one day, assembled from the digest queries' rows: what send_digest sends and `modlake digest
--preview` shows. Pure assembly over a QueryRunner, so the CLI can build a digest without the Lambda's logging."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from functions.common.models import VideoSource
from functions.common.ports import QueryRunner
from functions.send_digest.model import CategoryCount, Digest, DigestTotals, FlaggedVideo, ReviewLine, TrendDay
from functions.send_digest.period import DigestPeriod, digest_day, trend_period
from queries import named_query


@dataclass(frozen=True)
class DigestScope:
    """Whose digest it is: the stage, the time zone its calendar days are in, the region its console links use."""

    stage: str
    timezone: str
    region: str


def build_digest(day: date, queries: QueryRunner, scope: DigestScope, *, generated_at: datetime) -> Digest:
    """Run the digest queries for one local day (and its 7-day trend) and assemble the digest."""
    period = digest_day(day, scope.timezone)
    trend = trend_period(day, scope.timezone)
    day_parameters = period.execution_parameters()
    totals_rows, category_rows, top_rows, trend_rows, review_rows = queries.run_all(
        [
            (named_query("digest_totals"), day_parameters),
            (named_query("digest_categories"), day_parameters),
            (named_query("digest_top_flagged"), day_parameters),
            (named_query("digest_trend"), trend.execution_parameters()),
            (named_query("digest_review"), day_parameters),
        ]
    )
    totals = {
        source: DigestTotals(**{k: v or 0 for k, v in rows[0].items()}) if rows else DigestTotals()
        for source, rows in _per_source(totals_rows).items()
    }
    categories = {
        source: tuple(CategoryCount(**row) for row in rows) for source, rows in _per_source(category_rows).items()
    }
    trend_days = {source: _fold_trend(trend, rows) for source, rows in _per_source(trend_rows).items()}
    upload, backfill = VideoSource.UPLOAD, VideoSource.BACKFILL
    return Digest(
        stage=scope.stage,
        day=day,
        timezone=scope.timezone,
        region=scope.region,
        totals=totals[upload],
        categories=categories[upload],
        top_flagged=tuple(FlaggedVideo(**row, source=source) for source, row in map(_source_of, top_rows)),
        trend=trend_days[upload],
        generated_at=generated_at,
        backfill=totals[backfill],
        backfill_categories=categories[backfill],
        backfill_trend=trend_days[backfill],
        review=_review_line(review_rows),
        period_end=period.end.astimezone(UTC).replace(tzinfo=None),
    )


def _review_line(rows: list[dict[str, Any]]) -> ReviewLine:
    """The digest_review row (one, always: its counts are scalar subqueries)."""
    if not rows:
        return ReviewLine()
    row = rows[0]
    return ReviewLine(
        awaiting=int(row.get("awaiting") or 0),
        oldest_awaiting_since=row.get("oldest_awaiting_since"),
        reviewed=int(row.get("reviewed") or 0),
        overturned=int(row.get("overturned") or 0),
    )


def _source_of(row: dict[str, Any]) -> tuple[VideoSource, dict[str, Any]]:
    """A row's source and its other columns; a row without one counts as an upload, as the queries' coalesce does."""
    values = dict(row)
    return VideoSource(values.pop("source", None) or VideoSource.UPLOAD), values


def _per_source(rows: list[dict[str, Any]]) -> dict[VideoSource, list[dict[str, Any]]]:
    """Rows grouped by their source (every source present, in the query's order within each)."""
    grouped: dict[VideoSource, list[dict[str, Any]]] = {source: [] for source in VideoSource}
    for source, values in map(_source_of, rows):
        grouped[source].append(values)
    return grouped


def _fold_trend(trend: DigestPeriod, rows: list[dict[str, Any]]) -> tuple[TrendDay, ...]:
    """One source's 15-minute UTC buckets folded into the trend's local days (every day present, even empty)."""
    by_day: dict[date, TrendDay] = {}
    for first in range((trend.last_day - trend.first_day).days + 1):
        local = date.fromordinal(trend.first_day.toordinal() + first)
        by_day[local] = TrendDay(day=local)
    for row in rows:
        local = trend.local_day(datetime.fromtimestamp(int(row["bucket_start_epoch"]), UTC))
        if local in by_day:  # the query's period is the trend's, so every bucket falls in one of its days
            seen = by_day[local]
            by_day[local] = replace(
                seen,
                moderated=seen.moderated + int(row["moderated"] or 0),
                flagged=seen.flagged + int(row["flagged"] or 0),
                failed=seen.failed + int(row["failed"] or 0),
                skipped=seen.skipped + int(row["skipped"] or 0),
            )
    return tuple(by_day.values())

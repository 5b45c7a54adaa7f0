"""The daily digest: query the day's outcomes, archive the digest, send it once per day."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from functions.common.observability import count, logger
from functions.common.ports import DigestNotifier, HtmlMailer, LakeObjects, OncePerKey, QueryRunner
from functions.send_digest.model import CategoryCount, Digest, DigestTotals, FlaggedVideo, TrendDay
from functions.send_digest.period import digest_day, previous_day, trend_period
from functions.send_digest.render import render_html, render_text
from queries import named_query

ARCHIVE_PREFIX = "digests/"


class InvalidDigestRequest(ValueError):
    """The invocation payload is not a digest request."""


class DigestOutcome(StrEnum):
    SENT = "SENT"
    ALREADY_SENT = "ALREADY_SENT"
    SKIPPED_EMPTY = "SKIPPED_EMPTY"


@dataclass(frozen=True)
class DigestRequest:
    """What to send: the scheduled run sends yesterday's digest; operators may name a day and force a resend."""

    day: date | None = None
    force: bool = False

    @classmethod
    def from_event(cls, event: Any) -> DigestRequest:
        """Read {"date": "yyyy-mm-dd", "force": true}; the scheduler sends {} (both keys optional)."""
        if event is None:
            return cls()
        if not isinstance(event, dict):
            raise InvalidDigestRequest(f"expected a JSON object, got {type(event).__name__}")
        unknown = set(event) - {"date", "force"}
        if unknown:
            raise InvalidDigestRequest(f"unknown keys {sorted(unknown)}; expected 'date' and/or 'force'")
        force = event.get("force", False)
        if not isinstance(force, bool):
            raise InvalidDigestRequest(f"'force' must be true or false, got {force!r}")
        raw_day = event.get("date")
        if raw_day is None:
            return cls(force=force)
        try:
            day = date.fromisoformat(str(raw_day))
        except ValueError as error:
            raise InvalidDigestRequest(f"'date' must be yyyy-mm-dd, got {raw_day!r}") from error
        return cls(day=day, force=force)


@dataclass(frozen=True)
class DigestDeps:
    """What send_digest needs from the outside world, and how it is configured."""

    queries: QueryRunner
    archive: LakeObjects
    notifier: DigestNotifier
    mailer: HtmlMailer | None
    once: OncePerKey
    clock: Callable[[], datetime]
    stage: str
    timezone: str
    region: str
    skip_empty: bool = False


@dataclass(frozen=True)
class DigestResult:
    """What a run did: outcome, day and where the digest is archived."""

    outcome: DigestOutcome
    day: date
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": str(self.outcome), "day": self.day.isoformat(), **self.details}


def build_digest(day: date, deps: DigestDeps) -> Digest:
    """Run the digest queries for one local day (and its 7-day trend) and assemble the digest."""
    period = digest_day(day, deps.timezone)
    trend = trend_period(day, deps.timezone)
    day_parameters = period.execution_parameters()
    totals_rows, category_rows, top_rows, trend_rows = deps.queries.run_all(
        [
            (named_query("digest_totals"), day_parameters),
            (named_query("digest_categories"), day_parameters),
            (named_query("digest_top_flagged"), day_parameters),
            (named_query("digest_trend"), trend.execution_parameters()),
        ]
    )
    totals = DigestTotals(**{k: v or 0 for k, v in totals_rows[0].items()}) if totals_rows else DigestTotals()
    by_day: dict[date, TrendDay] = {}
    for first in range((trend.last_day - trend.first_day).days + 1):
        local = date.fromordinal(trend.first_day.toordinal() + first)
        by_day[local] = TrendDay(day=local)
    for row in trend_rows:
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
    return Digest(
        stage=deps.stage,
        day=day,
        timezone=deps.timezone,
        region=deps.region,
        totals=totals,
        categories=tuple(CategoryCount(**row) for row in category_rows),
        top_flagged=tuple(FlaggedVideo(**row) for row in top_rows),
        trend=tuple(by_day.values()),
        generated_at=deps.clock(),
    )


def archive_keys(day: date) -> dict[str, str]:
    """Where a day's digest is archived in the analytics bucket (outside every table prefix)."""
    base = f"{ARCHIVE_PREFIX}dt={day.isoformat()}/digest"
    return {"json": f"{base}.json", "html": f"{base}.html", "text": f"{base}.txt"}


def send_digest(request: DigestRequest, deps: DigestDeps) -> DigestResult:
    """Send the digest of `request.day` (default: yesterday in the digest's time zone) once, unless forced."""
    day = request.day or previous_day(deps.clock(), deps.timezone)

    def work() -> dict[str, Any]:
        digest = build_digest(day, deps)
        text, html = render_text(digest), render_html(digest)
        keys = archive_keys(day)
        deps.archive.put(keys["json"], _json_bytes(digest.to_json()), "application/json")
        deps.archive.put(keys["html"], html.encode(), "text/html; charset=utf-8")
        deps.archive.put(keys["text"], text.encode(), "text/plain; charset=utf-8")
        details: dict[str, Any] = {"archive": keys, "flagged": digest.totals.flagged, "failed": digest.totals.failed}
        if deps.skip_empty and not digest.needs_attention:
            logger.info("nothing flagged or failed; digest_skip_empty is set, so no email", day=day.isoformat())
            return {"outcome": str(DigestOutcome.SKIPPED_EMPTY), **details}
        details["sns_message_id"] = deps.notifier.publish(digest.subject, text)
        if deps.mailer is not None:
            details["ses_message_id"] = deps.mailer.send(digest.subject, html, text)
        count("DigestsSent")
        logger.info("digest sent", day=day.isoformat(), flagged=digest.totals.flagged, html=deps.mailer is not None)
        return {"outcome": str(DigestOutcome.SENT), **details}

    if request.force:
        logger.info("forced digest: sending regardless of earlier runs", day=day.isoformat())
        result = work()
    else:
        key = {"stage": deps.stage, "day": day.isoformat(), "timezone": deps.timezone}
        result, ran = deps.once.run_once(key, work)
        if not ran:
            logger.info("digest for this day already handled; not sending again", day=day.isoformat())
            return DigestResult(DigestOutcome.ALREADY_SENT, day, {"earlier": result})
    details = dict(result)
    return DigestResult(DigestOutcome(details.pop("outcome")), day, details)


def _json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False).encode()

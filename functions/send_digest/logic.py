"""The daily digest: query the day's outcomes, archive the digest, send it once per day."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from functions.common.observability import count, logger
from functions.common.ports import DigestNotifier, HtmlMailer, LakeObjects, OncePerKey, QueryRunner
from functions.send_digest.assemble import DigestScope, build_digest
from functions.send_digest.period import previous_day
from functions.send_digest.render import render_html, render_text

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

    @property
    def scope(self) -> DigestScope:
        """Whose digest this run builds."""
        return DigestScope(stage=self.stage, timezone=self.timezone, region=self.region)


@dataclass(frozen=True)
class DigestResult:
    """What a run did: outcome, day and where the digest is archived."""

    outcome: DigestOutcome
    day: date
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": str(self.outcome), "day": self.day.isoformat(), **self.details}


def archive_keys(day: date) -> dict[str, str]:
    """Where a day's digest is archived in the analytics bucket (outside every table prefix)."""
    base = f"{ARCHIVE_PREFIX}dt={day.isoformat()}/digest"
    return {"json": f"{base}.json", "html": f"{base}.html", "text": f"{base}.txt"}


def send_digest(request: DigestRequest, deps: DigestDeps) -> DigestResult:
    """Send the digest of `request.day` (default: yesterday in the digest's time zone) once, unless forced."""
    day = request.day or previous_day(deps.clock(), deps.timezone)
    key = None if request.force else {"stage": deps.stage, "day": day.isoformat(), "timezone": deps.timezone}

    def work() -> dict[str, Any]:
        digest = build_digest(day, deps.queries, deps.scope, generated_at=deps.clock())
        text, html = render_text(digest), render_html(digest)
        keys = archive_keys(day)
        deps.archive.put(keys["json"], _json_bytes(digest.to_json()), "application/json")
        deps.archive.put(keys["html"], html.encode(), "text/html; charset=utf-8")
        deps.archive.put(keys["text"], text.encode(), "text/plain; charset=utf-8")
        details: dict[str, Any] = {"archive": keys, "flagged": digest.totals.flagged, "failed": digest.totals.failed}
        if digest.has_backfill:  # uploads keep their own numbers; the backfill's come next to them
            details |= {"backfill_flagged": digest.backfill.flagged, "backfill_failed": digest.backfill.failed}
        if deps.skip_empty and not digest.needs_attention:
            logger.info("nothing flagged or failed; digest_skip_empty is set, so no email", day=day.isoformat())
            return {"outcome": str(DigestOutcome.SKIPPED_EMPTY), **details}
        details["sns_message_id"] = _sent_once(deps, key, "sns", lambda: deps.notifier.publish(digest.subject, text))
        mailer = deps.mailer
        if mailer is not None:
            details["ses_message_id"] = _sent_once(deps, key, "ses", lambda: mailer.send(digest.subject, html, text))
        count("DigestsSent")
        logger.info(
            "digest sent",
            day=day.isoformat(),
            flagged=digest.totals.flagged,
            backfill_flagged=digest.backfill.flagged,
            html=deps.mailer is not None,
        )
        return {"outcome": str(DigestOutcome.SENT), **details}

    if key is None:  # forced
        logger.info("forced digest: sending regardless of earlier runs", day=day.isoformat())
        result = work()
    else:
        result, ran = deps.once.run_once(key, work)
        if not ran:
            logger.info("digest for this day already handled; not sending again", day=day.isoformat())
            return DigestResult(DigestOutcome.ALREADY_SENT, day, {"earlier": result})
    details = dict(result)
    return DigestResult(DigestOutcome(details.pop("outcome")), day, details)


def _sent_once(deps: DigestDeps, day_key: dict[str, str] | None, channel: str, send: Callable[[], str]) -> str:
    """Send on one channel once per day, so a run retried after a later step failed (SES after SNS, or recording
    the day as sent) does not email that channel's subscribers again; a forced run always sends."""
    if day_key is None:
        return send()
    result, _ = deps.once.run_once(day_key | {"channel": channel}, lambda: {"message_id": send()})
    return str(result["message_id"])


def _json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False).encode()

"""The review API's logic: look a video up, list the review queue, record a reviewer's verdict (retry-safe).

The reviewer is the caller's IAM ARN as the function URL's IAM authorizer verified it (requestContext.authorizer.iam
.userArn), never a value the client sends. Refusals are ApiErrors carrying the HTTP status and the object they
concern, so the handler answers and logs each one the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from functions.common.errors import ModlakeError
from functions.common.lake import LakeWriter
from functions.common.models import VerdictKind, VideoRecord, iso, utc_now
from functions.common.observability import count
from functions.common.ports import MediaTags, ReviewStore
from functions.common.quarantine import ModerationOutcome, QuarantineMode, tag_outcome
from functions.common.verdicts import InvalidVerdict, Verdict, VerdictRequest

logger = Logger(child=True)

DEFAULT_QUEUE_LIMIT = 50
MAX_QUEUE_LIMIT = 500
VIDEO_ID_PATTERN = re.compile(r"[0-9a-f]{32}")  # VideoRef.video_id: 32 hex characters


class ApiError(ModlakeError):
    """A request the API refuses: its HTTP status, the message it answers, and the object it concerns (logged)."""

    status = 500

    def __init__(self, message: str, **concerns: Any) -> None:
        super().__init__(message)
        self.message = message
        self.concerns = {name: value for name, value in concerns.items() if value is not None}


class BadRequest(ApiError):
    """A missing or invalid parameter or body field (400)."""

    status = 400


class Forbidden(ApiError):
    """No verified IAM identity in the request (403)."""

    status = 403


class NotFound(ApiError):
    """No such video, object or version (404)."""

    status = 404


class Conflict(ApiError):
    """The video takes no such verdict: not flagged, or a reused request_id (409)."""

    status = 409


@dataclass
class ReviewDeps:
    """Everything review_api's logic talks to. Quarantine on (tag or deny): a verdict re-tags the video's version."""

    store: ReviewStore
    lake: LakeWriter
    tags: MediaTags | None = None
    quarantine: QuarantineMode = QuarantineMode.OFF
    clock: Callable[[], datetime] = utc_now


@dataclass(frozen=True)
class Answer:
    """An HTTP status and its JSON body."""

    status: int
    body: dict[str, Any]


def _required(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise BadRequest(f"query parameter '{name}' is required", **{k: params.get(k) for k in ("bucket", "key")})
    return params[name]  # the key exactly as given: S3 keys may start or end with spaces


def video_view(record: VideoRecord) -> dict[str, Any]:
    """A video as the API shows it: identity, status, flag, flagged categories, latest verdict."""
    video, summary = record.video, record.summary
    return {
        "video_id": record.video_id,
        "bucket": video.bucket,
        "key": video.key,
        "version_id": video.version_id,
        "status": str(record.status),
        "flagged": bool(summary and summary.flagged),
        "categories": sorted(summary.flagged_categories) if summary else [],
        "max_confidence": summary.max_confidence if summary else None,
        "completed_at": iso(record.completed_at) if record.completed_at else None,
        "awaiting_review": record.awaiting_review,
        "verdict": record.latest_verdict.to_json() if record.latest_verdict else None,
    }


def lookup_video(params: Mapping[str, str], deps: ReviewDeps) -> Answer:
    """GET /videos?bucket=&key=[&version_id=]: the newest version modlake has seen, or the one named."""
    bucket, key = _required(params, "bucket"), _required(params, "key")
    version_id = params.get("version_id") or None
    versions = deps.store.find_by_object(bucket, key)  # newest upload first
    if version_id is not None:
        versions = [r for r in versions if r.video.version_id == version_id]
    if not versions:
        raise NotFound(
            f"no video s3://{bucket}/{key}" + (f" version {version_id}" if version_id else ""),
            bucket=bucket,
            key=key,
            version_id=version_id,
        )
    # The index is eventually consistent; the summary item itself is read consistently.
    record = deps.store.get(versions[0].video_id) or versions[0]
    return Answer(200, video_view(record))


def queue_limit(raw: str | None) -> int:
    """The review queue's page size: DEFAULT_QUEUE_LIMIT, or an integer from 1 to MAX_QUEUE_LIMIT."""
    if raw is None or not raw.strip():
        return DEFAULT_QUEUE_LIMIT
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_QUEUE_LIMIT:
        raise BadRequest(f"query parameter 'limit' must be an integer from 1 to {MAX_QUEUE_LIMIT}", limit=raw)
    return int(raw)


def review_queue(params: Mapping[str, str], deps: ReviewDeps) -> Answer:
    """GET /review-queue[?limit=N]: flagged videos without a verdict, oldest flag first, with their age."""
    limit = queue_limit(params.get("limit"))
    now = deps.clock()
    videos = []
    for record in deps.store.review_queue(limit):
        summary, flagged_at = record.summary, record.completed_at or record.status_since
        videos.append(
            {
                "video_id": record.video_id,
                "bucket": record.video.bucket,
                "key": record.video.key,
                "version_id": record.video.version_id,
                "flagged_at": iso(flagged_at),
                "age_seconds": max(0, int((now - flagged_at).total_seconds())),
                "top_category": summary.top_category if summary else None,
                "max_confidence": summary.max_confidence if summary else None,
            }
        )
    return Answer(200, {"videos": videos})


def reviewer_of(request_context: Mapping[str, Any] | None) -> str:
    """The caller's ARN the function URL's IAM authorizer verified; Forbidden when the request carries none."""
    authorizer = (request_context or {}).get("authorizer") or {}
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    arn = iam.get("userArn") if isinstance(iam, Mapping) else None
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise Forbidden("the request carries no verified IAM identity (sign it with SigV4)")
    return arn


def parse_verdict_body(body: str | None, video_id: str) -> VerdictRequest:
    """The request body as a VerdictRequest; BadRequest naming the field that is wrong."""
    try:
        decoded = json.loads(body) if body else None
    except json.JSONDecodeError as error:
        raise BadRequest(f"body: not valid JSON ({error.msg})", video_id=video_id) from error
    try:
        return VerdictRequest.parse(decoded)
    except InvalidVerdict as error:
        raise BadRequest(str(error), video_id=video_id, field=error.field) from error


def record_verdict(
    video_id: str, body: str | None, request_context: Mapping[str, Any] | None, deps: ReviewDeps
) -> Answer:
    """POST /videos/{video_id}/verdicts: 201 with the new verdict, or 200 with the stored one for a replay."""
    reviewer = reviewer_of(request_context)
    request = parse_verdict_body(body, video_id)
    record = deps.store.get(video_id) if VIDEO_ID_PATTERN.fullmatch(video_id) else None
    if record is None:
        raise NotFound(f"no video {video_id}", video_id=video_id)
    verdict = Verdict.of(record, request, reviewer, deps.clock())
    stored = deps.store.find_verdict(video_id, verdict.verdict_id)
    if stored is None:
        if record.summary is None or not record.summary.flagged:
            raise Conflict(
                f"video {video_id} is not flagged (status {record.status}): only flagged videos take verdicts",
                video_id=video_id,
                key=record.video.key,
            )
        if deps.store.add_verdict(verdict):
            _settle(verdict, record, deps)
            count("VerdictsRecorded")
            count(f"Verdicts{str(verdict.verdict).capitalize()}")
            logger.info(
                "verdict recorded",
                video_id=video_id,
                key=record.video.key,
                verdict=str(verdict.verdict),
                verdict_id=verdict.verdict_id,
                reviewer=reviewer,
            )
            return Answer(201, {"verdict": verdict.to_json()})
        stored = deps.store.find_verdict(video_id, verdict.verdict_id) or verdict  # the same write won a race
    if not request.same_as(stored):
        raise Conflict(
            f"request_id {request.request_id} already recorded a different verdict on video {video_id}",
            video_id=video_id,
            request_id=request.request_id,
        )
    # A replay finishes what its first try may not have (the summary, the lake object, the tag): each is idempotent.
    _settle(stored, record, deps)
    logger.info("verdict replayed", video_id=video_id, verdict_id=stored.verdict_id, reviewer=reviewer)
    return Answer(200, {"verdict": stored.to_json()})


def _settle(verdict: Verdict, record: VideoRecord, deps: ReviewDeps) -> None:
    """Everything a stored verdict implies: latest on the summary, off the queue, its lake row, the quarantine tag."""
    latest = deps.store.apply_verdict(verdict)
    deps.lake.write_verdict(verdict, record)
    if latest:
        release_or_hold(verdict, record, deps)


def release_or_hold(verdict: Verdict, record: VideoRecord, deps: ReviewDeps) -> None:
    """Quarantine seam: the latest verdict decides the version's moderation tag (overturned → clean, confirmed →
    flagged again); nothing when quarantine is off."""
    outcome = ModerationOutcome.CLEAN if verdict.verdict is VerdictKind.OVERTURNED else ModerationOutcome.FLAGGED
    tag_outcome(deps.tags, record.video, outcome, deps.quarantine)

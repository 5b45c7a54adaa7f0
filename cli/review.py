"""`modlake review`: the review queue, and a reviewer's verdict, through the stack's review API.

Every request goes to the review function's URL (output ReviewApiUrl), signed with SigV4 as the caller, so the
reviewer the verdict names is the identity the URL's IAM authorizer verified: the CLI never says who it is.
A verdict carries a request id made once per command, so a request the CLI retries is recorded once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from rich.console import Console
from rich.table import Table

from cli.errors import NO_CREDENTIALS, CliError, Unreachable
from cli.labels import pick_version
from cli.output import humanise_age, percent, plain
from cli.target import Target
from cli.videos import find_videos
from functions.common.models import VideoRecord

REVIEW_API_OUTPUT = "ReviewApiUrl"
SIGNING_SERVICE = "lambda"  # function URLs are signed for Lambda
DEFAULT_QUEUE_LIMIT = 50
REQUEST_TIMEOUT_SECONDS = 30
CONFIRMED, OVERTURNED = "confirmed", "overturned"


@dataclass(frozen=True)
class ApiAnswer:
    """One answer of the review API: its HTTP status and its JSON body."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class QueuedVideo:
    """A flagged video nobody has reviewed yet."""

    video_id: str
    bucket: str
    key: str
    version_id: str | None
    age: timedelta
    top_category: str | None
    max_confidence: float | None


@dataclass(frozen=True)
class RecordedVerdict:
    """A verdict as the API recorded it; `replayed` when the same request had been recorded before."""

    video: VideoRecord
    verdict: dict[str, Any]
    replayed: bool


def call_review_api(
    target: Target, method: str, path: str, *, query: Mapping[str, str] | None = None, body: Any = None
) -> ApiAnswer:
    """One SigV4-signed request to the review API as the caller; a refusal (403) or no answer is a one-line error."""
    url = target.output(REVIEW_API_OUTPUT).rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    credentials = target.credentials()
    if credentials is None:
        raise Unreachable(NO_CREDENTIALS)
    SigV4Auth(credentials, SIGNING_SERVICE, target.region).add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(url, data=data, method=method, headers=dict(prepared.headers.items()))
    handlers = [urllib.request.ProxyHandler({})] if target.is_local else []  # loopback: never through a proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(http, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return ApiAnswer(int(response.status), _json_body(response.read()))
    except urllib.error.HTTPError as error:
        answer = ApiAnswer(error.code, _json_body(error.read()))
    except (urllib.error.URLError, OSError) as error:
        raise Unreachable(f"cannot reach the review API at {url}: {error}") from None
    message = str(answer.body.get("message") or answer.body.get("Message") or "")
    if answer.status == 403:
        raise Unreachable(
            f"the review API refused the caller (403{': ' + message if message else ''}): "
            "it needs lambda:InvokeFunctionUrl on the review function"
        )
    if answer.status >= 400:
        raise CliError(f"the review API answered {answer.status}: {message or 'no message'}")
    return answer


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": raw.decode("utf-8", "replace")[:200]}
    return body if isinstance(body, dict) else {"value": body}


def review_queue(target: Target, limit: int = DEFAULT_QUEUE_LIMIT) -> list[QueuedVideo]:
    """The flagged videos awaiting a verdict, oldest first."""
    answer = call_review_api(target, "GET", "/review-queue", query={"limit": str(limit)})
    return [
        QueuedVideo(
            video_id=item["video_id"],
            bucket=item["bucket"],
            key=item["key"],
            version_id=item.get("version_id"),
            age=timedelta(seconds=float(item.get("age_seconds") or 0)),
            top_category=item.get("top_category"),
            max_confidence=item.get("max_confidence"),
        )
        for item in answer.body.get("videos", [])
    ]


def reviewed_video(target: Target, key: str, version: str | None) -> VideoRecord:
    """The video a verdict is for: KEY's newest version (or --version), or the video with that id."""
    return pick_version(find_videos(target, key), version)


def record_verdict(
    target: Target,
    record: VideoRecord,
    verdict: str,
    *,
    category: str | None = None,
    note: str | None = None,
    request_id: str | None = None,
) -> RecordedVerdict:
    """POST the verdict for one video; the request id makes a retried command's request count once."""
    body: dict[str, Any] = {"verdict": verdict, "request_id": request_id or str(uuid.uuid4())}
    if category:
        body["category"] = category
    if note:
        body["note"] = note
    path = f"/videos/{quote(record.video.video_id, safe='')}/verdicts"
    answer = call_review_api(target, "POST", path, body=body)
    return RecordedVerdict(record, dict(answer.body.get("verdict") or {}), replayed=answer.status == 200)


def choose_verdict(confirm: bool, overturn: bool) -> str | None:
    """--confirm or --overturn (not both); None when neither was given."""
    if confirm and overturn:
        raise CliError("use either --confirm or --overturn, not both")
    return CONFIRMED if confirm else OVERTURNED if overturn else None


def render_queue(videos: Sequence[QueuedVideo], console: Console) -> None:
    """The review queue as a table, oldest first."""
    if not videos:
        console.print("the review queue is empty: every flagged video has a verdict")
        return
    table = Table("key", "version", "waiting", "top category", "max conf.")
    for video in videos:
        version = (video.version_id or "–")[:12]
        table.add_row(
            plain(video.key), plain(version), humanise_age(video.age), plain(video.top_category or "–"),
            percent(video.max_confidence),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(videos)} awaiting review, oldest first", style="dim")


def render_verdict(recorded: RecordedVerdict, console: Console) -> None:
    """What was recorded, by whom and when."""
    verdict = recorded.verdict
    video = recorded.video.video
    what = str(verdict.get("verdict", "?"))
    if verdict.get("category"):
        what += f" ({verdict['category']})"
    when = verdict.get("recorded_at", "")
    with_moment = f" at {datetime.fromisoformat(when):%Y-%m-%d %H:%M:%S} UTC" if when else ""
    prefix = "already recorded: " if recorded.replayed else ""
    reviewer = verdict.get("reviewer", "?")
    console.print(
        f"{prefix}{what}: {video.key} (version {video.version_id or '–'}) by {reviewer}{with_moment}",
        markup=False,
        soft_wrap=True,
    )

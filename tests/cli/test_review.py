"""`modlake review`'s client side: SigV4-signed requests to the review API, as the caller, and what it prints.

A small HTTP server stands in for the function URL: it records each request, checks its SigV4 signature by signing
the same request again with botocore (service lambda, the target's region, the caller's secret) and answers
what a test scripts. The API itself and the sandbox's serving of it are tested where they live.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from rich.console import Console

from cli.errors import CliError, Unreachable
from cli.review import (
    CONFIRMED,
    OVERTURNED,
    call_review_api,
    choose_verdict,
    record_verdict,
    render_queue,
    render_verdict,
    review_queue,
)
from cli.target import LOCAL_ACCESS_KEY, Target
from functions.common.adapters.clients import LOCAL_SECRET_KEY
from functions.common.models import VideoRecord, VideoRef, VideoStatus

REGION = "eu-west-1"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


@dataclass
class FakeApi:
    """What the stand-in function URL saw, and what it answers next (status, JSON body)."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    answer: tuple[int, Any] = (200, {})


def _signature_verifies(method: str, url: str, headers: dict[str, str], body: bytes) -> bool:
    """Compute the SigV4 signature of the request as received (its signed headers, at its own X-Amz-Date)."""
    authorization = headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return False
    fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(","))
    signed = set(fields["SignedHeaders"].split(";"))
    again = AWSRequest(method=method, url=url, data=body or None,
                       headers={k: v for k, v in headers.items() if k.lower() in signed})  # fmt: skip
    again.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY), "lambda", REGION)
    string_to_sign = signer.string_to_sign(again, signer.canonical_request(again))
    return signer.signature(string_to_sign, again) == fields["Signature"]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    state: dict[str, FakeApi] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            fake = state["api"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            url = f"http://{self.headers['Host']}{self.path}"
            fake.seen.append(
                Seen(self.command, self.path, headers, body, _signature_verifies(self.command, url, headers, body))
            )
            status, payload = fake.answer
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["api"] = FakeApi(url=f"http://127.0.0.1:{server.server_port}/")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["api"]
    server.shutdown()
    server.server_close()


def _target(api: FakeApi) -> Target:
    return Target(stack_name="modlake-test", region=REGION, outputs={"ReviewApiUrl": api.url},
                  endpoint_url="http://127.0.0.1:1")  # fmt: skip


def _record(key: str = "uploads/été/clip.mp4") -> VideoRecord:
    video = VideoRef(bucket="media", key=key, version_id="v1", etag="e1")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    return VideoRecord(video=video, status=VideoStatus.SUCCEEDED, status_since=now, updated_at=now)


def test_the_queue_is_asked_for_with_a_request_signed_for_lambda_in_the_stacks_region(api: FakeApi) -> None:
    # Given an API with one video waiting
    api.answer = (200, {"videos": [{"video_id": "a" * 32, "bucket": "media", "key": "uploads/x.mp4",
                                    "version_id": "v9", "age_seconds": 7200, "top_category": "Violence",
                                    "max_confidence": 91.5}]})  # fmt: skip
    # When the CLI lists the queue
    (queued,) = review_queue(_target(api), limit=20)
    # Then it sent one GET signed with the caller's key, for lambda in the target's region, that verifies
    (seen,) = api.seen
    assert seen.method == "GET" and seen.path == "/review-queue?limit=20"
    assert seen.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={LOCAL_ACCESS_KEY}/{datetime.now(UTC):%Y%m%d}/{REGION}/lambda/aws4_request"
    )
    assert seen.signature_ok
    assert queued.key == "uploads/x.mp4" and queued.age.total_seconds() == 7200 and queued.top_category == "Violence"
    console = Console(width=120, record=True)
    render_queue([queued], console)
    text = console.export_text()
    assert "uploads/x.mp4" in text and "2h" in text and "Violence" in text and "91.5" in text


def test_a_verdict_is_posted_for_the_video_with_a_request_id_and_printed_with_its_reviewer(api: FakeApi) -> None:
    # Given an API that records the verdict
    reviewer = "arn:aws:iam::123456789012:user/alice"
    api.answer = (201, {"verdict": {"verdict": "overturned", "category": "Alcohol", "reviewer": reviewer,
                                    "recorded_at": "2026-12-01T10:00:00+00:00"}})  # fmt: skip
    record = _record()
    # When the CLI records an overturn with a category and a note
    recorded = record_verdict(_target(api), record, OVERTURNED, category="Alcohol", note="a soda can")
    # Then it POSTed to the video's verdicts, signed, with what the reviewer said and a fresh request id
    (seen,) = api.seen
    assert seen.method == "POST" and seen.path == f"/videos/{record.video.video_id}/verdicts"
    assert seen.signature_ok
    body = json.loads(seen.body)
    assert body["verdict"] == "overturned" and body["category"] == "Alcohol" and body["note"] == "a soda can"
    assert len(body["request_id"]) == 36 and "reviewer" not in body  # who it is comes from the signature alone
    console = Console(width=200, record=True)
    render_verdict(recorded, console)
    assert console.export_text().strip() == (
        f"overturned (Alcohol): uploads/été/clip.mp4 (version v1) by {reviewer} at 2026-12-01 10:00:00 UTC"
    )


def test_a_replayed_verdict_is_shown_as_already_recorded(api: FakeApi) -> None:
    api.answer = (200, {"verdict": {"verdict": "confirmed", "reviewer": "arn:aws:iam::1:user/bob"}})
    recorded = record_verdict(_target(api), _record(), CONFIRMED, request_id="req-12345678")
    assert json.loads(api.seen[0].body)["request_id"] == "req-12345678"
    console = Console(width=200, record=True)
    render_verdict(recorded, console)
    assert console.export_text().startswith("already recorded: confirmed: ")


def test_a_refused_caller_is_told_what_permission_is_missing(api: FakeApi) -> None:
    api.answer = (403, {"Message": "Forbidden"})
    with pytest.raises(Unreachable, match=r"refused the caller \(403: Forbidden\).*lambda:InvokeFunctionUrl"):
        call_review_api(_target(api), "GET", "/review-queue")


def test_bad_input_comes_back_as_the_apis_message(api: FakeApi) -> None:
    api.answer = (400, {"message": "category 'Soda' is not a Rekognition top-level category"})
    with pytest.raises(CliError, match=r"answered 400: category 'Soda' is not"):
        record_verdict(_target(api), _record(), CONFIRMED, category="Soda")


def test_an_api_that_does_not_answer_is_unreachable() -> None:
    target = Target(stack_name="s", region=REGION, outputs={"ReviewApiUrl": "http://127.0.0.1:9/"},
                    endpoint_url="http://127.0.0.1:9")  # fmt: skip
    with pytest.raises(Unreachable, match="cannot reach the review API"):
        review_queue(target)


def test_confirm_and_overturn_exclude_each_other() -> None:
    assert choose_verdict(True, False) == CONFIRMED and choose_verdict(False, True) == OVERTURNED
    assert choose_verdict(False, False) is None
    with pytest.raises(CliError, match="either --confirm or --overturn"):
        choose_verdict(True, True)

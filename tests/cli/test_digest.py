"""`modlake digest`: the Lambda invoke request and response (botocore Stubber), and the local preview."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from cli.digest import INVOKE_CONFIG, digest_lambda, digest_request, preview_digest
from cli.target import Target
from functions.send_digest.logic import DigestRequest
from tests.cli.conftest import OUTPUTS, error_line, modlake
from tests.digest_fakes import FakeQueries

FUNCTION = OUTPUTS["DigestFunctionName"]
SENT = {
    "outcome": "SENT",
    "day": "2026-11-19",
    "archive": {"html": "digests/dt=2026-11-19/digest.html", "json": "digests/dt=2026-11-19/digest.json"},
    "flagged": 2,
    "failed": 0,
    "sns_message_id": "m-1",
}


@pytest.fixture
def lambda_stub(target: Target) -> Iterator[Stubber]:
    """A Stubber on the target's Lambda client (moto cannot run the function without Docker)."""
    with Stubber(digest_lambda(target)) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_invoke(stubber: Stubber, payload: bytes, answer: Any, function_error: str | None = None) -> None:
    """Stub one synchronous Invoke of the digest function with exactly this payload."""
    body = json.dumps(answer).encode()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if function_error:
        response["FunctionError"] = function_error
    stubber.add_response(
        "invoke", response, {"FunctionName": FUNCTION, "InvocationType": "RequestResponse", "Payload": payload}
    )


def test_invoke_with_date_and_force(target: Target, lambda_stub: Stubber) -> None:
    # Given the function answering with a sent digest
    expect_invoke(lambda_stub, b'{"date": "2026-11-19", "force": true}', SENT)
    # When the digest for a day is forced
    result = modlake(target, "digest", "--date", "2026-11-19", "--force")
    # Then the request carries both keys (the Stubber checks) and the answer is shown
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "digest for 2026-11-19: SENT"
    assert "archive.html" in result.stdout and "digests/dt=2026-11-19/digest.html" in result.stdout
    assert "sns_message_id" in result.stdout and "m-1" in result.stdout


def test_invoke_without_options_lets_the_function_pick_the_day(target: Target, lambda_stub: Stubber) -> None:
    # Given the function answering that the day was already handled
    expect_invoke(lambda_stub, b"{}", {"outcome": "ALREADY_SENT", "day": "2026-11-20", "earlier": {"flagged": 0}})
    # When the digest is sent without options
    result = modlake(target, "digest")
    # Then the payload is empty (the scheduler's shape) and the outcome is shown
    assert result.exit_code == 0, result.output
    assert "digest for 2026-11-20: ALREADY_SENT" in result.stdout
    assert "earlier.flagged" in result.stdout


def test_the_invoke_is_not_retried_and_waits_for_the_function(target: Target) -> None:
    # When the digest's Lambda client is built
    client = digest_lambda(target)
    # Then a slow function is waited for and a timed-out invoke is not sent again
    assert client.meta.config.read_timeout == 330
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client is digest_lambda(target) and client is not target.client("lambda")
    assert INVOKE_CONFIG.read_timeout > 300


@pytest.mark.parametrize(("day", "force"), [(None, False), (date(2026, 2, 28), False), (None, True)])
def test_the_payload_is_what_the_handler_accepts(day: date | None, force: bool) -> None:
    # When the CLI's payload is parsed by the function's own request parser
    parsed = DigestRequest.from_event(json.loads(json.dumps(digest_request(day, force))))
    # Then it means what the options said
    assert parsed == DigestRequest(day=day, force=force)


def test_a_function_error_is_one_line(target: Target, lambda_stub: Stubber) -> None:
    # Given the function failing
    error = {"errorType": "QueryFailed", "errorMessage": "query digest_totals FAILED: access denied"}
    expect_invoke(lambda_stub, b"{}", error, function_error="Unhandled")
    # When the digest is sent
    result = modlake(target, "digest")
    # Then the failure is one line with the function's error
    assert result.exit_code == 1
    assert error_line(result) == (
        f"modlake: digest function {FUNCTION} failed: QueryFailed: query digest_totals FAILED: access denied"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "19/11/2026"], "modlake: bad --date '19/11/2026': expected YYYY-MM-DD"),
        (["--preview", "--force"], "modlake: --force has no effect with --preview (a preview sends nothing)"),
        (
            ["--timezone", "Asia/Tokyo"],
            "modlake: --timezone applies to --preview only: the function uses its own DIGEST_TIMEZONE",
        ),
        (
            ["--preview", "--timezone", "Mars/Olympus"],
            "modlake: unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Paris",
        ),
    ],
)
def test_option_mistakes(target: Target, lambda_stub: Stubber, args: list[str], message: str) -> None:
    # When the options contradict each other or do not parse
    result = modlake(target, "digest", *args)
    # Then nothing is invoked (the Stubber has no response queued) and one line says why
    assert result.exit_code == 1
    assert error_line(result) == message


def one_flagged_day() -> FakeQueries:
    """Digest query rows for a day with one flagged video."""
    return FakeQueries(
        rows={
            "digest_totals": [
                {"videos": 2, "moderated": 2, "flagged": 1, "failed": 0, "skipped": 0, "moderated_duration_ms": 120_000}
            ],
            "digest_categories": [{"category": "Violence", "detected_videos": 1, "flagged_videos": 1}],
            "digest_top_flagged": [
                {
                    "video_id": "v1",
                    "bucket": "media",
                    "object_key": "uploads/fight.mp4",
                    "version_id": "ver1",
                    "max_confidence": 98.5,
                    "first_flagged_ms": 83_400,
                    "flagged_categories": "Violence",
                    "flagged_label_count": 3,
                    "duration_ms": 60_000,
                    "completed_at": datetime(2026, 11, 20, 9, 30),
                }
            ],
            "digest_trend": [],
        }
    )


def test_preview_builds_the_digest_here_and_writes_html(target: Target, tmp_path: Path) -> None:
    # Given the lake's answers for yesterday (in Tokyo, seen from 2026-11-21 01:00 UTC)
    queries = one_flagged_day()
    clock = lambda: datetime(2026, 11, 21, 1, 0, tzinfo=UTC)  # noqa: E731
    # When the digest is previewed
    preview = preview_digest(target, None, "Asia/Tokyo", tmp_path / "digest", runner=queries, clock=clock)
    # Then the day is Tokyo's yesterday, its period went to the queries, and the text and HTML are built
    assert preview.digest.day == date(2026, 11, 20)
    assert queries.parameters_of("digest_totals")[2:] == ["'2026-11-19 15:00:00.000'", "'2026-11-20 15:00:00.000'"]
    assert preview.digest.stage == "test"
    assert "uploads/fight.mp4" in preview.text and "98.5%" in preview.text
    assert preview.html_path == tmp_path / "digest" / "2026-11-20.html"
    assert "<html" in preview.html_path.read_text(encoding="utf-8")


def test_preview_command_prints_text_and_the_html_path(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the preview's Athena replaced by canned rows
    monkeypatch.setattr("cli.digest.athena_runner", lambda _target: one_flagged_day())
    # When the preview command runs for a day
    result = modlake(target, "digest", "--preview", "--date", "2026-11-20", "--out", str(tmp_path))
    # Then the plain-text digest and the HTML path are printed, and nothing was invoked
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("modlake test: daily digest for 2026-11-20 (UTC)")
    assert f"HTML: {tmp_path / '2026-11-20.html'}" in result.stdout
    assert (tmp_path / "2026-11-20.html").is_file()

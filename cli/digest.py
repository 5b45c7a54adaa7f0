"""`modlake digest`: send the daily digest through the stack's function, or preview it without sending anything.

Default day: the function picks yesterday in its own time zone. A preview runs here and cannot see the
function's DIGEST_TIMEZONE, so it uses yesterday in `--timezone` (default UTC).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.config import Config
from rich.console import Console
from rich.table import Table

from cli.errors import CliError
from cli.output import plain
from cli.query import athena_runner
from cli.target import Target
from functions.common.models import utc_now
from functions.common.ports import QueryRunner
from functions.send_digest.assemble import DigestScope, build_digest
from functions.send_digest.model import Digest
from functions.send_digest.period import previous_day
from functions.send_digest.render import render_html, render_text

DEFAULT_PREVIEW_DIR = Path("build") / "digest"
# The function may run 5 minutes (stacks/digest.py); a timed-out synchronous invoke must not be retried,
# or a forced digest would go out twice.
INVOKE_CONFIG = Config(read_timeout=330, retries={"mode": "standard", "total_max_attempts": 1})


def parse_day(text: str) -> date:
    """A --date value (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"bad --date {text!r}: expected YYYY-MM-DD") from None


def check_timezone(name: str) -> str:
    """An IANA time zone name, or a one-line error."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris") from None
    return name


def digest_request(day: date | None, force: bool) -> dict[str, Any]:
    """The function's payload: only the keys DigestRequest.from_event accepts, and only when set."""
    payload: dict[str, Any] = {}
    if day is not None:
        payload["date"] = day.isoformat()
    if force:
        payload["force"] = True
    return payload


def digest_lambda(target: Target) -> Any:
    """The Lambda client the digest is invoked with: long read timeout, no retries."""
    return target.client("lambda", INVOKE_CONFIG)


def invoke_digest(target: Target, day: date | None = None, force: bool = False) -> dict[str, Any]:
    """Invoke the stack's digest function synchronously and return its DigestResult.as_dict()."""
    function = target.output("DigestFunctionName")
    response = digest_lambda(target).invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(digest_request(day, force)).encode(),
    )
    body = response["Payload"].read()
    try:
        result = json.loads(body) if body else None
    except ValueError:
        result = None
    if response.get("FunctionError"):
        detail = result if isinstance(result, dict) else {}
        kind = detail.get("errorType", response["FunctionError"])
        message = detail.get("errorMessage") or body.decode(errors="replace").strip() or "no error message"
        raise CliError(f"digest function {function} failed: {kind}: {message}")
    if not isinstance(result, dict):
        raise CliError(f"digest function {function} returned {body[:200]!r}, not a digest result")
    return result


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for name, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", json.dumps(value) if isinstance(value, list | bool) else str(value)))
    return rows


def render_digest_result(result: dict[str, Any], console: Console) -> None:
    """The function's answer: outcome and day first, then whatever details it returned."""
    console.print(f"digest for {result.get('day', '?')}: {result.get('outcome', '?')}", style="bold")
    details = {k: v for k, v in result.items() if k not in ("outcome", "day")}
    table = Table(show_header=False, box=None)
    table.add_column(style="dim")
    table.add_column()
    for name, value in _flatten(details):
        table.add_row(name, plain(value))
    console.print(table)


@dataclass(frozen=True)
class DigestPreview:
    """A digest built but not sent: the digest, its plain text, and where its HTML was written."""

    digest: Digest
    text: str
    html_path: Path


def preview_digest(
    target: Target,
    day: date | None = None,
    timezone: str = "UTC",
    out_dir: Path = DEFAULT_PREVIEW_DIR,
    *,
    runner: QueryRunner | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> DigestPreview:
    """Build the digest with send_digest's own logic over the target's Athena, and write its HTML; sends nothing."""
    timezone = check_timezone(timezone)
    day = day or previous_day(clock(), timezone)
    scope = DigestScope(stage=stage_of(target.stack_name), timezone=timezone, region=target.region)
    digest = build_digest(day, runner or athena_runner(target), scope, generated_at=clock())
    html_path = out_dir / f"{day.isoformat()}.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(digest), encoding="utf-8")
    return DigestPreview(digest, render_text(digest), html_path)


def stage_of(stack_name: str) -> str:
    """The stage in a stack name (app.py names stacks modlake-<stage>)."""
    return stack_name.removeprefix("modlake-") or stack_name


def render_digest_preview(preview: DigestPreview, console: Console) -> None:
    """The plain-text digest as a subscriber would read it, then where the HTML version is."""
    console.print(preview.text, markup=False, highlight=False)
    console.print(f"HTML: {preview.html_path}", style="dim", markup=False)

"""`make digest-preview`: the daily digest of a generated sample lake, with the digest queries run on DuckDB.

    python -m sandbox.digest_preview [--out DIR] [--timezone ZONE] [--day YYYY-MM-DD]

Writes the sample lake (35 days ending with --day, that day with a backfill of stored videos alongside its
uploads, written by the real start/collect code), runs send_digest's own logic over it with the local engine
standing in for Athena, and leaves the archive Lambda would write (digest.html, digest.txt, digest.json) under
DIR/digests/dt=<day>/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.send_digest.logic import DigestDeps, DigestRequest, DigestResult, archive_keys, send_digest
from functions.send_digest.period import previous_day
from queries import SqlFile
from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import BACKFILL_VIDEOS, write_sample_lake

SAMPLE_DAYS = 35
PREVIEW_REGION = "us-east-1"


class EngineQueries:
    """send_digest's query port over the local engine (Athena SQL on DuckDB)."""

    def __init__(self, engine: LakeQueryEngine) -> None:
        self.engine = engine

    def run_all(self, requests: Sequence[tuple[SqlFile, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        return [self.engine.execute(query.sql, parameters).dicts() for query, parameters in requests]


class DirectoryObjects:
    """The analytics bucket's objects as files under a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, body: bytes, content_type: str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)


@dataclass
class Outbox:
    """Stands in for SNS and SES: keeps what would have been sent."""

    sent: list[tuple[str, ...]] = field(default_factory=list)

    def publish(self, subject: str, message: str) -> str:
        self.sent.append((subject, message))
        return f"preview-{len(self.sent)}"

    def send(self, subject: str, html: str, text: str) -> str:
        self.sent.append((subject, html, text))
        return f"preview-{len(self.sent)}"


class NoMemory:
    """Previews always render: no once-per-day memory."""

    def run_once(self, key: Any, work: Any) -> tuple[dict[str, Any], bool]:
        return work(), True


def render_preview(out: Path, *, day: date, timezone: str, lake: Path) -> DigestResult:
    """Write the sample lake under `lake` and the day's digest archive under `out`."""
    write_sample_lake(lake, end_day=day, days=SAMPLE_DAYS, backfill_videos=BACKFILL_VIDEOS)
    outbox = Outbox()
    with LakeQueryEngine(lake) as engine:
        deps = DigestDeps(
            queries=EngineQueries(engine),
            archive=DirectoryObjects(out),
            notifier=outbox,
            mailer=outbox,
            once=NoMemory(),
            clock=lambda: datetime.now(UTC),
            stage="preview",
            timezone=timezone,
            region=PREVIEW_REGION,
        )
        return send_digest(DigestRequest(day=day, force=True), deps)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: render the preview and say where it is."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.digest_preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/digest-preview"), help="output directory")
    parser.add_argument("--timezone", default="UTC", help="IANA time zone of the digest day (default UTC)")
    parser.add_argument("--day", type=date.fromisoformat, help="digest day, YYYY-MM-DD (default: yesterday)")
    args = parser.parse_args(argv)
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        parser.error(f"unknown time zone {args.timezone!r} (use an IANA name such as Asia/Tokyo)")
    day = args.day or previous_day(datetime.now(UTC), args.timezone)
    out = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="modlake-sample-lake-") as lake:
        result = render_preview(out, day=day, timezone=args.timezone, lake=Path(lake))
    keys = archive_keys(day)
    print((out / keys["text"]).read_text(encoding="utf-8"))
    flagged = f"{result.details['flagged']} flagged"
    if "backfill_flagged" in result.details:
        flagged += f", backfill {result.details['backfill_flagged']} flagged"
    print(f"digest for {day.isoformat()} ({args.timezone}): {flagged}")
    print(f"  HTML: {out / keys['html']}")
    print(f"  text: {out / keys['text']}")
    print(f"  JSON: {out / keys['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

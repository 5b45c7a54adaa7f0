"""Small builders shared by the tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from functions.common.models import ContentType, RawDetection, VideoRef

EVENTS = Path(__file__).parent / "events"
MEDIA_BUCKET = "modlake-media-test"
NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped event body from tests/events/."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sqs_event(*bodies: dict[str, Any] | str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS → Lambda event carrying the given message bodies."""
    records = []
    for i, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"handle-{i}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1763633967310",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1763633967311",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:modlake-test-start",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def video(key: str = "uploads/clip.mp4", version: str | None = "v1", **kwargs: Any) -> VideoRef:
    return VideoRef(
        bucket=MEDIA_BUCKET,
        key=key,
        version_id=version,
        etag=kwargs.pop("etag", "etag1"),
        uploaded_at=kwargs.pop("uploaded_at", NOW),
        **kwargs,
    )


def detection(
    ts: int, name: str, parent: str = "", level: int = 1, confidence: float = 90.0, **kwargs: Any
) -> RawDetection:
    return RawDetection(
        timestamp_ms=ts, name=name, parent_name=parent, taxonomy_level=level, confidence=confidence, **kwargs
    )


def flagged_run(count: int, start_ms: int = 0) -> list[RawDetection]:
    """`count` detections cycling through the three levels of one taxonomy branch."""
    chain = [("Violence", "", 1), ("Graphic Violence", "Violence", 2), ("Blood & Gore", "Graphic Violence", 3)]
    out = []
    for i in range(count):
        name, parent, level = chain[i % 3]
        out.append(
            detection(
                start_ms + i * 500,
                name,
                parent,
                level,
                confidence=60.0 + (i % 40),
                start_timestamp_ms=start_ms + i * 500,
                end_timestamp_ms=start_ms + i * 500 + 500,
                duration_ms=500,
                content_types=(ContentType("Animated", 81.5),) if i % 7 == 0 else (),
            )
        )
    return out


def pinned_versions(requirements: Path) -> dict[str, str]:
    """A requirements file's `name==version` lines as canonical name → version (extras and comments dropped)."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            pins[canonicalize_name(name.split("[", 1)[0])] = version.strip()
    return pins

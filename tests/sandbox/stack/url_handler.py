"""A stand-in for a function behind a function URL: the request path says what to answer, each event is logged."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any


def handler(event: dict[str, Any], context: Any) -> Any:
    """/bare → a bare JSON value; /raise → fail; /binary → a base64 body; anything else → 201 echoing the event."""
    with Path(os.environ["URL_EVENT_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps(event) + "\n")
    path = event["rawPath"]
    if path == "/bare":
        return {"ok": True, "items": [1, 2]}
    if path == "/raise":
        raise RuntimeError("the handler raised")
    if path == "/binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "isBase64Encoded": True,
            "body": base64.b64encode(b"\x89PNG\x00\x01").decode(),
        }
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-echo": "yes"},
        "cookies": ["session=abc; Path=/", "theme=dark"],
        "body": json.dumps(event),
    }

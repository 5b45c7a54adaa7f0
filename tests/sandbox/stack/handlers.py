"""Handlers the runner tests deploy: each message body says what to do with it, and each batch is logged."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """ok → succeed, fail → report the item, raise → fail the invocation, sleep:N → take N seconds."""
    records = event["Records"]
    with Path(os.environ["BATCH_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps({"records": records, "remaining_ms": context.get_remaining_time_in_millis()}) + "\n")
    failures = []
    for record in records:
        body = record["body"]
        if body == "raise":
            raise RuntimeError("the handler raised")
        if body.startswith("sleep:"):
            time.sleep(float(body.split(":", 1)[1]))
        if body == "fail":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def unserializable_handler(event: dict[str, Any], context: Any) -> Any:
    """Returns what JSON cannot carry (Lambda fails such an invocation with Runtime.MarshalError)."""
    return {"batchItemFailures": {1, 2}}

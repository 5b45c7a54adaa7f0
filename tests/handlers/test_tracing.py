"""Powertools Tracer on a handler, as X-Ray sees it: the handler's subsegment with its annotations, one per AWS call."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.handlers.conftest import LAKE_BUCKET, TABLE
from tests.helpers import MEDIA_BUCKET

ROOT = Path(__file__).resolve().parents[2]
TRACE_HEADER = "Root=1-6748f3a1-3a9b5c7d1e2f4a6b8c0d2e4f;Parent=53995c3f42cd8ad8;Sampled=1"


def _documents(daemon: socket.socket) -> list[dict[str, Any]]:
    """Every segment document the X-Ray SDK sent (each datagram: a header line, then one JSON document)."""
    documents = []
    daemon.settimeout(0.5)
    while True:
        try:
            datagram = daemon.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = datagram.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def _subsegments(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(document: dict[str, Any]) -> None:
        found.append(document)
        for child in document.get("subsegments", []):
            walk(child)

    for document in documents:
        walk(document)
    return found


def _descendants(parent: dict[str, Any], documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    children = [d for d in documents if d.get("parent_id") == parent["id"]] + parent.get("subsegments", [])
    return [found for child in children for found in (child, *_descendants(child, documents))]


def _traced_run(daemon_port: int) -> dict[str, Any]:
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "modlake-dev-queue-backfill",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon_port}",
        "AWS_XRAY_CONTEXT_MISSING": "RUNTIME_ERROR",  # a subsegment without its segment fails, not vanishes
        "POWERTOOLS_SERVICE_NAME": "queue_backfill",
        "VIDEOS_TABLE": TABLE,
        "MEDIA_BUCKET": MEDIA_BUCKET,
        "ANALYTICS_BUCKET": LAKE_BUCKET,
        "VIDEO_SUFFIXES": '["mp4", "mov"]',
        "KEY_PREFIX": "",
        "MAX_VIDEO_MINUTES": "0",
    }
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    completed = subprocess.run(
        [sys.executable, "-m", "tests.handlers.traced_backfill"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_a_traced_invocation_annotates_the_cold_start_and_gives_each_aws_call_a_subsegment() -> None:
    # Given an X-Ray daemon address that receives what the SDK sends
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        # When queue_backfill runs once as Lambda runs it (tracing active, a sampled trace)
        response = _traced_run(daemon.getsockname()[1])
        documents = _subsegments(_documents(daemon))
    assert response["results"][0]["resultCode"] == "Succeeded"
    # Then the handler's subsegment carries the cold start and the service, and no response body
    [handler] = [d for d in documents if d.get("name") == "## handler"]
    assert handler["annotations"] == {"ColdStart": True, "Service": "queue_backfill"}
    assert "handler response" not in json.dumps(handler.get("metadata", {}))
    # And every AWS call the handler makes is its own subsegment inside it, named by service with its operation
    # (the SDK streams finished subsegments on their own, each naming its parent)
    inside = _descendants(handler, documents)
    calls = {(d["name"], d["aws"]["operation"]) for d in inside if d.get("namespace") == "aws"}
    assert {("s3", "HeadObject"), ("s3", "GetObject"), ("dynamodb", "UpdateItem")} <= calls, calls
    assert {d["trace_id"] for d in documents if "trace_id" in d} == {"1-6748f3a1-3a9b5c7d1e2f4a6b8c0d2e4f"}

"""Fault benchmark: the local stack moderating 40 uploads while a share of the functions' calls get AWS's errors.

The whole pipeline runs for real (sandbox/stack: the functions in their own processes, our Rekognition and Athena,
moto for the rest) with a fault plan on every service the functions call: rekognition, dynamodb, s3, sqs, events,
athena, sns and ses, each at --rate (default 0.2) with --seed. The library: 14 flagged clips, 14 clean ones, 6 MP4s
Rekognition cannot decode (their jobs fail) and 6 text files named .mp4 (skipped before any job). The Rekognition
job limit is 5, so videos wait for slots and kicks and fill passes are faulted too; failed or delayed messages wait
at most --queue-wait seconds (sandbox/stack/queue_waits.py) instead of the queues' 6 and 90 minutes. Once the
pipeline has settled, send_digest runs for the day, retried like Lambda's asynchronous retries (3 runs at most).

How retries are counted: every function process wraps botocore's BaseClient._make_api_call (one logical call) and
counts the HTTP requests each call sends with a `before-send` hook on its client (botocore emits it once per
request, first attempt and retries alike), so retries = requests sent - calls. The endpoint counts, independently,
the requests it received from each function's access key and which ones it faulted; `requests_match` says the two
counts agree for every service.

Prints one JSON object per service the functions called (calls, requests, faults, retries, codes), then one summary
(videos, outcomes_correct, lake rows, duplicate label rows, messages the functions failed and got back, DLQ
messages, digest runs and whether its numbers were exact, seconds). Run with `python -m bench.faults`.
Exit code 1 when any outcome is wrong or a message reached a DLQ.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoRef, VideoStatus
from sandbox.clips import Scene, write_clip
from sandbox.faults import SERVICES, FaultPlan
from sandbox.rekognition.classifier import CLEAN, NUDITY, WEAPONS, Finding, PaletteClassifier
from sandbox.rekognition.service import RekognitionSettings
from sandbox.stack.local_stack import LocalStack, SandboxSettings
from sandbox.stack.runner import Invocation

DEFAULT_RATE = 0.2
DEFAULT_SEED = 7
DEFAULT_QUEUE_WAIT = 10
JOB_LIMIT = 5  # most videos wait for a slot: kicks and fill passes run (and are faulted) too
SECONDS_PER_FRAME = 0.25  # jobs last long enough for the limit to be reached
DIGEST_RUNS = 3  # Lambda runs an asynchronous invocation (the schedule's) up to 3 times: RUN_RETRY_ATTEMPTS + 1
DIGEST_SENDER, DIGEST_RECIPIENT = "digest@mail.example.com", "safety-team@example.com"
SETTLE_TIMEOUT = 600.0


class Outcome(StrEnum):
    FLAGGED = "flagged"
    CLEAN = "clean"
    FAILED = "failed"  # an MP4 Rekognition cannot decode: a job that fails
    SKIPPED = "skipped"  # a text file named .mp4: no job


LIBRARY = {Outcome.FLAGGED: 14, Outcome.CLEAN: 14, Outcome.FAILED: 6, Outcome.SKIPPED: 6}  # 40 videos
# The status DynamoDB and the lake record for each outcome, and whether the video is flagged.
RECORDED = {
    Outcome.FLAGGED: (VideoStatus.SUCCEEDED, True),
    Outcome.CLEAN: (VideoStatus.SUCCEEDED, False),
    Outcome.FAILED: (VideoStatus.FAILED, False),
    Outcome.SKIPPED: (VideoStatus.SKIPPED, False),
}


class SlowPalette(PaletteClassifier):
    """The palette classifier at a model's pace, so jobs overlap up to the job limit."""

    name = "slow-palette"

    def classify(self, frame: np.ndarray) -> list[Finding]:
        time.sleep(SECONDS_PER_FRAME)
        return super().classify(frame)


def clip_bodies(folder: Path) -> dict[Outcome, bytes]:
    """One small upload per outcome (written under `folder`)."""

    def clip(name: str, scenes: list[Scene], codec: str = "h264") -> bytes:
        return write_clip(folder / name, scenes, width=160, height=120, codec=codec).read_bytes()

    return {
        Outcome.FLAGGED: clip("flagged.mp4", [Scene(0.5, CLEAN), Scene(0.5, NUDITY)]),
        Outcome.CLEAN: clip("clean.mp4", [Scene(1, CLEAN)]),
        Outcome.FAILED: clip("broken.mp4", [Scene(1, WEAPONS)], codec="mpeg4"),
        Outcome.SKIPPED: b"meeting notes, not a video",
    }


def faulted_settings(
    work_dir: Path, plan: FaultPlan, queue_wait: int, *, check_responses: bool = False
) -> SandboxSettings:
    """The local stack of the faulted run: the slow classifier under a job limit of 5, a digest with an HTML email,
    the fault plan, and queue waits capped at `queue_wait` seconds."""
    return SandboxSettings(
        work_dir=work_dir,
        check_responses=check_responses,
        classifier=SlowPalette(),
        rekognition=RekognitionSettings(max_concurrent_jobs=JOB_LIMIT),
        context={
            "rekognition_job_limit": JOB_LIMIT,
            "digest_emails": [DIGEST_RECIPIENT],
            "digest_sender": DIGEST_SENDER,
        },
        environments_per_function=4,
        faults=plan,
        max_queue_wait=queue_wait,
    )


def upload_library(stack: LocalStack, bodies: dict[Outcome, bytes]) -> dict[str, tuple[Outcome, str]]:
    """Upload LIBRARY's videos as the operator (never faulted): video id → (outcome, key)."""
    s3, bucket = stack.client("s3"), stack.outputs["MediaBucketName"]
    uploaded: dict[str, tuple[Outcome, str]] = {}
    for outcome, count in LIBRARY.items():
        for n in range(count):
            key = f"uploads/{outcome}-{n:02d}.mp4"
            version = s3.put_object(Bucket=bucket, Key=key, Body=bodies[outcome])["VersionId"]
            uploaded[VideoRef(bucket, key, version, None).video_id] = (outcome, key)
    return uploaded


def send_days_digest(stack: LocalStack, day: str) -> list[Invocation]:
    """Run send_digest for the day as the schedule does: again after a failed run, DIGEST_RUNS times at most."""
    digest = stack.deployment.function_named("send_digest").name  # type: ignore[union-attr]
    runs: list[Invocation] = []
    for _ in range(DIGEST_RUNS):
        runs.append(stack.invoke(digest, {"date": day}))
        if not runs[-1].failed:
            break
    return runs


def _rows(stack: LocalStack, prefix: str) -> list[dict[str, Any]]:
    s3, bucket = stack.client("s3"), stack.outputs["AnalyticsBucketName"]
    rows: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return rows


def run(rate: float, seed: int, queue_wait: int, work_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the faulted pipeline once; the per-service lines and the summary."""
    plan = FaultPlan.parse(",".join(f"{service}={rate}" for service in SERVICES), seed=seed)
    settings = faulted_settings(work_dir / "stack", plan, queue_wait)
    bodies = clip_bodies(work_dir / "clips")
    with LocalStack(settings) as stack:
        started = time.monotonic()
        expected = {video_id: outcome for video_id, (outcome, _) in upload_library(stack, bodies).items()}
        settled = stack.settle(timeout=SETTLE_TIMEOUT)
        settle_seconds = time.monotonic() - started
        store = DynamoVideoStore(stack.client("dynamodb"), stack.outputs["VideosTableName"])
        correct = 0
        for video_id, outcome in expected.items():
            status, flagged = RECORDED[outcome]
            record = store.get(video_id)
            if record is not None and record.status is status:
                correct += bool(record.summary and record.summary.flagged) is flagged
        videos = _rows(stack, "moderation_videos/")
        labels = _rows(stack, "moderation_labels/")
        label_keys = Counter((row["video_id"], row["detection_index"]) for row in labels)
        jobs = Counter((job.key, job.version) for job in stack.rekognition.started_jobs())
        depths = stack.queue_depths()
        today = datetime.now(UTC).date().isoformat()
        runs = send_days_digest(stack, today)
        totals: dict[str, Any] = {}
        if not runs[-1].failed:
            archive = stack.client("s3").get_object(
                Bucket=stack.outputs["AnalyticsBucketName"], Key=f"digests/dt={today}/digest.json"
            )
            totals = json.loads(archive["Body"].read())["totals"]
        report = stack.fault_report()
        sources = stack.runner.sources
        per_service = [
            {"bench": "faults", "service": service, **counts.as_dict()} for service, counts in report.items()
        ]
        summary = {
            "bench": "faults",
            "rate": rate,
            "seed": seed,
            "videos": len(expected),
            "outcomes_correct": correct,
            "settled": settled,
            "settle_seconds": round(settle_seconds, 1),
            "lake_video_rows": len(videos),
            "lake_videos_with_one_row": sum(n == 1 for n in Counter(r["video_id"] for r in videos).values()),
            "duplicate_label_rows": sum(n - 1 for n in label_keys.values()),
            "rekognition_jobs": len(jobs),
            "videos_with_more_than_one_job": sum(n > 1 for n in jobs.values()),
            "messages_delivered": sum(source.delivered for source in sources),
            "messages_failed_and_redelivered": sum(source.kept for source in sources),
            "dlq_messages": sum(depth for name, depth in depths.items() if "dead-letter" in name),
            "messages_left": sum(depths.values()),
            "digest_runs": len(runs),
            "digest_exact": totals.get("videos") == len(expected)
            and totals.get("flagged") == LIBRARY[Outcome.FLAGGED]
            and totals.get("moderated") == LIBRARY[Outcome.FLAGGED] + LIBRARY[Outcome.CLEAN]
            and totals.get("failed") == LIBRARY[Outcome.FAILED]
            and totals.get("skipped") == LIBRARY[Outcome.SKIPPED],
            "calls": sum(c.calls for c in report.values()),
            "requests": sum(c.requests for c in report.values()),
            "faults": sum(c.faults for c in report.values()),
            "retries": sum(c.retries for c in report.values()),
            "requests_match": all(c.requests == c.calls + c.retries for c in report.values()),
            "retry_count_method": "before-send hook per botocore call in each function process; cross-checked "
            "against the endpoint's count of requests from the functions",
        }
    return per_service, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help=f"share of faulted calls (default {DEFAULT_RATE})"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"fault seed (default {DEFAULT_SEED})")
    parser.add_argument("--queue-wait", type=int, default=DEFAULT_QUEUE_WAIT, help="longest queue wait, seconds")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the functions log to their own files; stdout carries the JSON
    with tempfile.TemporaryDirectory(prefix="modlake-bench-faults-") as work:
        per_service, summary = run(args.rate, args.seed, args.queue_wait, Path(work))
    for line in (*per_service, summary):
        print(json.dumps(line), flush=True)
    ok = summary["outcomes_correct"] == summary["videos"] and not summary["dlq_messages"] and summary["digest_exact"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

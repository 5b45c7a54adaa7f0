"""A moto-backed stack for the CLI: the resources a Target's outputs name, and a runner for `modlake` commands."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner, Result

from cli import app
from cli.announcement import RunningStack
from cli.application import CliState
from cli.target import Target
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.models import RawDetection, VideoMetadata, VideoRecord, VideoRef, VideoStatus, VideoSummary
from functions.common.table_design import create_table_request

REGION = "us-east-1"
MEDIA_BUCKET = "modlake-test-media"
OUTPUTS = {
    "MediaBucketName": MEDIA_BUCKET,
    "AnalyticsBucketName": "modlake-test-analytics",
    "VideosTableName": "modlake-test-videos",
    "GlueDatabaseName": "modlake_test",
    "AthenaWorkGroupName": "modlake-test",
    "AthenaResultsBucketName": "modlake-test-athena-results",
    "DigestFunctionName": "modlake-test-send-digest",
    "BackfillFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:modlake-test-backfill",
    "BatchOperationsRoleArn": "arn:aws:iam::123456789012:role/modlake-test-batch-operations",
    "RekognitionPricePerMinute": "0.12",
}
# A file that starts like an MP4: a box size, then the `ftyp` box type.
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@pytest.fixture(scope="session")
def shared_target() -> Target:
    """One Target for the whole run: its boto3 session loads the service models once (moto hooks any client)."""
    return Target(stack_name="modlake-test", region=REGION, outputs=dict(OUTPUTS))


@pytest.fixture
def target(shared_target: Target) -> Iterator[Target]:
    """A deployed-stack Target whose media bucket (versioned) and videos table exist in a fresh moto account."""
    with mock_aws():
        stack = shared_target
        s3 = stack.client("s3")
        s3.create_bucket(Bucket=MEDIA_BUCKET)
        s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        stack.client("dynamodb").create_table(**create_table_request(OUTPUTS["VideosTableName"]))
        yield stack


@pytest.fixture
def store(target: Target) -> DynamoVideoStore:
    """The project's adapter on the target's table: how the tests write videos and labels."""
    return DynamoVideoStore(target.client("dynamodb"), OUTPUTS["VideosTableName"], sleep=lambda _: None)


def modlake(target: Target | None, *args: str, state: CliState | None = None) -> Result:
    """Run `modlake ARGS` against a Target (or a prepared state; None: resolve from the options as users do)."""
    obj = state or (CliState.for_target(target) if target else None)
    return CliRunner().invoke(app, list(args), obj=obj)


def error_line(result: Result) -> str:
    """The single stderr line of a failed command (fails the test if there is more than one)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def mp4_bytes(size: int = 64) -> bytes:
    """`size` bytes that pass the container sniff."""
    return MP4_HEAD + bytes(max(size - len(MP4_HEAD), 0))


def video_ref(key: str, version: str | None, uploaded: datetime, size: int = 1_234_567) -> VideoRef:
    """One object version in the test media bucket."""
    return VideoRef(
        bucket=MEDIA_BUCKET, key=key, version_id=version, etag=f"etag-{version}", size=size, uploaded_at=uploaded
    )


def start(store: DynamoVideoStore, video: VideoRef, at: datetime) -> VideoRecord:
    """Record the video's job as started (what start_moderation writes)."""
    assert store.mark_in_progress(video, f"job-{video.version_id}", 50.0, at)
    record = store.get(video.video_id)
    assert record is not None
    return record


def moderate(
    store: DynamoVideoStore,
    video: VideoRef,
    detections: list[RawDetection],
    *,
    started: datetime,
    completed: datetime,
    store_labels: int | None = None,
) -> VideoRecord:
    """Start and collect a job as collect_results does: label chunks first, then the settled summary.

    store_labels keeps only the first n detections in DynamoDB (a copy the CLI must not trust).
    """
    record = start(store, video, started)
    summary = VideoSummary()
    classified = DetectionClassifier(FlagPolicy()).classify(detections, summary)
    writer = store.label_writer(video.video_id)
    writer.add(classified[:store_labels] if store_labels is not None else classified)
    writer.flush()
    metadata = VideoMetadata(
        codec="h264",
        format="QuickTime / MOV",
        duration_ms=3_900_000,
        frame_rate=29.97,
        frame_width=1280,
        frame_height=720,
    )
    assert store.complete(
        record,
        VideoStatus.SUCCEEDED,
        reason=None,
        summary=summary,
        metadata=metadata,
        model_version="7.0",
        completed_at=completed,
        now=completed,
    )
    settled = store.get(video.video_id)
    assert settled is not None
    return settled


def skip(store: DynamoVideoStore, video: VideoRef, reason: str, at: datetime) -> None:
    """Record a video start_moderation skipped."""
    assert store.mark_not_started(video, VideoStatus.SKIPPED, reason, at)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table printed as text, as lists of stripped cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


@contextmanager
def moto_server_target(outputs: dict[str, str]) -> Iterator[Target]:
    """A local Target on a moto server standing in for the local endpoint (HTTP, as the CLI talks to it)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    target = Target.local(
        RunningStack(
            endpoint_url=url,
            health_url=f"{url}/moto-api/",
            stack_name="modlake-local",
            region="us-east-1",
            outputs=outputs,
            pid=1,
        )
    )
    try:
        yield target
    finally:
        # moto's backends live in this process: forget this test's resources before the next server starts
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        server.stop()

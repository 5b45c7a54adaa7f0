"""End to end on the local stack, the paths the pipeline run does not take: a video long enough that collect_results
continues it from a checkpoint (its label rows staged under _staging/, then cleaned up), the deletion of that video
("Object Deleted"), and one day's digest asked for three times: a run that fails (SES refuses the sender) and leaves no
once-per-day record, the run that sends, and a resend that does not. Every call is held against the template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import Result

from cli.videos import list_videos
from functions.common.adapters.once import DIGEST_PARTITION
from functions.common.lake import STAGING_COLLECT_PREFIX
from functions.common.models import VideoRecord, VideoStatus
from sandbox.clips import Scene, write_clip
from sandbox.rekognition.classifier import BLOOD_AND_WEAPONS
from sandbox.rekognition.service import RekognitionSettings
from sandbox.stack.calls import AwsCall
from sandbox.stack.local_stack import SandboxSettings
from tests.sandbox.stack.pipeline import (
    AnnouncedStack,
    GrantLedger,
    announced_stack,
    calls_by_principal,
    denied_calls,
)

SAMPLES_PER_SECOND = 10
# 300 samples × 4 labels (Blood & Gore, Weapons and their parents): 1,200 detections, two GetContentModeration pages
LONG_SECONDS = 30
# collect_results checkpoints when less than CHECKPOINT_RESERVE_MS (120 s) is left after a page: with this timeout
# every invocation reads one page, stages its rows and hands the rest to the next (a collect queue message).
ONE_PAGE_TIMEOUT_SECONDS = 119
SENDER, RECIPIENT = "digest@mail.example.com", "safety-team@example.com"
KEY = "long/long reel.mp4"


@dataclass
class Lifecycle:
    sandbox: AnnouncedStack
    collected: VideoRecord  # the long video once collected
    deleted: VideoRecord  # the same video after its object was deleted
    digest_records_after_failure: list[dict[str, Any]]
    failed: Result
    sent: Result
    resent: Result
    emails_after_sent: int  # messages on the digest topic's subscriber queue after each run
    emails_after_resent: int

    def calls(self, folder: str) -> list[AwsCall]:
        assert self.sandbox.stack.deployment is not None
        function = self.sandbox.stack.deployment.function_named(folder).logical_id
        return calls_by_principal(self.sandbox.stack).get(function, [])


def _video(sandbox: AnnouncedStack) -> VideoRecord:
    (record,) = [r for r in list_videos(sandbox.target, limit=10) if r.video.key == KEY]
    return record


def _emails(sandbox: AnnouncedStack, queue_url: str) -> int:
    """Messages the digest topic delivered to the subscriber queue so far (none is received, so none is hidden)."""
    attributes = sandbox.stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def _digest_records(sandbox: AnnouncedStack) -> list[dict[str, Any]]:
    found = sandbox.stack.client("dynamodb").query(
        TableName=sandbox.stack.outputs["VideosTableName"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": DIGEST_PARTITION}},
    )
    return list(found["Items"])


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory, grant_ledger: GrantLedger) -> Iterator[Lifecycle]:
    work = tmp_path_factory.mktemp("lifecycle")
    clip = write_clip(
        work / "long reel.mp4", [Scene(LONG_SECONDS, BLOOD_AND_WEAPONS)], width=64, height=48, fps=SAMPLES_PER_SECOND
    )
    settings = SandboxSettings(
        work_dir=work / "stack",
        check_responses=True,
        record_calls=True,
        rekognition=RekognitionSettings(frames_per_second=SAMPLES_PER_SECOND),
        context={"digest_emails": [RECIPIENT], "digest_sender": SENDER},
    )
    with announced_stack(work, settings) as sandbox:
        stack = sandbox.stack
        assert stack.deployment is not None
        # The local stack has no setting for one function's timeout: the collector's environments get a shorter one
        collect = stack.deployment.function_named("collect_results").logical_id
        stack.runner.hosts[collect]._timeout = ONE_PAGE_TIMEOUT_SECONDS
        digest_queue = sandbox.subscribe_queue(stack.outputs["DigestTopicArn"], "digest-subscriber")
        # Given a long video uploaded through the CLI and moderated
        upload = sandbox.modlake("upload", str(clip), "--prefix", "long/")
        assert upload.exit_code == 0, upload.output
        assert stack.settle(timeout=120), stack.queue_depths()
        collected = _video(sandbox)
        # When its object version is deleted (moto sends "Object Deleted" for a permanent deletion, not a marker)
        stack.client("s3").delete_object(
            Bucket=stack.outputs["MediaBucketName"], Key=KEY, VersionId=collected.video.version_id
        )
        assert stack.settle(timeout=60), stack.queue_depths()
        deleted = _video(sandbox)
        # And today's digest is asked for while SES refuses the sender, then once the sender is verified, then again
        today = datetime.now(UTC).date().isoformat()
        stack.client("sesv2").delete_email_identity(EmailIdentity=SENDER)
        failed = sandbox.modlake("digest", "--date", today)
        after_failure = _digest_records(sandbox)
        stack.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        sent = sandbox.modlake("digest", "--date", today)
        emails_after_sent = _emails(sandbox, digest_queue)
        resent = sandbox.modlake("digest", "--date", today)
        emails_after_resent = _emails(sandbox, digest_queue)
        yield Lifecycle(
            sandbox, collected, deleted, after_failure, failed, sent, resent, emails_after_sent, emails_after_resent
        )
        grant_ledger.record("lifecycle", stack)


def test_the_long_video_was_collected_page_by_page_from_checkpoints(lifecycle: Lifecycle) -> None:
    # Given the long video's record and what collect_results did
    record = lifecycle.collected
    calls = lifecycle.calls("collect_results")
    collect_queue = lifecycle.sandbox.stack.outputs["CollectQueueUrl"]
    # Then it succeeded with every detection of both pages
    assert record.status is VideoStatus.SUCCEEDED and record.summary is not None
    assert 1000 < record.summary.label_count <= 2000
    # And the first invocation staged its page and continued through the collect queue
    continued = [c for c in calls if c.operation == "SendMessage" and c.params["QueueUrl"] == collect_queue]
    assert [json.loads(c.params["MessageBody"])["job_id"] for c in continued] == [record.job_id]
    staged = [c.params["Key"] for c in calls if c.operation == "PutObject" and "_staging/" in c.params["Key"]]
    assert staged == [f"{STAGING_COLLECT_PREFIX}{record.job_id}/chunk-00000.parquet"]


def test_the_staged_parts_were_read_into_the_labels_object_then_deleted(lifecycle: Lifecycle) -> None:
    # Given the lake after the long video was collected
    sandbox = lifecycle.sandbox
    s3, lake = sandbox.stack.client("s3"), sandbox.stack.outputs["AnalyticsBucketName"]
    record = lifecycle.collected
    assert record.summary is not None
    # Then its labels object holds every detection, and nothing is left under _staging/
    labels = [row for row in sandbox.table_rows("moderation_labels/") if row["job_id"] == record.job_id]
    assert len(labels) == record.summary.label_count
    assert s3.list_objects_v2(Bucket=lake, Prefix=STAGING_COLLECT_PREFIX).get("KeyCount") == 0
    # And collect_results read the staged part back and deleted it (DeleteObjects)
    calls = lifecycle.calls("collect_results")
    assert [c.params["Key"] for c in calls if c.operation == "GetObject"] == [
        f"{STAGING_COLLECT_PREFIX}{record.job_id}/chunk-00000.parquet"
    ]
    assert [c.operation for c in calls if c.operation.startswith("Delete") and "Bucket" in c.params] == [
        "DeleteObjects"
    ]


def test_the_deleted_video_is_marked_deleted_and_keeps_its_history(lifecycle: Lifecycle) -> None:
    # Given the long video after its object was deleted
    deleted = lifecycle.deleted
    # Then start_moderation found it by its object and marked it DELETED
    assert deleted.video.video_id == lifecycle.collected.video.video_id
    assert deleted.status is VideoStatus.DELETED and deleted.deleted_at is not None
    operations = {(c.operation, c.params.get("IndexName")) for c in lifecycle.calls("start_moderation")}
    assert ("Query", "by_object") in operations
    # And its analytics history stays in the lake
    rows = lifecycle.sandbox.table_rows("moderation_videos/")
    assert [row["status"] for row in rows if row["object_key"] == KEY] == ["SUCCEEDED"]


def test_a_failed_digest_run_leaves_no_record_the_next_sends_and_a_resend_does_not(lifecycle: Lifecycle) -> None:
    # Given the three runs for one day
    # Then the run SES refused failed and left no record in progress (Powertools deleted what it had taken), so the
    # next run sent
    assert lifecycle.failed.exit_code == 1 and "MessageRejected" in lifecycle.failed.output
    assert [r for r in lifecycle.digest_records_after_failure if r["idempotency_status"]["S"] == "INPROGRESS"] == []
    digest_operations = [c.operation for c in lifecycle.calls("send_digest") if c.service == "dynamodb"]
    assert "DeleteItem" in digest_operations
    assert lifecycle.sent.exit_code == 0, lifecycle.sent.output
    assert "SENT" in lifecycle.sent.stdout and "ALREADY_SENT" not in lifecycle.sent.stdout
    # And the resend found the day's once-per-day record and sent nothing
    assert lifecycle.resent.exit_code == 0 and "ALREADY_SENT" in lifecycle.resent.stdout, lifecycle.resent.output
    assert lifecycle.emails_after_sent >= 1
    assert lifecycle.emails_after_resent == lifecycle.emails_after_sent
    records = _digest_records(lifecycle.sandbox)
    assert records and {r["idempotency_status"]["S"] for r in records} == {"COMPLETED"}


def test_every_call_of_the_lifecycle_is_allowed_by_the_template(lifecycle: Lifecycle) -> None:
    # Given every call recorded, by principal
    stack = lifecycle.sandbox.stack
    calls = calls_by_principal(stack)
    # Then the template's policies allow every one of them
    denials = denied_calls(stack, calls)
    assert not denials, "\n".join(str(d) for d in denials)

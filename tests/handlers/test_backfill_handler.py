"""queue_backfill's handler on real-shaped S3 Batch Operations events (schemas 1.0 and 2.0) against moto."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.lake import read_parquet
from functions.common.models import VideoRef, VideoSource, VideoStatus
from tests.fakes import movie_bytes
from tests.handlers.conftest import LAKE_BUCKET, TABLE, LambdaContext, Sandbox, load_handler
from tests.helpers import MEDIA_BUCKET, load_event

# The object key both event files name, URL-encoded as S3 Batch Operations sends it: schema 1.0's with a space as
# %20, schema 2.0's with a space as "+"; both with a literal "+" as %2B, "%" as %25 and a literal "%2B" as %252B.
KEY = "archive/2019/Überwachung Ops/deep/er/a+b 100% %2B cut.mp4"
SCHEMA_1 = "s3_batch_task_schema_1.json"
SCHEMA_2 = "s3_batch_task_schema_2.json"


def task_of(event: dict[str, Any]) -> dict[str, Any]:
    [task] = event["tasks"]
    return dict(task)


def expected_response(event: dict[str, Any], result_code: str, result_string: str) -> dict[str, Any]:
    """AWS's response shape: the invocation echoed, treatMissingKeysAs, one result for the one task."""
    return {
        "invocationSchemaVersion": event["invocationSchemaVersion"],
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": [{"taskId": task_of(event)["taskId"], "resultCode": result_code, "resultString": result_string}],
    }


def stored_event(sandbox: Sandbox, name: str, body: bytes = movie_bytes()) -> tuple[dict[str, Any], VideoRef]:
    """A tests/events/ task whose object exists in the sandbox bucket, and the video it names.

    A 1.0 task names the version just uploaded; the 2.0 task names none (null), so its video is the ETag's.
    """
    event = load_event(name)
    uploaded = sandbox.upload(KEY, body)
    task = event["tasks"][0]
    if task["s3VersionId"] is not None:
        task["s3VersionId"] = uploaded["version-id"]
        return event, VideoRef(MEDIA_BUCKET, KEY, uploaded["version-id"], None)
    return event, VideoRef(MEDIA_BUCKET, KEY, None, uploaded["etag"])


@pytest.mark.parametrize("name", [SCHEMA_1, SCHEMA_2])
def test_a_task_queues_its_decoded_key_in_the_backfill_lane(sandbox: Sandbox, name: str) -> None:
    # Given a task of either schema naming a stored video under a key with spaces, "+", "%", unicode, a deep prefix
    event, clip = stored_event(sandbox, name)
    # When the function is invoked with it
    response = load_handler("queue_backfill").handler(event, LambdaContext())
    # Then it answers in AWS's shape: Succeeded for the task, the invocation echoed
    assert response == expected_response(event, "Succeeded", "waiting for a Rekognition slot")
    # And the video waits in the backfill lane under its key decoded exactly once (%252B is "%2B", not "+")
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    [waiting] = store.next_waiting(10)
    assert waiting.video_id == clip.video_id and waiting.status is VideoStatus.QUEUED
    assert waiting.video.key == KEY and waiting.video.source is VideoSource.BACKFILL
    assert waiting.video.version_id == clip.version_id


def test_a_non_video_fails_permanently_and_its_skip_lands_in_the_lake(sandbox: Sandbox) -> None:
    # Given a task for a PNG stored under a .mp4 key
    event, clip = stored_event(sandbox, SCHEMA_1, body=b"\x89PNG\r\n\x1a\n" + bytes(64))
    # When the function is invoked with it
    response = load_handler("queue_backfill").handler(event, LambdaContext())
    # Then the task fails for good with the reason, and the video is SKIPPED as backfill in DynamoDB and the lake
    [result] = response["results"]
    assert result["resultCode"] == "PermanentFailure" and "not an MP4 or MOV file" in result["resultString"]
    record = DynamoVideoStore(sandbox.dynamodb, TABLE).get(clip.video_id)
    assert record is not None and record.status is VideoStatus.SKIPPED and record.video.source is VideoSource.BACKFILL
    [obj] = sandbox.s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix="moderation_videos/")["Contents"]
    [row] = read_parquet(sandbox.s3.get_object(Bucket=LAKE_BUCKET, Key=obj["Key"])["Body"].read()).to_pylist()
    assert row["source"] == "backfill" and row["object_key"] == KEY and row["status"] == "SKIPPED"


def test_a_task_for_another_bucket_fails_permanently(sandbox: Sandbox) -> None:
    # Given a 2.0 task naming a bucket that is not the stack's media bucket
    event = load_event(SCHEMA_2)
    event["tasks"][0]["s3Bucket"] = "someone-elses-bucket"
    # When the function is invoked with it
    response = load_handler("queue_backfill").handler(event, LambdaContext())
    # Then the task fails for good, and nothing is recorded
    [result] = response["results"]
    assert result["resultCode"] == "PermanentFailure" and "s3://someone-elses-bucket" in result["resultString"]
    assert sandbox.dynamodb.scan(TableName=TABLE)["Items"] == []


def test_throttled_dynamodb_asks_for_the_task_to_be_retried(sandbox: Sandbox) -> None:
    # Given DynamoDB throttles the function's table
    event, clip = stored_event(sandbox, SCHEMA_1)
    handler = load_handler("queue_backfill")
    with Stubber(handler.deps.store.dynamodb) as dynamodb:
        dynamodb.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        # When the function is invoked
        response = handler.handler(event, LambdaContext())
    # Then the task is a TemporaryFailure (S3 Batch Operations redrives it), and nothing was recorded
    [result] = response["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert "ProvisionedThroughputExceededException" in result["resultString"]
    assert DynamoVideoStore(sandbox.dynamodb, TABLE).get(clip.video_id) is None


@pytest.mark.parametrize(
    ("stub", "named"),
    [
        pytest.param(
            lambda s3: s3.add_client_error("head_object", service_error_code="AccessDenied", http_status_code=403),
            "An error occurred (AccessDenied) when calling the HeadObject operation",
            id="access-denied",
        ),
        pytest.param(lambda s3: s3.add_response("head_object", {}), "KeyError: 'ContentLength'", id="unexpected"),
    ],
)
def test_an_unexpected_error_fails_the_task_for_good_naming_it_and_is_logged_with_the_key(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, stub: Any, named: str
) -> None:
    # Given S3 answers HeadObject with an error no retry will fix, or with something the code does not expect
    event, _ = stored_event(sandbox, SCHEMA_1)
    handler = load_handler("queue_backfill")
    with Stubber(handler.deps.media.s3) as s3:
        stub(s3)
        # When the function is invoked
        response = handler.handler(event, LambdaContext())
    # Then the task is a PermanentFailure whose text names the error
    assert response == expected_response(event, "PermanentFailure", response["results"][0]["resultString"])
    assert named in response["results"][0]["resultString"]
    # And the failure is logged as an error with the decoded key and the exception
    [failed] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failed.getMessage() == "backfill task failed" and failed.exc_info is not None
    assert vars(failed)["key"] == KEY and vars(failed)["bucket"] == MEDIA_BUCKET

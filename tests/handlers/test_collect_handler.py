"""collect_results' handler on the SNS envelope: DynamoDB, Parquet, EventBridge, partial failures."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow.parquet as pq
from botocore.stub import Stubber

from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoStatus
from tests.handlers.conftest import LAKE_BUCKET, TABLE, LambdaContext, Sandbox, load_handler
from tests.helpers import NOW, load_event, sqs_event, video

JOB = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"
META = {
    "Codec": "h264",
    "DurationMillis": 30_000,
    "Format": "QuickTime / MOV",
    "FrameRate": 30.0,
    "FrameHeight": 720,
    "FrameWidth": 1280,
    "ColorRange": "LIMITED",
}


def completion(tag: str, status: str = "SUCCEEDED") -> dict[str, Any]:
    envelope = load_event(f"rekognition_sns_{status.lower()}.json")
    message = json.loads(envelope["Message"])
    message["JobTag"] = tag
    envelope["Message"] = json.dumps(message)
    return envelope


def page(labels: list[dict[str, Any]], token: str | None = None, status: str = "SUCCEEDED") -> dict[str, Any]:
    response: dict[str, Any] = {
        "JobStatus": status,
        "VideoMetadata": META,
        "ModerationLabels": labels,
        "ModerationModelVersion": "7.0",
    }
    if token:
        response["NextToken"] = token
    return response


def label(ts: int, name: str, parent: str, level: int, confidence: float) -> dict[str, Any]:
    return {
        "Timestamp": ts,
        "ModerationLabel": {"Name": name, "ParentName": parent, "TaxonomyLevel": level, "Confidence": confidence},
    }


def test_completion_is_collected_everywhere(sandbox: Sandbox, rekognition_stub: Stubber) -> None:
    # Given a video IN_PROGRESS with a job whose results span two pages
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    clip = video("uploads/2026/11/clip.mp4")
    store.mark_in_progress(clip, JOB, 50.0, NOW)
    rekognition_stub.add_response("get_content_moderation", page([label(1000, "Violence", "", 1, 97.0)], token="next"))
    rekognition_stub.add_response(
        "get_content_moderation",
        page([label(1500, "Weapons", "Violence", 2, 88.0), label(9000, "Alcohol", "", 1, 60.0)]),
    )
    # When the SNS envelope arrives through the collect queue
    response = load_handler("collect_results").handler(sqs_event(completion(clip.video_id)), LambdaContext())
    # Then the message succeeds and the results are in DynamoDB, Parquet and on EventBridge
    assert response["batchItemFailures"] == []
    rekognition_stub.assert_no_pending_responses()
    record = store.get(clip.video_id)
    assert record.status is VideoStatus.SUCCEEDED and record.summary.label_count == 3
    assert record.summary.flagged_categories == {"Violence"} and record.summary.max_confidence == 97.0
    assert [i["label_name"] for i in store.labels(clip.video_id)] == ["Violence", "Weapons", "Alcohol"]
    listing = sandbox.s3.list_objects_v2(Bucket=LAKE_BUCKET)["Contents"]
    keys = sorted(o["Key"] for o in listing)
    assert keys == [f"moderation_labels/dt=2025-11-20/{JOB}.parquet", f"moderation_videos/dt=2025-11-20/{JOB}.parquet"]
    body = sandbox.s3.get_object(Bucket=LAKE_BUCKET, Key=keys[0])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows == 3
    [event] = sandbox.receive(sandbox.alerts_queue_url)
    assert event["detail-type"] == "Video Moderated" and event["detail"]["flagged"] is True
    # And it says where and when an alert points: the first flagged moment and the console page in the region
    assert event["detail"]["first_flagged"] == "00:01"
    assert event["detail"]["console_url"].startswith(f"https://{event['region']}.console.aws.amazon.com/s3/object/")


def test_failed_job_and_malformed_message_in_one_batch(sandbox: Sandbox, rekognition_stub: Stubber) -> None:
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    clip = video()
    store.mark_in_progress(clip, JOB, 50.0, NOW)
    rekognition_stub.add_response(
        "get_content_moderation", page([], status="FAILED") | {"StatusMessage": "Unsupported codec"}
    )
    batch = sqs_event(completion(clip.video_id, "FAILED"), "garbage")
    response = load_handler("collect_results").handler(batch, LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-1"}]
    record = store.get(clip.video_id)
    assert record.status is VideoStatus.FAILED and record.status_reason == "Unsupported codec"


def test_completion_for_unknown_job_fails_for_retry(sandbox: Sandbox) -> None:
    response = load_handler("collect_results").handler(sqs_event(completion("nobody")), LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]

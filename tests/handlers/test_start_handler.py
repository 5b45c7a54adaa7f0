"""start_moderation's handler on real-shaped events: partial batch failures, outcomes in DynamoDB."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoRef, VideoStatus
from functions.common.settings import SettingsError
from tests.fakes import movie_bytes
from tests.handlers.conftest import TABLE, LambdaContext, Sandbox, load_handler
from tests.helpers import MEDIA_BUCKET, load_event, sqs_event

START_PARAMS = {
    "Video": ANY,
    "MinConfidence": 50.0,
    "ClientRequestToken": ANY,
    "NotificationChannel": ANY,
    "JobTag": ANY,
}


def event_for(sandbox: Sandbox, name: str, body: bytes | None = movie_bytes()) -> dict[str, Any]:
    """A tests/events/ event whose object really exists in the sandbox bucket (exact version)."""
    event = load_event(name)
    if body is not None:
        event["detail"]["object"].update(sandbox.upload(event["detail"]["object"]["key"], body))
    return event


def video_of(event: dict[str, Any]) -> VideoRef:
    obj = event["detail"]["object"]
    return VideoRef(MEDIA_BUCKET, obj["key"], obj["version-id"], obj.get("etag"))


def test_mixed_batch_reports_only_bad_messages(sandbox: Sandbox, rekognition_stub: Stubber) -> None:
    # Given a batch of real-shaped events: good uploads (multipart, odd keys), a duplicate, a non-video,
    # a foreign bucket and malformed bodies
    put = event_for(sandbox, "s3_object_created_put.json")
    multipart = event_for(sandbox, "s3_object_created_multipart.json")
    special = event_for(sandbox, "s3_object_created_special_key.json")
    renamed = event_for(sandbox, "s3_object_created_put.json", body=b"%PDF-1.7 not a video at all")
    renamed["detail"]["object"]["key"] = "uploads/2026/11/clip.mp4"
    foreign = load_event("s3_object_created_other_bucket.json")
    for i in range(3):
        rekognition_stub.add_response("start_content_moderation", {"JobId": f"job-{i}"}, START_PARAMS)
    handler = load_handler("start_moderation")
    batch = sqs_event(put, multipart, special, put, renamed, foreign, "{not json", {"hello": "world"})
    # When the handler runs
    response = handler.handler(batch, LambdaContext())
    # Then only the foreign and malformed messages fail, each on its own
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["msg-5", "msg-6", "msg-7"]
    rekognition_stub.assert_no_pending_responses()
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    started = [store.get(video_of(e).video_id) for e in (put, multipart, special)]
    assert [r.status for r in started] == [VideoStatus.IN_PROGRESS] * 3
    assert [r.job_id for r in started] == ["job-0", "job-1", "job-2"]
    assert started[2].video.key == "raw/a+b 100%25 final+cut.Mp4"
    skipped = store.get(video_of(renamed).video_id)
    assert skipped.status is VideoStatus.SKIPPED and "not an MP4 or MOV" in skipped.status_reason


def test_rekognition_receives_the_exact_key_and_version(sandbox: Sandbox, rekognition_stub: Stubber) -> None:
    special = event_for(sandbox, "s3_object_created_special_key.json")
    obj = special["detail"]["object"]
    params = dict(START_PARAMS)
    params["Video"] = {"S3Object": {"Bucket": MEDIA_BUCKET, "Name": obj["key"], "Version": obj["version-id"]}}
    rekognition_stub.add_response("start_content_moderation", {"JobId": "job-x"}, params)
    response = load_handler("start_moderation").handler(sqs_event(special), LambdaContext())
    assert response["batchItemFailures"] == []
    rekognition_stub.assert_no_pending_responses()


def test_job_limit_leaves_videos_waiting_in_dynamodb_not_on_any_queue(
    sandbox: Sandbox, rekognition_stub: Stubber
) -> None:
    # Given the account's concurrent-job limit is reached
    events = [event_for(sandbox, "s3_object_created_put.json"), event_for(sandbox, "s3_object_created_multipart.json")]
    rekognition_stub.add_client_error(
        "start_content_moderation", service_error_code="LimitExceededException", expected_params=START_PARAMS
    )
    # When a batch arrives
    response = load_handler("start_moderation").handler(sqs_event(*events), LambdaContext())
    # Then nothing fails (no DLQ path), both videos wait in the upload lane, and no message waits for them
    assert response["batchItemFailures"] == []
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    assert {store.get(video_of(e).video_id).status for e in events} == {VideoStatus.QUEUED}
    assert {r.video_id for r in store.next_waiting(10)} == {video_of(e).video_id for e in events}
    assert sum(int(n) for n in sandbox.queue_depth(sandbox.start_queue_url).values()) == 0
    rekognition_stub.assert_no_pending_responses()  # the second video did not call Rekognition


def test_access_denied_fails_the_message_for_retry(sandbox: Sandbox, rekognition_stub: Stubber) -> None:
    event = event_for(sandbox, "s3_object_created_put.json")
    rekognition_stub.add_client_error("start_content_moderation", service_error_code="AccessDeniedException")
    response = load_handler("start_moderation").handler(sqs_event(event), LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
    assert DynamoVideoStore(sandbox.dynamodb, TABLE).get(video_of(event).video_id) is None


def test_all_bad_batch_still_returns_a_partial_response(sandbox: Sandbox) -> None:
    response = load_handler("start_moderation").handler(sqs_event("x", "y"), LambdaContext())
    assert len(response["batchItemFailures"]) == 2


def test_delete_event_marks_deleted(sandbox: Sandbox, rekognition_stub: Stubber) -> None:
    created = event_for(sandbox, "s3_object_created_put.json")
    rekognition_stub.add_response("start_content_moderation", {"JobId": "job-d"}, START_PARAMS)
    handler = load_handler("start_moderation")
    handler.handler(sqs_event(created), LambdaContext())
    deleted = load_event("s3_object_deleted.json")
    response = handler.handler(sqs_event(deleted), LambdaContext())
    assert response["batchItemFailures"] == []
    assert DynamoVideoStore(sandbox.dynamodb, TABLE).get(video_of(created).video_id).status is VideoStatus.DELETED


def test_missing_setting_fails_at_cold_start(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REKOGNITION_ROLE_ARN")
    with pytest.raises(SettingsError, match="REKOGNITION_ROLE_ARN"):
        load_handler("start_moderation")

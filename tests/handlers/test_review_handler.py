"""review_api's handler on real-shaped function URL events (payload format 2.0, AWS_IAM) against moto."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.lake import read_parquet
from functions.common.models import VideoRef, VideoStatus, VideoSummary
from glue import VERDICTS
from tests.handlers.conftest import LAKE_BUCKET, TABLE, LambdaContext, Sandbox, load_handler
from tests.helpers import MEDIA_BUCKET, NOW, detection, load_event, video

KEY = "uploads/2026/11/Clip Über+1.mp4"  # what function_url_get_video.json asks for (URL-encoded in its raw query)
REVIEWER = "arn:aws:sts::123456789012:assumed-role/modlake-reviewers/ana"  # the POST and queue events' caller


def collected(sandbox: Sandbox, clip: VideoRef, *, flagged: bool = True) -> VideoRef:
    """The clip as collect_results leaves it: SUCCEEDED, flagged by Violence at 95 (or clean)."""
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    assert store.mark_in_progress(clip, f"job-{clip.key}", 50.0, NOW)
    summary = VideoSummary()
    confidence = 95.0 if flagged else 40.0
    DetectionClassifier(FlagPolicy()).classify([detection(1_000, "Violence", confidence=confidence)], summary)
    record = store.get(clip.video_id)
    assert record is not None
    done = store.complete(
        record, VideoStatus.SUCCEEDED, reason=None, summary=summary, metadata=None, model_version="7.0",
        completed_at=NOW, now=NOW,
    )  # fmt: skip
    assert done
    return clip


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Call the handler as the function URL does; its status code and decoded JSON body."""
    response = load_handler("review_api").handler(event, LambdaContext())
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def post_event(video_id: str, body: dict[str, Any] | str | None = None) -> dict[str, Any]:
    """function_url_post_verdict.json for this video (and another body, when given)."""
    event = load_event("function_url_post_verdict.json")
    for holder in (event, event["requestContext"]["http"]):
        key = "rawPath" if holder is event else "path"
        holder[key] = holder[key].replace("VIDEO_ID", video_id)
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def get_event(**query: str) -> dict[str, Any]:
    event = load_event("function_url_get_video.json")
    event["queryStringParameters"] = query
    return event


def test_get_video_answers_the_latest_versions_status_flag_categories_and_verdict(sandbox: Sandbox) -> None:
    # Given a flagged video under a key with spaces, "+" and unicode, the key the real-shaped event asks for
    clip = collected(sandbox, video(KEY))
    # When the upload application looks it up
    status, body = invoke(load_event("function_url_get_video.json"))
    # Then it gets the version's status, flag, flagged categories and no verdict yet
    assert status == 200
    assert {k: body[k] for k in ("video_id", "key", "version_id", "status", "flagged", "categories", "verdict")} == {
        "video_id": clip.video_id,
        "key": KEY,
        "version_id": "v1",
        "status": "SUCCEEDED",
        "flagged": True,
        "categories": ["Violence"],
        "verdict": None,
    }


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"bucket": MEDIA_BUCKET}, 400, "query parameter 'key' is required"),
        ({"key": KEY}, 400, "query parameter 'bucket' is required"),
        (
            {"bucket": MEDIA_BUCKET, "key": "uploads/never-seen.mp4"},
            404,
            f"no video s3://{MEDIA_BUCKET}/uploads/never-seen.mp4",
        ),
    ],
    ids=["no-key", "no-bucket", "unknown"],
)
def test_get_video_refusals_answer_a_message_and_log_the_object(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, query: dict[str, str], status: int, message: str
) -> None:
    # Given a moderated video / When a lookup lacks bucket or key, or names an object never seen
    collected(sandbox, video(KEY))
    answered = invoke(get_event(**query))
    # Then it answers the status with a message, and logs the refusal with the object it concerns
    assert answered == (status, {"message": message})
    [line] = [vars(r) for r in caplog.records if r.getMessage() == "review API request refused"]
    assert (line["status"], line["reason"], line["path"]) == (status, message, "/videos")
    assert {k: line[k] for k in query} == query


def test_the_review_queue_lists_flagged_unreviewed_videos_oldest_first(sandbox: Sandbox) -> None:
    # Given two flagged videos and a clean one
    first = collected(sandbox, video("a.mp4"))
    second = collected(sandbox, video("b.mp4", uploaded_at=NOW))
    collected(sandbox, video("clean.mp4"), flagged=False)
    # When a reviewer asks for the queue
    status, body = invoke(load_event("function_url_get_review_queue.json"))
    # Then both flagged videos are listed with their top category and an age
    assert status == 200
    assert {v["video_id"] for v in body["videos"]} == {first.video_id, second.video_id}
    assert {v["top_category"] for v in body["videos"]} == {"Violence"}
    assert all(v["age_seconds"] >= 0 and v["flagged_at"] == "2026-11-20T10:30:00.000Z" for v in body["videos"])


def test_the_review_queue_refuses_a_bad_limit(sandbox: Sandbox) -> None:
    event = load_event("function_url_get_review_queue.json")
    event["queryStringParameters"] = {"limit": "5000"}
    assert invoke(event) == (400, {"message": "query parameter 'limit' must be an integer from 1 to 500"})


def test_a_verdict_is_recorded_once_for_the_verified_caller_and_a_replay_answers_it(sandbox: Sandbox) -> None:
    # Given a flagged video, and the real-shaped signed POST of a reviewer's overturn
    clip = collected(sandbox, video(KEY))
    event = post_event(clip.video_id)
    # When it is sent, and sent again (a client retry)
    created_status, created = invoke(event)
    replay_status, replayed = invoke(copy.deepcopy(event))
    # Then the first answers 201 with the verdict of the IAM-verified caller, the replay 200 with the same verdict
    assert (created_status, replay_status) == (201, 200)
    assert replayed == created
    verdict = created["verdict"]
    assert (verdict["verdict"], verdict["category"], verdict["reviewer"]) == ("overturned", "Violence", REVIEWER)
    assert verdict["note"] == "Stage combat in a school play — not real violence."
    # And DynamoDB holds one history item and the latest verdict on the summary, which left the review queue
    store = DynamoVideoStore(sandbox.dynamodb, TABLE)
    assert [v.verdict_id for v in store.verdicts(clip.video_id)] == [verdict["verdict_id"]]
    record = store.get(clip.video_id)
    assert record is not None and record.latest_verdict is not None
    assert record.latest_verdict.verdict_id == verdict["verdict_id"] and not record.awaiting_review
    # And the lake holds one moderation_verdicts object at the verdict's key
    listed = sandbox.s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=VERDICTS.prefix).get("Contents", [])
    day = verdict["recorded_at"][:10]
    assert [o["Key"] for o in listed] == [f"moderation_verdicts/dt={day}/{verdict['verdict_id']}.parquet"]
    body = sandbox.s3.get_object(Bucket=LAKE_BUCKET, Key=listed[0]["Key"])["Body"].read()
    assert read_parquet(body).column("object_key").to_pylist() == [KEY]
    # And the lookup now shows the verdict
    assert invoke(get_event(bucket=MEDIA_BUCKET, key=KEY))[1]["verdict"]["verdict_id"] == verdict["verdict_id"]


def test_a_base64_encoded_body_is_decoded(sandbox: Sandbox) -> None:
    # Given a POST whose body the function URL passed base64-encoded (a binary content type)
    clip = collected(sandbox, video(KEY))
    event = post_event(clip.video_id, {"verdict": "confirmed"})
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    # Then it is read as the JSON it encodes
    status, body = invoke(event)
    assert (status, body["verdict"]["verdict"]) == (201, "confirmed")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"verdict": ', "body: not valid JSON"),
        ({"verdict": "yes"}, "verdict: must be 'confirmed' or 'overturned'"),
        ({"verdict": "confirmed", "category": "Nudity"}, "category: must be a top-level moderation category"),
        ({"verdict": "confirmed", "request_id": "x"}, "request_id: must match"),
    ],
    ids=["json", "verdict", "category", "request_id"],
)
def test_an_invalid_verdict_is_a_400_naming_the_field(sandbox: Sandbox, body: Any, message: str) -> None:
    clip = collected(sandbox, video(KEY))
    status, answer = invoke(post_event(clip.video_id, body))
    assert status == 400 and answer["message"].startswith(message)
    assert DynamoVideoStore(sandbox.dynamodb, TABLE).verdicts(clip.video_id) == []


def test_a_verdict_on_an_unknown_video_is_404_and_on_a_clean_one_409(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a clean video
    clean = collected(sandbox, video("clean.mp4"), flagged=False)
    # When verdicts name a video never seen, and the clean video
    unknown = invoke(post_event("0" * 32))
    not_flagged = invoke(post_event(clean.video_id))
    # Then the first is 404, the second 409 with a message, and each refusal is logged with its video
    assert unknown == (404, {"message": f"no video {'0' * 32}"})
    assert not_flagged[0] == 409 and "is not flagged" in not_flagged[1]["message"]
    lines = [vars(r) for r in caplog.records if r.getMessage() == "review API request refused"]
    assert [(line["status"], line["video_id"]) for line in lines] == [(404, "0" * 32), (409, clean.video_id)]
    assert lines[1]["key"] == "clean.mp4"


def test_a_request_without_an_iam_identity_is_403(sandbox: Sandbox) -> None:
    # Given a flagged video and a POST whose request context carries no IAM authorizer (not an AWS_IAM URL's call)
    clip = collected(sandbox, video(KEY))
    event = post_event(clip.video_id)
    del event["requestContext"]["authorizer"]
    # Then it is refused and nothing is recorded
    status, body = invoke(event)
    assert status == 403 and "no verified IAM identity" in body["message"]
    assert DynamoVideoStore(sandbox.dynamodb, TABLE).verdicts(clip.video_id) == []

"""Message parsing, identities and tokens."""

from __future__ import annotations

import json

import pytest

from functions.common.errors import MalformedMessage, UnexpectedBucket
from functions.common.messages import (
    ContinueCollect,
    ObjectCreated,
    ObjectDeleted,
    RetryStart,
    continue_collect_message,
    parse_collect_message,
    parse_start_message,
    retry_start_message,
)
from functions.common.models import CLIENT_TOKEN_PATTERN, JobNotification, VideoRef, client_request_token, job_tag
from tests.helpers import MEDIA_BUCKET, load_event, video


def parse(name: str) -> object:
    return parse_start_message(json.dumps(load_event(name)), MEDIA_BUCKET)


def test_put_event_names_the_exact_version() -> None:
    message = parse("s3_object_created_put.json")
    assert isinstance(message, ObjectCreated) and message.reason == "PutObject"
    assert message.video.key == "uploads/2026/11/clip.mp4"
    assert message.video.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert message.video.size == 1048576 and message.video.uploaded_at.isoformat() == "2026-11-20T10:15:30+00:00"


def test_multipart_event_with_unicode_spaces_and_upper_case_suffix() -> None:
    message = parse("s3_object_created_multipart.json")
    assert isinstance(message, ObjectCreated) and message.reason == "CompleteMultipartUpload"
    assert message.video.key == "teams/trust & safety/2026/11/20/Überwachung – Kamera 1.MOV"


def test_key_is_taken_raw_never_url_decoded() -> None:
    # EventBridge delivers keys raw: '+' is a plus and '%25' is the three characters
    message = parse("s3_object_created_special_key.json")
    assert message.video.key == "raw/a+b 100%25 final+cut.Mp4"  # type: ignore[union-attr]


def test_event_from_another_bucket_is_refused() -> None:
    with pytest.raises(UnexpectedBucket, match="someone-elses-bucket"):
        parse("s3_object_created_other_bucket.json")


def test_delete_event() -> None:
    message = parse("s3_object_deleted.json")
    assert isinstance(message, ObjectDeleted)
    assert message.deletion_type == "Delete Marker Created" and message.key == "uploads/2026/11/clip.mp4"


def test_unversioned_object_uses_etag() -> None:
    event = load_event("s3_object_created_put.json")
    event["detail"]["object"]["version-id"] = "null"
    message = parse_start_message(json.dumps(event), MEDIA_BUCKET)
    assert message.video.version_id is None and message.video.version_or_etag == "b1946ac92492d2347c6235b4d2611184"


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2, 3]",
        json.dumps({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}),
        json.dumps({"source": "aws.s3", "detail-type": "Object Created", "time": "2026-11-20T10:00:00Z"}),
        json.dumps(
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "time": "2026-11-20T10:00:00Z",
                "detail": {"bucket": {"name": MEDIA_BUCKET}, "object": {"key": ""}},
            }
        ),
        json.dumps(
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "time": "2026-11-20T10:00:00Z",
                "detail": {"bucket": {"name": MEDIA_BUCKET}, "object": {"key": "a.mp4"}},
            }
        ),
        json.dumps({"kind": "modlake.retry_start", "video": {"bucket": MEDIA_BUCKET}}),
    ],
)
def test_malformed_start_bodies_raise_a_clear_error(body: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_start_message(body, MEDIA_BUCKET)


def test_retry_message_round_trip() -> None:
    clip = video("a b/c+d.mp4")
    message = parse_start_message(json.dumps(retry_start_message(clip, 3, kicked=True)), MEDIA_BUCKET)
    assert message == RetryStart(clip, 3, True)


def test_collect_messages() -> None:
    envelope = load_event("rekognition_sns_succeeded.json")
    note = parse_collect_message(json.dumps(envelope))
    assert isinstance(note, JobNotification) and note.status == "SUCCEEDED" and note.api == "StartContentModeration"
    failed = parse_collect_message(json.dumps(load_event("rekognition_sns_failed.json")))
    assert isinstance(failed, JobNotification) and failed.status == "FAILED"
    continuation = parse_collect_message(json.dumps(continue_collect_message("job-1", "vid")))
    assert continuation == ContinueCollect("job-1", "vid")


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        json.dumps({"Type": "Notification", "Message": "not json"}),
        json.dumps({"Type": "Notification", "Message": json.dumps({"JobId": "j"})}),
        json.dumps({"kind": "modlake.continue_collect"}),
    ],
)
def test_malformed_collect_bodies_raise(body: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_collect_message(body)


def test_video_id_token_and_tag_are_deterministic_and_valid() -> None:
    a = VideoRef("b", "k.mp4", "v1", None)
    assert a.video_id == VideoRef("b", "k.mp4", "v1", "other-etag").video_id
    assert a.video_id != VideoRef("b", "k.mp4", "v2", None).video_id
    assert a.video_id != VideoRef("b2", "k.mp4", "v1", None).video_id
    token = client_request_token(a)
    assert CLIENT_TOKEN_PATTERN.match(token) and len(token) <= 64
    assert job_tag(a) == a.video_id


def test_video_without_version_or_etag_has_no_identity() -> None:
    with pytest.raises(ValueError, match="neither a version id nor an ETag"):
        _ = VideoRef("b", "k.mp4", None, None).video_id

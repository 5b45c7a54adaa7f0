"""Message parsing, identities, tokens and the stream facts' two stored shapes."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

import botocore.session
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
from functions.common.models import (
    JobNotification,
    VideoMetadata,
    VideoRef,
    client_request_token,
    job_tag,
)
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


def _start_content_moderation_accepts(member: str, value: str) -> bool:
    """Whether StartContentModeration's model (botocore's copy of the API's constraints) allows this string value."""
    model = botocore.session.get_session().get_service_model("rekognition")
    rule = model.operation_model("StartContentModeration").input_shape.members[member].metadata
    return rule["min"] <= len(value) <= rule["max"] and re.fullmatch(rule["pattern"], value) is not None


UPLOADED = datetime(2026, 11, 20, 10, 15, 30, 123_456, tzinfo=UTC)
VERSION = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"  # an S3 version id as S3 makes them (a dot included)
ETAG = "5d41402abc4b2a76b9719d911017c592-12"  # a multipart upload's ETag


def _version(bucket: str, key: str, version_id: str | None, etag: str | None) -> VideoRef:
    """An object version as an upload event describes it (size and a microsecond upload time included)."""
    return VideoRef(bucket, key, version_id, etag, size=1_048_576, uploaded_at=UPLOADED)


# One object version each: keys that differ only in characters a token built from the key would have to escape or
# drop, keys that only a missing separator tells apart, another bucket, another version, an unversioned object.
DISTINCT_VERSIONS = [
    _version("media", "clips/a b.mp4", VERSION, None),
    _version("media", "clips/a+b.mp4", VERSION, None),
    _version("media", "clips/a%20b.mp4", VERSION, None),
    _version("media", "clips/a_b.mp4", VERSION, None),
    _version("media", "clips/a-b.mp4", VERSION, None),
    _version("media", "clips/A b.mp4", VERSION, None),
    _version("media", "clips/a b.mp4 ", VERSION, None),
    _version("media", "clips/\u00e4 b.mp4", VERSION, None),  # ä, composed
    _version("media", "clips/a\u0308 b.mp4", VERSION, None),  # ä, decomposed: another S3 key
    _version("media", "clips/" + "x" * 1000 + "1.mp4", VERSION, None),
    _version("media", "clips/" + "x" * 1000 + "2.mp4", VERSION, None),  # same first 1,000 characters
    _version("media1", "clips/a b.mp4", VERSION, None),
    _version("media", "1clips/a b.mp4", VERSION, None),  # bucket + key spells "media1clips/a b.mp4" both times
    _version("media", "clips/a b.mp4", "v2", None),
    _version("media", "clips/a b.mp4v", "2", None),  # key + version spells "clips/a b.mp4v2" both times
    _version("media", "clips/a b.mp4", None, ETAG),
    _version("media", "clips/a b.mp4", None, ETAG.replace("-12", "-13")),
]


@pytest.mark.parametrize(
    "clip", DISTINCT_VERSIONS, ids=lambda clip: f"{clip.bucket}/{clip.key[-20:]}@{clip.version_or_etag[-6:]}"
)
def test_the_client_token_and_job_tag_are_ones_rekognition_accepts_and_stable_across_retries(clip: VideoRef) -> None:
    # Given an object version, the same version as a retry message carries it (upload time to the millisecond), and
    # as another record of it may (no size or upload time; another ETag when the version id identifies it)
    retried = VideoRef.from_message(clip.to_message())
    other_etag = clip.etag if clip.version_id is None else "other-etag"
    redelivered = VideoRef(clip.bucket, clip.key, clip.version_id, other_etag)
    # When its token and tag are built
    token, tag = client_request_token(clip), job_tag(clip)
    # Then StartContentModeration's own constraints accept them (botocore checks neither the pattern nor the
    # maximum length before sending: the API would reject the start)
    assert _start_content_moderation_accepts("ClientRequestToken", token), token
    assert _start_content_moderation_accepts("JobTag", tag), tag
    # And a retry of the same version sends the same token (so Rekognition returns the same job), and the tag is
    # the video id the collector looks the video up by
    assert client_request_token(retried) == client_request_token(redelivered) == token
    assert tag == clip.video_id


def test_the_client_token_differs_for_every_other_object_version() -> None:
    # Given object versions that differ in bucket, key (by one character, or only once concatenated) or version
    # When each gets its token
    tokens = [client_request_token(clip) for clip in DISTINCT_VERSIONS]
    # Then no two share one (a shared token would make Rekognition return one video's job for another)
    assert len(set(tokens)) == len(DISTINCT_VERSIONS)


def test_video_without_version_or_etag_has_no_identity() -> None:
    with pytest.raises(ValueError, match="neither a version id nor an ETag"):
        _ = VideoRef("b", "k.mp4", None, None).video_id


def test_video_metadata_reads_rekognition_and_its_own_columns_alike() -> None:
    # Given Rekognition's VideoMetadata with every fact, and the same facts as DynamoDB returns columns (Decimals)
    rekognition = {
        "Codec": "h264",
        "Format": "QuickTime / MOV",
        "DurationMillis": 60_000,
        "FrameRate": 29.97,
        "FrameWidth": 1280,
        "FrameHeight": 720,
        "ColorRange": "LIMITED",
    }
    # When both are read
    from_api = VideoMetadata.from_rekognition(rekognition)
    stored = {k: Decimal(repr(v)) if isinstance(v, float | int) else v for k, v in from_api.columns().items()}
    from_item = VideoMetadata.from_columns(stored | {"status": "SUCCEEDED"})
    # Then no field is left out, the numbers get their own types back, and the two agree
    assert all(getattr(from_api, f.name) is not None for f in fields(VideoMetadata))
    assert from_item == from_api and isinstance(from_item.frame_rate, float) and isinstance(from_item.duration_ms, int)
    # And an empty response gives empty metadata
    assert VideoMetadata.from_rekognition({}) == VideoMetadata() == VideoMetadata.from_columns({})

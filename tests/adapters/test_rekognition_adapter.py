"""Rekognition adapter against botocore's Stubber: requests and responses validated by the service model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.errors import PaginationExpired, RekognitionBusy, VideoRejected
from functions.common.models import client_request_token, job_tag
from tests.helpers import video

TOPIC = "arn:aws:sns:us-east-1:123456789012:AmazonRekognition-modlake"
ROLE = "arn:aws:iam::123456789012:role/modlake-rekognition"
JOB = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"
META = {
    "Codec": "h264",
    "DurationMillis": 61_000,
    "Format": "QuickTime / MOV",
    "FrameRate": 29.97,
    "FrameHeight": 720,
    "FrameWidth": 1280,
    "ColorRange": "LIMITED",
}


@pytest.fixture
def stubbed() -> Iterator[tuple[RekognitionModeration, Stubber]]:
    client = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield RekognitionModeration(client, TOPIC, ROLE), stubber
        stubber.assert_no_pending_responses()


def label(ts: int, name: str, parent: str, level: int, confidence: float, **extra: Any) -> dict[str, Any]:
    return {
        "Timestamp": ts,
        "ModerationLabel": {"Name": name, "ParentName": parent, "TaxonomyLevel": level, "Confidence": confidence},
        **extra,
    }


def page(labels: list[dict[str, Any]], token: str | None, status: str = "SUCCEEDED") -> dict[str, Any]:
    response: dict[str, Any] = {
        "JobStatus": status,
        "VideoMetadata": META,
        "ModerationLabels": labels,
        "ModerationModelVersion": "7.0",
        "JobId": JOB,
        "Video": {"S3Object": {"Bucket": "modlake-media-test", "Name": "k.mp4"}},
        "JobTag": "tag",
        "GetRequestMetadata": {"SortBy": "TIMESTAMP", "AggregateBy": "SEGMENTS"},
    }
    if token:
        response["NextToken"] = token
    return response


def test_start_sends_version_token_tag_and_channel(stubbed: tuple[RekognitionModeration, Stubber]) -> None:
    # Given a versioned video
    adapter, stubber = stubbed
    clip = video("deep/path/with space/Clip+1 100%.MP4", version="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    stubber.add_response(
        "start_content_moderation",
        {"JobId": JOB},
        {
            "Video": {"S3Object": {"Bucket": clip.bucket, "Name": clip.key, "Version": clip.version_id}},
            "MinConfidence": 50.0,
            "ClientRequestToken": client_request_token(clip),
            "NotificationChannel": {"SNSTopicArn": TOPIC, "RoleArn": ROLE},
            "JobTag": job_tag(clip),
        },
    )
    # When the job starts
    job_id = adapter.start(clip, token=client_request_token(clip), job_tag=job_tag(clip), min_confidence=50)
    # Then the exact key and version were sent and the JobId comes back
    assert job_id == JOB


@pytest.mark.parametrize(
    ("code", "expected", "skip"),
    [
        ("LimitExceededException", RekognitionBusy, None),
        ("ProvisionedThroughputExceededException", RekognitionBusy, None),
        ("ThrottlingException", RekognitionBusy, None),
        ("VideoTooLargeException", VideoRejected, True),
        ("InvalidS3ObjectException", VideoRejected, True),
        ("InvalidParameterException", VideoRejected, False),
        ("IdempotentParameterMismatchException", VideoRejected, False),
    ],
)
def test_start_errors_become_modlake_errors(
    stubbed: tuple[RekognitionModeration, Stubber], code: str, expected: type[Exception], skip: bool | None
) -> None:
    adapter, stubber = stubbed
    stubber.add_client_error(
        "start_content_moderation",
        service_error_code=code,
        service_message="nope",
        expected_params={
            "Video": ANY,
            "MinConfidence": ANY,
            "ClientRequestToken": ANY,
            "NotificationChannel": ANY,
            "JobTag": ANY,
        },
    )
    clip = video()
    with pytest.raises(expected) as caught:
        adapter.start(clip, token=client_request_token(clip), job_tag=job_tag(clip), min_confidence=50)
    if skip is not None:
        assert caught.value.skip is skip  # type: ignore[attr-defined]
    else:
        assert caught.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", ["AccessDeniedException", "InternalServerError"])
def test_unexpected_start_errors_propagate_for_retry(stubbed: tuple[RekognitionModeration, Stubber], code: str) -> None:
    adapter, stubber = stubbed
    stubber.add_client_error("start_content_moderation", service_error_code=code)
    clip = video()
    with pytest.raises(Exception) as caught:
        adapter.start(clip, token=client_request_token(clip), job_tag=job_tag(clip), min_confidence=50)
    assert not isinstance(caught.value, RekognitionBusy | VideoRejected)


def test_reads_three_pages_with_segments_and_content_types(stubbed: tuple[RekognitionModeration, Stubber]) -> None:
    # Given a job whose results span three pages (segments, content types, three taxonomy levels)
    adapter, stubber = stubbed
    pages = [
        page(
            [
                label(
                    0,
                    "Violence",
                    "",
                    1,
                    93.5,
                    StartTimestampMillis=0,
                    EndTimestampMillis=2000,
                    DurationMillis=2000,
                    ContentTypes=[{"Confidence": 88.0, "Name": "Animated"}],
                )
            ],
            "t1",
        ),
        page([label(2000, "Graphic Violence", "Violence", 2, 91.0)], "t2"),
        page([label(4000, "Blood & Gore", "Graphic Violence", 3, 85.25)], None),
    ]
    for i, response in enumerate(pages):
        params = {"JobId": JOB, "MaxResults": 1000, "SortBy": "TIMESTAMP", "AggregateBy": "SEGMENTS"}
        if i:
            params["NextToken"] = f"t{i}"
        stubber.add_response("get_content_moderation", response, params)
    # When the pages are read following NextToken
    token, read = None, []
    while True:
        result = adapter.results_page(JOB, next_token=token, max_results=1000, aggregate_by="SEGMENTS")
        read.append(result)
        token = result.next_token
        if not token:
            break
    # Then every field survives
    assert len(read) == 3
    first = read[0].detections[0]
    assert (first.start_timestamp_ms, first.end_timestamp_ms, first.duration_ms) == (0, 2000, 2000)
    assert first.content_types[0].name == "Animated" and first.content_types[0].confidence == 88.0
    assert read[2].detections[0].parent_name == "Graphic Violence" and read[2].detections[0].taxonomy_level == 3
    assert read[0].metadata.frame_rate == 29.97 and read[0].metadata.color_range == "LIMITED"
    assert read[1].model_version == "7.0"


def test_failed_job_page_carries_status_message(stubbed: tuple[RekognitionModeration, Stubber]) -> None:
    adapter, stubber = stubbed
    response = page([], None, status="FAILED") | {"StatusMessage": "Unsupported codec"}
    stubber.add_response("get_content_moderation", response)
    result = adapter.results_page(JOB, next_token=None, max_results=1, aggregate_by="TIMESTAMPS")
    assert result.job_status == "FAILED" and result.status_message == "Unsupported codec"


def test_expired_token_and_throttling(stubbed: tuple[RekognitionModeration, Stubber]) -> None:
    adapter, stubber = stubbed
    stubber.add_client_error("get_content_moderation", service_error_code="InvalidPaginationTokenException")
    stubber.add_client_error("get_content_moderation", service_error_code="ProvisionedThroughputExceededException")
    with pytest.raises(PaginationExpired):
        adapter.results_page(JOB, next_token="old", max_results=1000, aggregate_by="TIMESTAMPS")
    with pytest.raises(RekognitionBusy):
        adapter.results_page(JOB, next_token=None, max_results=1000, aggregate_by="TIMESTAMPS")

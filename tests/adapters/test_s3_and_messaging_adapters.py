"""S3, SQS, SNS and EventBridge adapters and message formats against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.common.adapters.messaging import EventBridgePublisher, SqsWorkQueue
from functions.common.adapters.s3 import S3LakeObjects, S3MediaObjects
from functions.common.messages import JobNotification, parse_collect_message, parse_start_message
from functions.common.models import VideoRef
from sandbox.moto_aws import follow_aws
from tests.fakes import MP4_HEAD
from tests.helpers import MEDIA_BUCKET


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])


def test_media_reads_the_exact_version_and_reports_missing(aws: None) -> None:
    # Given a versioned bucket with two versions of a key with awkward characters
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=MEDIA_BUCKET)
    s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = "raw/a+b 100%25 Überwachung.Mp4"
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=MP4_HEAD + b"first")["VersionId"]
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"second, not a video")
    media = S3MediaObjects(s3)
    # When the first version is read
    ref = VideoRef(MEDIA_BUCKET, key, v1, None)
    info = media.head(ref)
    # Then its size and bytes are the first version's
    assert info is not None and info.size == len(MP4_HEAD) + 5 and info.version_id == v1
    assert media.read_start(ref, 8) == MP4_HEAD[:8]
    # And a missing key or version is None, not an error
    assert media.head(VideoRef(MEDIA_BUCKET, "nope.mp4", None, "etag")) is None


def test_media_reads_a_range_of_the_exact_version(aws: None) -> None:
    # Given a versioned key whose first version is an MP4 head and whose latest is longer text
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=MEDIA_BUCKET)
    s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = MP4_HEAD + b"0123456789"
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key="clip.mp4", Body=first)["VersionId"]
    s3.put_object(Bucket=MEDIA_BUCKET, Key="clip.mp4", Body=b"x" * 200)
    media = S3MediaObjects(s3)
    ref = VideoRef(MEDIA_BUCKET, "clip.mp4", v1, None)
    # When ranges of the first version are read
    middle = media.read_range(ref, len(MP4_HEAD) + 2, 4)
    tail = media.read_range(ref, len(first) - 3, 100)
    past = [media.read_range(ref, offset, 8) for offset in (len(first), len(first) + 50)]
    # Then they are that version's bytes, fewer at its end, and nothing at or past its end
    assert middle == b"2345"
    assert tail == b"789"
    assert past == [b"", b""]
    # And the latest version (no VersionId) is read when the reference names none
    assert media.read_range(VideoRef(MEDIA_BUCKET, "clip.mp4", None, "etag"), 150, 100) == b"x" * 50


def test_lake_put_get_delete(aws: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    lake = S3LakeObjects(s3, "lake")
    lake.put("moderation_labels/dt=2026-11-20/job.parquet", b"PAR1", "application/vnd.apache.parquet")
    assert lake.get("moderation_labels/dt=2026-11-20/job.parquet") == b"PAR1"
    keys = [f"_staging/collect/job/chunk-{i:05d}.parquet" for i in range(3)]
    for key in keys:
        lake.put(key, b"x", "application/octet-stream")
    lake.delete(keys)
    assert s3.list_objects_v2(Bucket="lake", Prefix="_staging/").get("KeyCount") == 0


def test_work_queue_sends_json_with_capped_delay(aws: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, _ = _queue(sqs, "start")
    SqsWorkQueue(sqs, url).send({"kind": "modlake.retry_start", "attempt": 2}, delay_seconds=0)
    [message] = _receive(sqs, url)
    assert json.loads(message["Body"]) == {"kind": "modlake.retry_start", "attempt": 2}


def test_video_moderated_event_reaches_a_rule_target(aws: None) -> None:
    # Given a rule on the default bus for modlake's events, targeting a queue
    sqs = boto3.client("sqs", region_name="us-east-1")
    events = boto3.client("events", region_name="us-east-1")
    url, arn = _queue(sqs, "alerts")
    events.put_rule(Name="alerts", EventPattern=json.dumps({"source": ["modlake"], "detail-type": ["Video Moderated"]}))
    events.put_targets(Rule="alerts", Targets=[{"Id": "q", "Arn": arn}])
    # When a video is published as moderated
    EventBridgePublisher(events, "default", "modlake").video_moderated({"video_id": "v", "flagged": True})
    # Then the integration receives it
    [message] = _receive(sqs, url)
    event = json.loads(message["Body"])
    assert event["detail-type"] == "Video Moderated" and event["detail"] == {"video_id": "v", "flagged": True}


def test_rekognition_completion_through_sns_parses(aws: None) -> None:
    # Given the collect queue subscribed to the completion topic (raw delivery off)
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="AmazonRekognition-modlake")["TopicArn"]
    url, arn = _queue(sqs, "collect")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    payload = {
        "JobId": "job-42",
        "Status": "SUCCEEDED",
        "API": "StartContentModeration",
        "JobTag": "vid",
        "Timestamp": 1763633967310,
        "Video": {"S3ObjectName": "a b+c.mp4", "S3Bucket": MEDIA_BUCKET},
    }
    # When Rekognition publishes its completion
    sns.publish(TopicArn=topic, Message=json.dumps(payload))
    # Then the SQS body (an SNS envelope) parses into the notification
    [message] = _receive(sqs, url)
    parsed = parse_collect_message(message["Body"])
    assert isinstance(parsed, JobNotification)
    assert (parsed.job_id, parsed.status, parsed.job_tag, parsed.key) == ("job-42", "SUCCEEDED", "vid", "a b+c.mp4")
    assert parsed.timestamp.isoformat().startswith("2025-11-20T10:19:27")


def test_s3_event_through_eventbridge_parses(aws: None) -> None:
    # Given moto's S3 → EventBridge → SQS path, corrected where moto differs from AWS (as the sandbox does)
    follow_aws()
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    events = boto3.client("events", region_name="us-east-1")
    s3.create_bucket(Bucket=MEDIA_BUCKET)
    s3.put_bucket_notification_configuration(
        Bucket=MEDIA_BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    url, arn = _queue(sqs, "start")
    events.put_rule(Name="uploads", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}))
    events.put_targets(Rule="uploads", Targets=[{"Id": "q", "Arn": arn}])
    # When a key with spaces and a plus is uploaded
    s3.put_object(Bucket=MEDIA_BUCKET, Key="in/a b+c.mp4", Body=MP4_HEAD)
    # Then the event parses with the key exactly as stored
    [message] = _receive(sqs, url)
    parsed = parse_start_message(message["Body"], MEDIA_BUCKET)
    assert parsed.video.key == "in/a b+c.mp4"  # type: ignore[union-attr]
    # And the ETag is read from AWS's spelling, the object's real ETag
    assert "etag" in json.loads(message["Body"])["detail"]["object"]
    assert parsed.video.etag == s3.head_object(Bucket=MEDIA_BUCKET, Key="in/a b+c.mp4")["ETag"].strip('"')  # type: ignore[union-attr]


def test_a_schedule_rule_gets_no_events_as_in_aws(aws: None) -> None:
    # Given a schedule rule (the scheduler's tick) and an event rule on the default bus, as the sandbox corrects moto
    follow_aws()
    sqs = boto3.client("sqs", region_name="us-east-1")
    events = boto3.client("events", region_name="us-east-1")
    tick_url, tick_arn = _queue(sqs, "tick")
    events_url, events_arn = _queue(sqs, "events")
    events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="tick", Targets=[{"Id": "q", "Arn": tick_arn, "Input": '{"kind": "tick"}'}])
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["modlake"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": events_arn}])
    # When an event is put on the bus
    events.put_events(Entries=[{"Source": "modlake", "DetailType": "Video Moderated", "Detail": "{}"}])
    # Then the event rule delivers it and the schedule rule does not (moto alone would deliver it to both)
    assert len(_receive(sqs, events_url)) == 1
    assert sqs.receive_message(QueueUrl=tick_url, WaitTimeSeconds=0).get("Messages", []) == []

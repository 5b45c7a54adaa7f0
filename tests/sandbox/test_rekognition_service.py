"""The local Rekognition Video moderation API answers as AWS does: job lifecycle, limits, errors, SNS notices, pages.

S3, SNS and SQS are moto's (in process); the video probe and analysis are fakes that script what a "video" holds,
keyed by the object's bytes, so no real video is decoded. Every response is checked against botocore's model.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.protocol import RequestContext, ServiceError, operation_model, response_problems, validate_request
from sandbox.rekognition.classifier import Finding, ModerationLabel
from sandbox.rekognition.service import RekognitionService, RekognitionSettings
from sandbox.rekognition.video import Analysis, FrameLabels, UnsupportedVideo, VideoProbe

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
BUCKET = "modlake-media-local"
ROLE_ARN = "arn:aws:iam::123456789012:role/RekognitionPublish"
CONTEXT = RequestContext(region=REGION, access_key="testing")
START = "StartContentModeration"
GET = "GetContentModeration"
WAIT = 5.0


def label(name: str, parent: str, level: int, confidence: float) -> ModerationLabel:
    """A moderation label as the analysis reports it."""
    return ModerationLabel(name=name, parent_name=parent, taxonomy_level=level, confidence=confidence)


def swimwear(confidence: float) -> tuple[ModerationLabel, ...]:
    """A level-2 swimwear label with its level-1 ancestor, as Rekognition reports both."""
    return (
        label("Swimwear or Underwear", "", 1, confidence),
        label("Female Swimwear or Underwear", "Swimwear or Underwear", 2, confidence),
    )


def probe_of(duration_ms: int) -> VideoProbe:
    """A 720p H.264 MP4 header of the given length."""
    return VideoProbe(
        codec="h264",
        format="QuickTime / MOV",
        duration_ms=duration_ms,
        frame_rate=25.0,
        frame_width=1280,
        frame_height=720,
        color_range="LIMITED",
    )


# Sampled at 2 frames per second (every 500 ms); nothing at 1500 ms, so segments split there.
BEACH_FRAMES = (
    FrameLabels(0, swimwear(80.0)),
    FrameLabels(500, (*swimwear(95.0), label("Alcohol", "", 1, 40.0))),
    FrameLabels(1000, swimwear(70.0)),
    FrameLabels(2000, (*swimwear(60.0), label("Violence", "", 1, 55.0))),
)
BEACH_DURATION_MS = 2200


@dataclass
class Clip:
    """What the fake probe and analysis say about one "video" (an S3 object whose bytes name the clip)."""

    probe: VideoProbe
    frames: tuple[FrameLabels, ...] = ()
    probe_error: Exception | None = None
    analyze_error: Exception | None = None


@dataclass
class FakeVideo:
    """Stands in for video.probe/video.analyze; `gate` holds analyses so a test can watch jobs IN_PROGRESS."""

    clips: dict[bytes, Clip] = field(default_factory=dict)
    gate: threading.Event = field(default_factory=threading.Event)
    analysed: list[Path] = field(default_factory=list)
    delay: float = 0.0

    def __post_init__(self) -> None:
        self.gate.set()

    def probe(self, path: Path) -> VideoProbe:
        """Header of the scripted clip whose bytes the downloaded file holds."""
        clip = self.clips[path.read_bytes()]
        if clip.probe_error is not None:
            raise clip.probe_error
        return clip.probe

    def analyze(self, path: Path, classifier: Any, frames_per_second: float = 2.0) -> Analysis:
        """The scripted clip's frames, once the gate is open (the downloaded file must still be there)."""
        assert isinstance(classifier, NeverCalledClassifier)
        assert frames_per_second == 2.0
        assert self.gate.wait(WAIT), "test never opened the gate"
        clip = self.clips[path.read_bytes()]
        self.analysed.append(path)
        time.sleep(self.delay)
        if clip.analyze_error is not None:
            raise clip.analyze_error
        return Analysis(probe=clip.probe, frames=clip.frames, frames_sampled=len(clip.frames))


class NeverCalledClassifier:
    """The classifier handed to analyze; the fake analysis never classifies a frame."""

    name = "never-called"

    def classify(self, frame: Any) -> list[Finding]:
        """Fails the test: frames are scripted, not classified."""
        raise AssertionError("the fake analysis does not classify frames")


class FakeClock:
    """time.time() under the test's control."""

    def __init__(self, now: float = 1_763_640_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Aws:
    """moto's S3 bucket, the completion topic and the SQS queue subscribed to it."""

    s3: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str

    def put(self, key: str, body: bytes) -> str | None:
        """Upload one object; its VersionId when the bucket is versioned."""
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=body).get("VersionId")

    def notices(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Rekognition payloads that reached the queue: the SNS envelope's Message, parsed."""
        received = self.sqs.receive_message(QueueUrl=queue_url or self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(json.loads(message["Body"])["Message"]) for message in received.get("Messages", [])]


def subscribed_queue(sns: Any, sqs: Any, topic_arn: str, name: str) -> str:
    """An SQS queue receiving the topic's messages in SNS envelopes (raw delivery off)."""
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


@functools.cache
def aws_client(service: str, region: str) -> Any:
    """One boto3 client per service and region for the module: moto's mock serves any client, and making one is slow."""
    return boto3.client(service, region_name=region)


def clients(service: str, context: RequestContext) -> Any:
    """The ClientFactory the service gets: moto's service in the caller's region."""
    return aws_client(service, context.region)


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        s3, sns, sqs = (aws_client(service, REGION) for service in ("s3", "sns", "sqs"))
        s3.create_bucket(Bucket=BUCKET)
        topic_arn = sns.create_topic(Name="AmazonRekognitionModlake")["TopicArn"]
        queue_url = subscribed_queue(sns, sqs, topic_arn, "rekognition-completions")
        yield Aws(s3, sns, sqs, topic_arn, queue_url)


@pytest.fixture
def video(aws: Aws) -> FakeVideo:
    fake = FakeVideo()
    fake.clips[b"beach"] = Clip(probe_of(BEACH_DURATION_MS), BEACH_FRAMES)
    aws.put("videos/beach.mp4", b"beach")
    return fake


ServiceFactory = Callable[..., RekognitionService]


class RecordingClients:
    """A ClientFactory that notes every (service, method) the service calls, to check what it did not call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, service: str, context: RequestContext) -> Any:
        client, calls = aws_client(service, context.region), self.calls

        class Recorder:
            def __getattr__(self, name: str) -> Any:
                calls.append((service, name))
                return getattr(client, name)

        return Recorder()


@pytest.fixture
def make_service(aws: Aws, video: FakeVideo, tmp_path: Path) -> Iterator[ServiceFactory]:
    made: list[RekognitionService] = []

    def make(
        settings: RekognitionSettings | None = None,
        clock: Callable[[], float] = time.time,
        client_factory: Callable[[str, RequestContext], Any] = clients,
    ) -> RekognitionService:
        service = RekognitionService(
            client_factory,
            NeverCalledClassifier(),
            tmp_path / "rekognition",
            settings or RekognitionSettings(),
            probe=video.probe,
            analyze=video.analyze,
            clock=clock,
        )
        made.append(service)
        return service

    yield make
    video.gate.set()
    for service in made:
        service.wait_until_idle(WAIT)
        service.close()


def call(
    service: RekognitionService, operation: str, request: dict[str, Any], context: RequestContext = CONTEXT
) -> Any:
    """One request the way the endpoint makes it: validated first, and the response checked against the model."""
    model = operation_model("rekognition", operation)
    validate_request(model, request)
    response = service.handle(operation, request, context)
    assert response_problems(model, response) == []
    return response


def error_of(
    service: RekognitionService, operation: str, request: dict[str, Any], context: RequestContext = CONTEXT
) -> str:
    """The AWS error code a request fails with."""
    with pytest.raises(ServiceError) as caught:
        call(service, operation, request, context)
    assert caught.value.status == 400
    return caught.value.code


def start_request(key: str = "videos/beach.mp4", **extra: Any) -> dict[str, Any]:
    """A StartContentModeration request for an object in the test bucket."""
    return {"Video": {"S3Object": {"Bucket": BUCKET, "Name": key}}, **extra}


def channel(topic_arn: str) -> dict[str, str]:
    """A NotificationChannel naming the topic."""
    return {"SNSTopicArn": topic_arn, "RoleArn": ROLE_ARN}


def start(service: RekognitionService, key: str = "videos/beach.mp4", **extra: Any) -> str:
    """Start a job and return its JobId."""
    return str(call(service, START, start_request(key, **extra))["JobId"])


def finished(service: RekognitionService, job_id: str, **request: Any) -> dict[str, Any]:
    """GetContentModeration once the job has ended."""
    assert service.wait_until_idle(WAIT)
    response: dict[str, Any] = call(service, GET, {"JobId": job_id, **request})
    return response


def all_labels(service: RekognitionService, job_id: str, page_size: int, **request: Any) -> list[dict[str, Any]]:
    """Every detection of a job, page by page, checking VideoMetadata comes with each page."""
    labels: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(
            service,
            GET,
            {"JobId": job_id, "MaxResults": page_size, **request, **({"NextToken": token} if token else {})},
        )
        assert page["VideoMetadata"]["DurationMillis"] == BEACH_DURATION_MS
        assert len(page["ModerationLabels"]) <= page_size
        labels.extend(page["ModerationLabels"])
        token = page.get("NextToken")
        if token is None:
            return labels


def brief(detections: list[dict[str, Any]]) -> list[tuple[int, str, float]]:
    """(Timestamp, Name, Confidence) of each detection, for compact expectations."""
    return [(d["Timestamp"], d["ModerationLabel"]["Name"], d["ModerationLabel"]["Confidence"]) for d in detections]


# Lifecycle and the completion notice


def test_a_job_is_in_progress_until_its_analysis_ends_then_succeeds_and_notifies_sns(
    make_service: ServiceFactory, aws: Aws, video: FakeVideo
) -> None:
    # Given an analysis held at the gate
    clock = FakeClock()
    service = make_service(clock=clock)
    video.gate.clear()
    # When a job starts with a topic and a tag
    job_id = start(service, NotificationChannel=channel(aws.topic_arn), JobTag="upload-42")
    # Then it is IN_PROGRESS, with the video's metadata but no labels yet, and nothing is published
    assert re.fullmatch(r"[0-9a-f]{64}", job_id)
    running = call(service, GET, {"JobId": job_id})
    assert running["JobStatus"] == "IN_PROGRESS"
    assert running["ModerationLabels"] == []
    assert "NextToken" not in running and "StatusMessage" not in running
    assert running["VideoMetadata"] == probe_of(BEACH_DURATION_MS).video_metadata()
    assert running["JobTag"] == "upload-42"
    assert service.stats.in_progress == 1
    assert aws.notices() == []
    # When the analysis finishes
    video.gate.set()
    done = finished(service, job_id)
    # Then the job SUCCEEDED with AWS's response members, and SNS got Rekognition's exact payload
    assert done["JobStatus"] == "SUCCEEDED"
    assert done["JobId"] == job_id
    assert done["ModerationModelVersion"] == "7.0"
    assert done["Video"] == {"S3Object": {"Bucket": BUCKET, "Name": "videos/beach.mp4"}}
    assert done["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "TIMESTAMPS"}
    assert done["VideoMetadata"]["DurationMillis"] == BEACH_DURATION_MS
    assert len(done["ModerationLabels"]) == 9
    assert service.stats.in_progress == 0
    assert aws.notices() == [
        {
            "JobId": job_id,
            "Status": "SUCCEEDED",
            "API": "StartContentModeration",
            "JobTag": "upload-42",
            "Timestamp": int(clock.now * 1000),
            "Video": {"S3ObjectName": "videos/beach.mp4", "S3Bucket": BUCKET},
        }
    ]


def test_the_downloaded_video_is_analysed_from_the_work_dir_then_deleted(
    make_service: ServiceFactory, video: FakeVideo, tmp_path: Path
) -> None:
    # Given a service working under tmp_path/rekognition
    service = make_service()
    # When a job runs to its end
    job_id = start(service)
    finished(service, job_id)
    # Then the analysis read a file under the work dir, and no file is left behind
    assert len(video.analysed) == 1
    assert (tmp_path / "rekognition") in video.analysed[0].parents
    assert [p for p in (tmp_path / "rekognition").rglob("*") if p.is_file()] == []


def test_without_a_job_tag_the_notice_and_the_response_have_none(make_service: ServiceFactory, aws: Aws) -> None:
    service = make_service()
    job_id = start(service, NotificationChannel=channel(aws.topic_arn))
    response = finished(service, job_id)
    assert "JobTag" not in response
    [notice] = aws.notices()
    assert "JobTag" not in notice
    assert notice["Status"] == "SUCCEEDED"


def test_the_notice_goes_to_the_region_the_topic_arn_names(make_service: ServiceFactory, aws: Aws) -> None:
    # Given a topic (and its subscribed queue) in another region than the caller's
    sns, sqs = aws_client("sns", OTHER_REGION), aws_client("sqs", OTHER_REGION)
    topic_arn = sns.create_topic(Name="AmazonRekognitionEurope")["TopicArn"]
    queue_url = subscribed_queue(sns, sqs, topic_arn, "europe-completions")
    service = make_service()
    # When a job notifies it
    job_id = start(service, NotificationChannel=channel(topic_arn))
    finished(service, job_id)
    # Then the notice arrives there
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(json.loads(message["Body"])["Message"])["JobId"] == job_id


def test_a_version_id_reads_that_version_and_is_echoed(
    make_service: ServiceFactory, aws: Aws, video: FakeVideo
) -> None:
    # Given a versioned bucket whose key now holds a newer, different clip
    aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    old = aws.put("videos/versioned.mp4", b"beach")
    video.clips[b"empty"] = Clip(probe_of(BEACH_DURATION_MS), ())
    aws.put("videos/versioned.mp4", b"empty")
    assert old is not None
    service = make_service()
    # When the old version is moderated
    request = start_request("videos/versioned.mp4")
    request["Video"]["S3Object"]["Version"] = old
    job_id = call(service, START, request)["JobId"]
    response = finished(service, job_id)
    # Then its labels (not the new version's) come back, and the version is echoed
    assert len(response["ModerationLabels"]) == 9
    assert response["Video"]["S3Object"]["Version"] == old


# Idempotency


def test_the_same_client_token_and_parameters_return_the_same_job(make_service: ServiceFactory, aws: Aws) -> None:
    service = make_service()
    request = start_request(ClientRequestToken="upload-42", NotificationChannel=channel(aws.topic_arn), JobTag="t")
    first = call(service, START, request)["JobId"]
    again = call(service, START, request)["JobId"]
    assert again == first
    assert service.stats.jobs_started == 1
    finished(service, first)
    assert call(service, START, request)["JobId"] == first  # also once the job has ended
    assert len(aws.notices()) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"Video": {"S3Object": {"Bucket": BUCKET, "Name": "videos/other.mp4"}}},
        {"MinConfidence": 80.0},
        {"NotificationChannel": None},
        {"JobTag": "another-tag"},
    ],
    ids=["video", "min-confidence", "notification-channel", "job-tag"],
)
def test_the_same_client_token_with_other_parameters_is_a_mismatch(
    make_service: ServiceFactory, aws: Aws, change: dict[str, Any]
) -> None:
    # Given a job started with a token
    aws.put("videos/other.mp4", b"beach")
    service = make_service()
    request = start_request(ClientRequestToken="upload-42", NotificationChannel=channel(aws.topic_arn), JobTag="t")
    call(service, START, request)
    # When the token comes back with one parameter changed (or dropped)
    changed = {k: v for k, v in {**request, **change}.items() if v is not None}
    # Then AWS's mismatch error, and no second job
    assert error_of(service, START, changed) == "IdempotentParameterMismatchException"
    assert service.stats.jobs_started == 1


def test_a_client_token_is_scoped_to_its_region(make_service: ServiceFactory) -> None:
    service = make_service()
    here = call(service, START, start_request(ClientRequestToken="t1"))["JobId"]
    elsewhere = call(service, START, start_request(ClientRequestToken="t1"), RequestContext(OTHER_REGION, "testing"))
    assert elsewhere["JobId"] != here


# Limits


def test_starts_beyond_the_concurrency_limit_fail_until_a_job_ends(
    make_service: ServiceFactory, video: FakeVideo
) -> None:
    # Given two jobs in progress, the limit
    service = make_service(RekognitionSettings(max_concurrent_jobs=2))
    video.gate.clear()
    first = call(service, START, start_request(ClientRequestToken="first"))["JobId"]
    start(service)
    # When a third starts
    # Then LimitExceededException (no server-side queue), though a retry of the first still gets its JobId
    assert error_of(service, START, start_request()) == "LimitExceededException"
    assert call(service, START, start_request(ClientRequestToken="first"))["JobId"] == first
    assert service.stats.in_progress == 2
    # When the jobs end
    video.gate.set()
    assert service.wait_until_idle(WAIT)
    # Then the count is back under the limit and a new start is accepted
    assert service.stats.in_progress == 0
    start(service)
    assert service.wait_until_idle(WAIT)
    assert service.stats.jobs_started == 3
    assert service.stats.max_in_progress_seen == 2


def test_many_concurrent_starts_never_run_more_jobs_than_the_limit(
    make_service: ServiceFactory, video: FakeVideo
) -> None:
    # Given a limit of 3 jobs, 2 analysis workers, and analyses held until 3 jobs are in
    service = make_service(RekognitionSettings(max_concurrent_jobs=3, analysis_workers=2))
    video.gate.clear()
    video.delay = 0.01
    accepted: list[str] = []
    refused = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal refused
        for _ in range(1000):
            try:
                job_id = start(service)
            except ServiceError as error:
                assert error.code == "LimitExceededException"
                with lock:
                    refused += 1
                time.sleep(0.002)
                continue
            with lock:
                accepted.append(job_id)
            return

    # When 8 clients start a job each at once, retrying on LimitExceededException
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT
    while service.stats.in_progress < 3 and time.monotonic() < deadline:
        time.sleep(0.002)
    video.gate.set()
    for thread in threads:
        thread.join(WAIT * 2)
    assert service.wait_until_idle(WAIT)
    # Then every job ran, starts were refused meanwhile, and never more than 3 were in progress
    assert len(set(accepted)) == 8
    assert refused > 0
    assert service.stats.jobs_started == 8
    assert service.stats.max_in_progress_seen == 3
    assert all(finished(service, job_id)["JobStatus"] == "SUCCEEDED" for job_id in accepted)


def test_requests_beyond_the_rate_are_throttled_per_operation(make_service: ServiceFactory) -> None:
    # Given 2 requests per second per operation and a clock that stands still
    clock = FakeClock()
    service = make_service(RekognitionSettings(transactions_per_second=2), clock=clock)
    unknown = {"JobId": "0" * 64}
    # When three gets come in the same instant
    assert error_of(service, GET, unknown) == "ResourceNotFoundException"
    assert error_of(service, GET, unknown) == "ResourceNotFoundException"
    # Then the third is throttled, while starts have their own budget
    assert error_of(service, GET, unknown) == "ProvisionedThroughputExceededException"
    start(service)
    # When half a second passes, one more get fits
    clock.now += 0.5
    assert error_of(service, GET, unknown) == "ResourceNotFoundException"
    assert error_of(service, GET, unknown) == "ProvisionedThroughputExceededException"


def test_an_object_larger_than_the_limit_is_refused_before_download(
    make_service: ServiceFactory, aws: Aws, tmp_path: Path
) -> None:
    # Given a 100-byte limit and a 101-byte object
    recording = RecordingClients()
    service = make_service(RekognitionSettings(max_video_bytes=100, max_concurrent_jobs=1), client_factory=recording)
    aws.put("videos/big.mp4", b"x" * 101)
    # Then VideoTooLargeException without downloading it, no job, no file, and the job slot is free again
    assert error_of(service, START, start_request("videos/big.mp4")) == "VideoTooLargeException"
    assert ("s3", "head_object") in recording.calls
    assert ("s3", "get_object") not in recording.calls
    assert service.stats.jobs_started == 0
    assert [p for p in (tmp_path / "rekognition").rglob("*") if p.is_file()] == []
    start(service)


def test_an_object_that_grew_after_its_head_is_cut_off_at_the_limit(
    make_service: ServiceFactory, aws: Aws, tmp_path: Path
) -> None:
    # Given S3 answering the HEAD with the old, small size of an object that is now 101 bytes
    aws.put("videos/growing.mp4", b"x" * 101)

    def stale_head(service: str, context: RequestContext) -> Any:
        client = aws_client(service, context.region)

        class StaleHead:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            def head_object(self, **request: Any) -> dict[str, Any]:
                return {**client.head_object(**request), "ContentLength": 10}

        return StaleHead()

    service = make_service(RekognitionSettings(max_video_bytes=100), client_factory=stale_head)
    # Then the download stops at the limit: VideoTooLargeException and no file left
    assert error_of(service, START, start_request("videos/growing.mp4")) == "VideoTooLargeException"
    assert [p for p in (tmp_path / "rekognition").rglob("*") if p.is_file()] == []


def test_a_video_longer_than_the_limit_is_refused(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service(RekognitionSettings(max_video_seconds=2.0))
    assert error_of(service, START, start_request()) == "VideoTooLargeException"  # 2.2 s long
    assert service.stats.jobs_started == 0
    assert [p for p in (tmp_path / "rekognition").rglob("*") if p.is_file()] == []


# Start errors


@pytest.mark.parametrize(
    "s3_object",
    [
        {"Bucket": "no-such-bucket", "Name": "videos/beach.mp4"},
        {"Bucket": BUCKET, "Name": "videos/missing.mp4"},
        {"Bucket": BUCKET, "Name": "videos/beach.mp4", "Version": "no-such-version"},
    ],
    ids=["bucket", "key", "version"],
)
def test_a_missing_object_is_an_invalid_s3_object(
    make_service: ServiceFactory, aws: Aws, s3_object: dict[str, str]
) -> None:
    aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    service = make_service()
    assert error_of(service, START, {"Video": {"S3Object": s3_object}}) == "InvalidS3ObjectException"
    assert service.stats.jobs_started == 0


def test_a_topic_that_does_not_exist_is_refused_at_start(make_service: ServiceFactory, aws: Aws) -> None:
    service = make_service()
    typo = aws.topic_arn + "Typo"
    with pytest.raises(ServiceError) as caught:
        call(service, START, start_request(NotificationChannel=channel(typo)))
    assert caught.value.code == "InvalidParameterException"
    assert typo in caught.value.message
    assert service.stats.jobs_started == 0


# Failed jobs


def test_an_unsupported_video_is_accepted_then_fails_like_aws(
    make_service: ServiceFactory, aws: Aws, video: FakeVideo
) -> None:
    # Given an object that is no video at all
    video.clips[b"text"] = Clip(probe_of(0), probe_error=UnsupportedVideo("no video stream"))
    aws.put("videos/notes.txt", b"text")
    service = make_service()
    # When it is moderated
    job_id = start(service, "videos/notes.txt", NotificationChannel=channel(aws.topic_arn))
    response = finished(service, job_id)
    # Then the job FAILED with AWS's message, without metadata or labels, and SNS says FAILED
    assert response["JobStatus"] == "FAILED"
    assert response["StatusMessage"] == "Unsupported codec/format."
    assert "VideoMetadata" not in response
    assert response["ModerationLabels"] == []
    [notice] = aws.notices()
    assert notice["Status"] == "FAILED"
    assert notice["JobId"] == job_id
    assert video.analysed == []


def test_a_video_that_fails_to_decode_fails_its_job_with_metadata(
    make_service: ServiceFactory, aws: Aws, video: FakeVideo
) -> None:
    video.clips[b"vp9"] = Clip(probe_of(1000), analyze_error=UnsupportedVideo("vp9 in webm"))
    aws.put("videos/clip.webm", b"vp9")
    service = make_service()
    response = finished(service, start(service, "videos/clip.webm"))
    assert response["JobStatus"] == "FAILED"
    assert response["StatusMessage"] == "Unsupported codec/format."
    assert response["VideoMetadata"]["DurationMillis"] == 1000


def test_an_unexpected_analysis_error_fails_the_job_and_is_logged(
    make_service: ServiceFactory, aws: Aws, video: FakeVideo, caplog: pytest.LogCaptureFixture
) -> None:
    video.clips[b"boom"] = Clip(probe_of(1000), analyze_error=RuntimeError("decoder crashed"))
    aws.put("videos/boom.mp4", b"boom")
    service = make_service()
    with caplog.at_level(logging.ERROR, logger="sandbox.rekognition.service"):
        job_id = start(service, "videos/boom.mp4", NotificationChannel=channel(aws.topic_arn))
        response = finished(service, job_id)
    assert response["JobStatus"] == "FAILED"
    assert response["StatusMessage"]
    assert "decoder crashed" not in response["StatusMessage"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert job_id in record.getMessage() and "videos/boom.mp4" in record.getMessage()
    assert record.exc_info is not None
    assert aws.notices()[0]["Status"] == "FAILED"


def test_a_failed_publish_is_logged_and_the_job_keeps_its_outcome(
    make_service: ServiceFactory, aws: Aws, video: FakeVideo, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a job whose topic is deleted while it runs
    service = make_service()
    video.gate.clear()
    job_id = start(service, NotificationChannel=channel(aws.topic_arn))
    aws.sns.delete_topic(TopicArn=aws.topic_arn)
    # When it finishes
    with caplog.at_level(logging.ERROR, logger="sandbox.rekognition.service"):
        video.gate.set()
        response = finished(service, job_id)
    # Then the failure is logged with the job id, and the job still SUCCEEDED
    assert response["JobStatus"] == "SUCCEEDED"
    assert any(job_id in r.getMessage() and r.exc_info for r in caplog.records if r.levelno == logging.ERROR)


# Results


def test_detections_below_min_confidence_are_left_out(make_service: ServiceFactory) -> None:
    service = make_service()
    default = finished(service, start(service))
    strict = finished(service, start(service, MinConfidence=75.0))
    lenient = finished(service, start(service, MinConfidence=0.0))
    assert {d["ModerationLabel"]["Confidence"] for d in default["ModerationLabels"]} == {80.0, 95.0, 70.0, 60.0, 55.0}
    assert brief(strict["ModerationLabels"]) == [
        (0, "Female Swimwear or Underwear", 80.0),
        (0, "Swimwear or Underwear", 80.0),
        (500, "Female Swimwear or Underwear", 95.0),
        (500, "Swimwear or Underwear", 95.0),
    ]
    assert (500, "Alcohol", 40.0) in brief(lenient["ModerationLabels"])


def test_timestamps_come_one_per_label_and_sample_sorted_by_time_then_name(make_service: ServiceFactory) -> None:
    service = make_service()
    labels = finished(service, start(service))["ModerationLabels"]
    assert brief(labels) == [
        (0, "Female Swimwear or Underwear", 80.0),
        (0, "Swimwear or Underwear", 80.0),
        (500, "Female Swimwear or Underwear", 95.0),
        (500, "Swimwear or Underwear", 95.0),
        (1000, "Female Swimwear or Underwear", 70.0),
        (1000, "Swimwear or Underwear", 70.0),
        (2000, "Female Swimwear or Underwear", 60.0),
        (2000, "Swimwear or Underwear", 60.0),
        (2000, "Violence", 55.0),
    ]
    assert labels[2] == {
        "Timestamp": 500,
        "ModerationLabel": {
            "Confidence": 95.0,
            "Name": "Female Swimwear or Underwear",
            "ParentName": "Swimwear or Underwear",
            "TaxonomyLevel": 2,
        },
        "ContentTypes": [],
    }


def test_name_order_groups_labels_by_name_highest_confidence_first(make_service: ServiceFactory) -> None:
    service = make_service()
    labels = finished(service, start(service), SortBy="NAME")["ModerationLabels"]
    assert brief(labels)[:5] == [
        (500, "Female Swimwear or Underwear", 95.0),
        (0, "Female Swimwear or Underwear", 80.0),
        (1000, "Female Swimwear or Underwear", 70.0),
        (2000, "Female Swimwear or Underwear", 60.0),
        (500, "Swimwear or Underwear", 95.0),
    ]
    assert brief(labels)[-1] == (2000, "Violence", 55.0)


def test_segments_merge_consecutive_samples_of_a_label(make_service: ServiceFactory) -> None:
    service = make_service()
    response = finished(service, start(service), AggregateBy="SEGMENTS")
    assert response["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "SEGMENTS"}
    segments = [
        (
            d["ModerationLabel"]["Name"],
            d["StartTimestampMillis"],
            d["EndTimestampMillis"],
            d["DurationMillis"],
            d["ModerationLabel"]["Confidence"],
        )
        for d in response["ModerationLabels"]
    ]
    # 0, 500 and 1000 ms run together and end one interval after the last sample; 1500 ms has nothing, so
    # 2000 ms starts a new segment, which ends at the video's end (2200 ms) rather than at 2500 ms.
    assert segments == [
        ("Female Swimwear or Underwear", 0, 1500, 1500, 95.0),
        ("Swimwear or Underwear", 0, 1500, 1500, 95.0),
        ("Female Swimwear or Underwear", 2000, 2200, 200, 60.0),
        ("Swimwear or Underwear", 2000, 2200, 200, 60.0),
        ("Violence", 2000, 2200, 200, 55.0),
    ]
    assert all(d["Timestamp"] == d["StartTimestampMillis"] for d in response["ModerationLabels"])
    assert response["ModerationLabels"][0]["ModerationLabel"]["ParentName"] == "Swimwear or Underwear"


def test_timestamps_mode_has_no_segment_members(make_service: ServiceFactory) -> None:
    service = make_service()
    for detection in finished(service, start(service))["ModerationLabels"]:
        assert set(detection) == {"Timestamp", "ModerationLabel", "ContentTypes"}


@pytest.mark.parametrize("sort_by", ["TIMESTAMP", "NAME"])
@pytest.mark.parametrize("aggregate_by", ["TIMESTAMPS", "SEGMENTS"])
def test_pages_of_two_add_up_to_the_whole_sorted_list(
    make_service: ServiceFactory, sort_by: str, aggregate_by: str
) -> None:
    service = make_service()
    job_id = start(service)
    whole = finished(service, job_id, SortBy=sort_by, AggregateBy=aggregate_by)
    assert "NextToken" not in whole
    paged = all_labels(service, job_id, 2, SortBy=sort_by, AggregateBy=aggregate_by)
    assert paged == whole["ModerationLabels"]
    assert len(paged) == (9 if aggregate_by == "TIMESTAMPS" else 5)
    keys = brief(paged)
    if sort_by == "TIMESTAMP":
        assert keys == sorted(keys, key=lambda k: (k[0], k[1]))
    else:
        assert keys == sorted(keys, key=lambda k: (k[1], -k[2], k[0]))


def test_max_results_above_1000_returns_at_most_1000(make_service: ServiceFactory, aws: Aws, video: FakeVideo) -> None:
    frames = tuple(FrameLabels(i * 500, swimwear(90.0)) for i in range(600))
    video.clips[b"long"] = Clip(probe_of(300_000), frames)
    aws.put("videos/long.mp4", b"long")
    service = make_service()
    job_id = start(service, "videos/long.mp4")
    first = finished(service, job_id, MaxResults=5000)
    assert len(first["ModerationLabels"]) == 1000
    rest = call(service, GET, {"JobId": job_id, "NextToken": first["NextToken"]})
    assert len(rest["ModerationLabels"]) == 200
    assert "NextToken" not in rest


# Pagination tokens


def test_a_token_is_refused_when_forged_foreign_or_for_another_order(make_service: ServiceFactory) -> None:
    # Given two finished jobs and a NextToken of the first
    service = make_service()
    job_id, other_id = start(service), start(service)
    token = finished(service, job_id, MaxResults=2)["NextToken"]
    assert len(token) <= 255
    assert call(service, GET, {"JobId": job_id, "MaxResults": 2, "NextToken": token})["ModerationLabels"]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    # Then garbage, a tampered token, another job's token, or another sort/aggregation are refused
    bad_requests = [
        {"JobId": job_id, "NextToken": "not-a-token"},
        {"JobId": job_id, "NextToken": "%%%"},
        {"JobId": job_id, "NextToken": tampered},
        {"JobId": other_id, "NextToken": token},
        {"JobId": job_id, "NextToken": token, "SortBy": "NAME"},
        {"JobId": job_id, "NextToken": token, "AggregateBy": "SEGMENTS"},
    ]
    for request in bad_requests:
        assert error_of(service, GET, request) == "InvalidPaginationTokenException", request


def test_a_token_lives_24_hours(make_service: ServiceFactory) -> None:
    clock = FakeClock()
    service = make_service(clock=clock)
    job_id = start(service)
    token = finished(service, job_id, MaxResults=2)["NextToken"]
    clock.now += 24 * 3600 - 1
    assert call(service, GET, {"JobId": job_id, "MaxResults": 2, "NextToken": token})["ModerationLabels"]
    clock.now += 2
    assert error_of(service, GET, {"JobId": job_id, "NextToken": token}) == "InvalidPaginationTokenException"


def test_a_token_from_another_service_instance_is_refused(make_service: ServiceFactory) -> None:
    first, second = make_service(), make_service()
    job_id = start(first)
    token = finished(first, job_id, MaxResults=2)["NextToken"]
    assert error_of(second, GET, {"JobId": job_id, "NextToken": token}) == "ResourceNotFoundException"
    second_job = start(second)
    finished(second, second_job)
    assert error_of(second, GET, {"JobId": second_job, "NextToken": token}) == "InvalidPaginationTokenException"


# Unknown jobs and shutdown


def test_an_unknown_job_id_is_resource_not_found(make_service: ServiceFactory) -> None:
    service = make_service()
    job_id = start(service)
    assert error_of(service, GET, {"JobId": "f" * 64}) == "ResourceNotFoundException"
    assert (
        error_of(service, GET, {"JobId": job_id}, RequestContext(OTHER_REGION, "testing"))
        == "ResourceNotFoundException"
    )


def test_close_drops_queued_jobs_and_their_files(
    make_service: ServiceFactory, video: FakeVideo, tmp_path: Path
) -> None:
    # Given one analysis held at the gate and one queued behind it
    service = make_service()
    video.gate.clear()
    start(service)
    start(service)
    assert len([p for p in (tmp_path / "rekognition").rglob("*") if p.is_file()]) == 2
    # When the service closes
    service.close()
    video.gate.set()
    # Then the downloads are gone, the queued job failed instead of hanging IN_PROGRESS, and requests fail
    assert [p for p in (tmp_path / "rekognition").rglob("*") if p.is_file()] == []
    assert service.wait_until_idle(WAIT)
    assert service.stats.in_progress == 0
    with pytest.raises(ServiceError) as caught:
        service.handle(START, start_request(), CONTEXT)
    assert caught.value.status == 500

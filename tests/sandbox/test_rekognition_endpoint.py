"""Rekognition Video content moderation through boto3 against a running local endpoint, job by job."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError

from sandbox.clips import Scene
from sandbox.endpoint import LocalEndpoint
from sandbox.rekognition.classifier import (
    CLEAN,
    LOW_CONFIDENCE,
    NUDITY,
    WEAPONS,
    Finding,
    PaletteClassifier,
)
from sandbox.rekognition.service import RekognitionService, RekognitionSettings
from tests.sandbox.conftest import EndpointFactory
from tests.sandbox.rekognition_fixture import BUCKET, RekognitionSandbox

# 4 s at 10 fps, sampled at 2 per second: frames at 0, 500, …, 3500 ms.
SCENES = (Scene(1.0, CLEAN), Scene(1.5, NUDITY), Scene(0.5, CLEAN), Scene(1.0, WEAPONS))
NUDITY_MS = range(1000, 2500)
WEAPONS_MS = range(3000, 4000)


@pytest.fixture
def sandbox(start_endpoint: EndpointFactory, tmp_path: Path) -> RekognitionSandbox:
    return RekognitionSandbox(start_endpoint(), tmp_path)


def _key(label: dict[str, object]) -> tuple[object, ...]:
    moderation = label["ModerationLabel"]
    assert isinstance(moderation, dict)
    return (label["Timestamp"], moderation["Name"])


def test_a_job_runs_from_start_to_sns_completion_with_labels_on_every_page(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/clip one.mp4", SCENES)
    job_id = sandbox.start("uploads/clip one.mp4", version, ClientRequestToken="video-1", JobTag="video-1")
    assert re.fullmatch(r"[0-9a-f]{64}", job_id)

    message = sandbox.completion(job_id)
    assert set(message) == {"JobId", "Status", "API", "JobTag", "Timestamp", "Video"}
    assert message["Status"] == "SUCCEEDED" and message["API"] == "StartContentModeration"
    assert message["JobTag"] == "video-1" and isinstance(message["Timestamp"], int)
    assert message["Video"] == {"S3Bucket": BUCKET, "S3ObjectName": "uploads/clip one.mp4"}

    first = sandbox.rekognition.get_content_moderation(JobId=job_id, MaxResults=2)
    assert first["JobStatus"] == "SUCCEEDED" and first["ModerationModelVersion"] == "7.0"
    assert first["JobTag"] == "video-1" and first["Video"]["S3Object"]["Version"] == version
    metadata = first["VideoMetadata"]
    assert (metadata["Codec"], metadata["Format"]) == ("h264", "QuickTime / MOV")
    assert (metadata["FrameWidth"], metadata["FrameHeight"], metadata["FrameRate"]) == (320, 240, 10.0)
    assert abs(metadata["DurationMillis"] - 4000) <= 100
    assert first["GetRequestMetadata"] == {"SortBy": "TIMESTAMP", "AggregateBy": "TIMESTAMPS"}

    paged = sandbox.all_labels(job_id, page_size=2)
    whole = sandbox.all_labels(job_id)
    assert paged == whole and len(whole) > 2
    assert [_key(label) for label in whole] == sorted(_key(label) for label in whole)

    by_name: dict[str, list[dict[str, object]]] = {}
    for label in whole:
        by_name.setdefault(label["ModerationLabel"]["Name"], []).append(label)
    nipple = by_name["Exposed Female Nipple"]
    assert {label["Timestamp"] for label in nipple} == {1000, 1500, 2000}
    assert all(label["Timestamp"] in NUDITY_MS for label in nipple)
    assert nipple[0]["ModerationLabel"] == {
        "Name": "Exposed Female Nipple",
        "ParentName": "Explicit Nudity",
        "TaxonomyLevel": 3,
        "Confidence": pytest.approx(97.0),
    }
    assert by_name["Explicit Nudity"][0]["ModerationLabel"]["ParentName"] == "Explicit"
    assert by_name["Explicit"][0]["ModerationLabel"]["ParentName"] == ""
    assert {label["Timestamp"] for label in by_name["Weapons"]} <= set(WEAPONS_MS)
    assert by_name["Violence"][0]["ModerationLabel"]["TaxonomyLevel"] == 1


def test_both_sort_orders_page_the_same_labels(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/sorted.mp4", SCENES)
    job_id = sandbox.start("uploads/sorted.mp4", version)
    sandbox.completion(job_id)
    by_time = sandbox.all_labels(job_id, page_size=3, SortBy="TIMESTAMP")
    by_name = sandbox.all_labels(job_id, page_size=3, SortBy="NAME")
    assert sorted(map(_key, by_time)) == sorted(map(_key, by_name))
    names = [(label["ModerationLabel"]["Name"], label["Timestamp"]) for label in by_name]
    assert names == sorted(names)


def test_segments_merge_consecutive_samples_of_a_label(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/segments.mp4", SCENES)
    job_id = sandbox.start("uploads/segments.mp4", version)
    sandbox.completion(job_id)
    segments = sandbox.all_labels(job_id, AggregateBy="SEGMENTS")
    nipple = [s for s in segments if s["ModerationLabel"]["Name"] == "Exposed Female Nipple"]
    assert len(nipple) == 1
    [segment] = nipple
    assert segment["StartTimestampMillis"] == 1000 == segment["Timestamp"]
    assert segment["EndTimestampMillis"] in range(2000, 2600)
    assert segment["DurationMillis"] == segment["EndTimestampMillis"] - segment["StartTimestampMillis"]
    assert len([s for s in segments if s["ModerationLabel"]["Name"] == "Weapons"]) == 1


def test_client_request_token_returns_the_same_job_and_rejects_other_parameters(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/token.mp4", (Scene(1.0, CLEAN),))
    first = sandbox.start("uploads/token.mp4", version, ClientRequestToken="tok-1", MinConfidence=60.0)
    again = sandbox.start("uploads/token.mp4", version, ClientRequestToken="tok-1", MinConfidence=60.0)
    assert again == first
    with pytest.raises(ClientError) as caught:
        sandbox.start("uploads/token.mp4", version, ClientRequestToken="tok-1", MinConfidence=70.0)
    assert caught.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as invalid:  # botocore does not check the pattern; AWS does
        sandbox.start("uploads/token.mp4", version, ClientRequestToken="not a token!")
    assert invalid.value.response["Error"]["Code"] == "ValidationException"


def test_min_confidence_filters_low_confidence_labels(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/low.mp4", (Scene(1.0, LOW_CONFIDENCE),))
    default_job = sandbox.start("uploads/low.mp4", version)
    permissive_job = sandbox.start("uploads/low.mp4", version, MinConfidence=40.0)
    sandbox.completion(default_job)
    sandbox.completion(permissive_job)
    assert sandbox.all_labels(default_job) == []
    assert {label["ModerationLabel"]["Name"] for label in sandbox.all_labels(permissive_job)} >= {"Explicit"}


def test_pagination_tokens_are_checked(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/tokens.mp4", SCENES)
    job_id = sandbox.start("uploads/tokens.mp4", version)
    other_job = sandbox.start("uploads/tokens.mp4", version, MinConfidence=10.0)
    sandbox.completion(job_id)
    sandbox.completion(other_job)
    token = sandbox.rekognition.get_content_moderation(JobId=job_id, MaxResults=1)["NextToken"]
    for request in (
        {"JobId": job_id, "NextToken": token[:-4] + "AAAA"},
        {"JobId": job_id, "NextToken": "garbage"},
        {"JobId": other_job, "NextToken": token},
        {"JobId": job_id, "NextToken": token, "SortBy": "NAME"},
    ):
        with pytest.raises(ClientError) as caught:
            sandbox.rekognition.get_content_moderation(MaxResults=1, **request)
        assert caught.value.response["Error"]["Code"] == "InvalidPaginationTokenException", request
    with pytest.raises(ClientError) as unknown:
        sandbox.rekognition.get_content_moderation(JobId="f" * 64)
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_file_that_is_not_h264_fails_the_job_as_aws_does(sandbox: RekognitionSandbox) -> None:
    mpeg4 = sandbox.upload_clip("uploads/mpeg4.mp4", (Scene(1.0, CLEAN),), codec="mpeg4")
    text = sandbox.upload_bytes("uploads/notes.mp4", b"this is not a video\n" * 100)
    for key, version in (("uploads/mpeg4.mp4", mpeg4), ("uploads/notes.mp4", text)):
        job_id = sandbox.start(key, version)
        assert sandbox.completion(job_id)["Status"] == "FAILED"
        response = sandbox.rekognition.get_content_moderation(JobId=job_id)
        assert response["JobStatus"] == "FAILED"
        assert response["StatusMessage"] == "Unsupported codec/format."
        assert response["ModerationLabels"] == []


def test_a_missing_object_or_version_is_an_invalid_s3_object(sandbox: RekognitionSandbox) -> None:
    version = sandbox.upload_clip("uploads/here.mp4", (Scene(1.0, CLEAN),))
    for key, wrong_version in (("uploads/absent.mp4", None), ("uploads/here.mp4", "not-" + version)):
        with pytest.raises(ClientError) as caught:
            sandbox.start(key, wrong_version)
        assert caught.value.response["Error"]["Code"] == "InvalidS3ObjectException"


def test_limits_on_size_and_request_rate(start_endpoint: EndpointFactory, tmp_path: Path) -> None:
    sandbox = RekognitionSandbox(start_endpoint(max_video_bytes=1_000, transactions_per_second=1.0), tmp_path)
    version = sandbox.upload_clip("uploads/big.mp4", (Scene(1.0, CLEAN),))
    with pytest.raises(ClientError) as too_large:
        sandbox.start("uploads/big.mp4", version)
    assert too_large.value.response["Error"]["Code"] == "VideoTooLargeException"
    codes = []
    for _ in range(5):  # an unknown job: each call that is not throttled is ResourceNotFoundException
        with pytest.raises(ClientError) as caught:
            sandbox.rekognition.get_content_moderation(JobId="f" * 64)
        codes.append(caught.value.response["Error"]["Code"])
    assert codes[0] == "ResourceNotFoundException"
    assert "ProvisionedThroughputExceededException" in codes[1:]


class GatedPalette:
    """The palette classifier, held at the first frame until the test opens the gate: jobs stay IN_PROGRESS."""

    name = "gated-palette"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.palette = PaletteClassifier()

    def classify(self, frame: np.ndarray) -> list[Finding]:
        assert self.gate.wait(timeout=60), "the test never opened the gate"
        return self.palette.classify(frame)


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[LocalEndpoint, GatedPalette]]:
    classifier = GatedPalette()
    endpoint = LocalEndpoint(port=0, check_responses=True)
    settings = RekognitionSettings(max_concurrent_jobs=2, analysis_workers=2)
    endpoint.add(RekognitionService(endpoint.clients, classifier, tmp_path / "rekognition", settings))
    with endpoint:
        yield endpoint, classifier
        classifier.gate.set()


def test_the_concurrency_limit_refuses_new_jobs_until_one_finishes(
    gated: tuple[LocalEndpoint, GatedPalette], tmp_path: Path
) -> None:
    endpoint, classifier = gated
    sandbox = RekognitionSandbox(endpoint, tmp_path)
    versions = {key: sandbox.upload_clip(key, (Scene(1.0, CLEAN),)) for key in ("a.mp4", "b.mp4", "c.mp4")}
    running = [sandbox.start("a.mp4", versions["a.mp4"]), sandbox.start("b.mp4", versions["b.mp4"])]
    assert sandbox.rekognition.get_content_moderation(JobId=running[0])["JobStatus"] == "IN_PROGRESS"
    with pytest.raises(ClientError) as caught:
        sandbox.start("c.mp4", versions["c.mp4"])
    assert caught.value.response["Error"]["Code"] == "LimitExceededException"
    classifier.gate.set()
    assert {sandbox.completion(job)["Status"] for job in running} == {"SUCCEEDED"}
    third = sandbox.start("c.mp4", versions["c.mp4"])
    assert sandbox.completion(third)["Status"] == "SUCCEEDED"
    service = endpoint.service("rekognition")
    assert isinstance(service, RekognitionService)
    assert service.stats.max_in_progress_seen == 2


def test_the_real_model_runs_offline_on_a_generated_clip(start_endpoint: EndpointFactory, tmp_path: Path) -> None:
    sandbox = RekognitionSandbox(start_endpoint(classifier="nudenet"), tmp_path)
    version = sandbox.upload_clip("uploads/real.mp4", (Scene(1.0, CLEAN), Scene(1.0, NUDITY)), width=160, height=120)
    job_id = sandbox.start("uploads/real.mp4", version)
    assert sandbox.completion(job_id, timeout=120)["Status"] == "SUCCEEDED"
    response = sandbox.rekognition.get_content_moderation(JobId=job_id)
    assert response["JobStatus"] == "SUCCEEDED"
    assert (response["VideoMetadata"]["FrameWidth"], response["VideoMetadata"]["FrameHeight"]) == (160, 120)
    for label in response["ModerationLabels"]:  # solid colours show nothing; whatever it reports is well-formed
        assert label["ModerationLabel"]["TaxonomyLevel"] in (1, 2, 3)

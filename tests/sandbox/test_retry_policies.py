"""Each service's retry policy, counted in HTTP requests at the local endpoint: botocore's real retry handler
decides (Stubber would bypass it), on the clients the functions build (functions.common.adapters.clients)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import pytest
from botocore.exceptions import ClientError

from functions.common.adapters.clients import RETRY_POLICIES, local_endpoint_client
from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.errors import RekognitionBusy
from functions.common.models import VideoRef
from sandbox.clips import Scene
from sandbox.endpoint import LocalEndpoint
from sandbox.faults import signing_name
from sandbox.rekognition.classifier import CLEAN
from tests.sandbox.conftest import EndpointFactory
from tests.sandbox.rekognition_fixture import BUCKET, ROLE_ARN, RekognitionSandbox
from tests.sandbox.test_rekognition_endpoint import GatedPalette

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "us-east-1", "123456789012"

# One call of each service a function calls; the fault plan answers every one with that service's own error.
CALLS: dict[str, Callable[[Any, str], Any]] = {
    "rekognition": lambda c, _: c.get_content_moderation(JobId="f" * 64),
    "dynamodb": lambda c, _: c.get_item(TableName="videos", Key={"pk": {"S": "VIDEO#v"}, "sk": {"S": "SUMMARY"}}),
    "s3": lambda c, _: c.get_object(Bucket="lake", Key="moderation_videos/dt=2026-11-21/v.parquet"),
    "sqs": lambda c, url: c.send_message(QueueUrl=f"{url}/{ACCOUNT}/start", MessageBody="{}"),
    "sns": lambda c, _: c.publish(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:digest", Message="digest"),
    "events": lambda c, _: c.put_events(
        Entries=[{"Source": "modlake", "DetailType": "Video Moderated", "Detail": "{}"}]
    ),
    "athena": lambda c, _: c.get_query_execution(QueryExecutionId="q1"),
    "sesv2": lambda c, _: c.send_email(
        FromEmailAddress="digest@example.com",
        Destination={"ToAddresses": ["ops@example.com"]},
        Content={"Simple": {"Subject": {"Data": "digest"}, "Body": {"Text": {"Data": "digest"}}}},
    ),
}


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses botocore's retry handler asks for in the test's thread (taken, not slept: the test does not wait
    them out); the endpoint's own threads (its Rekognition publishing completions) keep sleeping as usual."""
    pauses: list[float] = []
    test_thread = threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == test_thread:
            pauses.append(seconds)
        else:
            time.sleep(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=sleep))
    return pauses


def _requests(endpoint: LocalEndpoint, service: str) -> int:
    counts = endpoint.faults.counts().get(signing_name(service))
    return counts.requests if counts else 0


def test_every_service_a_function_calls_has_a_policy_and_a_call_here() -> None:
    assert set(CALLS) == set(RETRY_POLICIES)


@pytest.mark.parametrize("service", sorted(RETRY_POLICIES))
def test_a_throttled_or_failing_service_gets_exactly_its_policys_requests(
    service: str, start_endpoint: EndpointFactory, backoffs: list[float]
) -> None:
    # Given an endpoint that answers every request to this service with the service's own throttling or 5xx
    endpoint = start_endpoint(faults=f"{signing_name(service)}=1")
    made = local_endpoint_client(service, endpoint.url, REGION, "function")
    # When a function's client calls it
    with pytest.raises(ClientError) as failed:
        CALLS[service](made, endpoint.url)
    # Then the endpoint received exactly the policy's number of requests, with a backoff pause between each two
    policy = RETRY_POLICIES[service]
    assert _requests(endpoint, service) == policy.total_attempts
    assert len(backoffs) == policy.total_attempts - 1 and all(pause >= 0 for pause in backoffs)
    # And what the function sees at last is the service's error, which botocore reports with its attempts
    assert failed.value.response["ResponseMetadata"]["RetryAttempts"] == policy.total_attempts - 1
    assert failed.value.response["Error"]["Code"] in endpoint.faults.counts()[signing_name(service)].codes


def test_a_start_refused_at_the_job_limit_reaches_the_scheduler_after_one_request(
    start_endpoint: EndpointFactory, backoffs: list[float], tmp_path: Path
) -> None:
    # Given Rekognition at its concurrent-job limit (one job, held running)
    classifier = GatedPalette()
    endpoint = start_endpoint(classifier=classifier, max_concurrent_jobs=1)
    try:
        sandbox = RekognitionSandbox(endpoint, tmp_path)
        versions = {key: sandbox.upload_clip(key, (Scene(1.0, CLEAN),)) for key in ("a.mp4", "b.mp4")}
        running = sandbox.start("a.mp4", versions["a.mp4"])
        moderation = _moderation(endpoint, sandbox)
        before = _requests(endpoint, "rekognition")
        # When start_moderation's adapter starts another video
        with pytest.raises(RekognitionBusy) as busy:
            moderation.start(
                VideoRef(BUCKET, "b.mp4", versions["b.mp4"], None), token="t" * 64, job_tag="b", min_confidence=50
            )
    finally:
        classifier.gate.set()
    sandbox.completion(running)  # (the held job finishes before the endpoint stops)
    # Then the refusal reaches the scheduler after one request, without a pause (botocore would send three)
    assert _requests(endpoint, "rekognition") - before == 1
    assert backoffs == []
    assert "LimitExceededException" in str(busy.value.__cause__)


def test_a_tps_throttled_start_is_retried_its_policys_times(
    start_endpoint: EndpointFactory, backoffs: list[float], tmp_path: Path
) -> None:
    # Given Rekognition allowing one request per 1000 s per operation (every start after the first is throttled)
    endpoint = start_endpoint(transactions_per_second=0.001)
    sandbox = RekognitionSandbox(endpoint, tmp_path)
    version = sandbox.upload_clip("a.mp4", (Scene(1.0, CLEAN),))
    moderation = _moderation(endpoint, sandbox)
    video = VideoRef(BUCKET, "a.mp4", version, None)
    running = moderation.start(video, token="t" * 64, job_tag="a", min_confidence=50)
    before = _requests(endpoint, "rekognition")
    # When another start is throttled (ProvisionedThroughputExceededException)
    with pytest.raises(RekognitionBusy):
        moderation.start(video, token="u" * 64, job_tag="a", min_confidence=50)
    # Then it was sent the policy's number of times, with backoff, before the scheduler's delayed retry takes over
    assert _requests(endpoint, "rekognition") - before == RETRY_POLICIES["rekognition"].total_attempts
    assert len(backoffs) == RETRY_POLICIES["rekognition"].total_attempts - 1
    sandbox.completion(running)


def test_the_readme_states_the_policies_the_code_has() -> None:
    # Given the README's Retries table / Then it has one row per policy with its number of requests
    section = (ROOT / "README.md").read_text().split("### Retries", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\w+) \| (\d+) \|", section, flags=re.MULTILINE))
    assert rows == {service: str(policy.total_attempts) for service, policy in RETRY_POLICIES.items()}
    for policy in RETRY_POLICIES.values():
        for code in policy.answered_at_once:
            assert f"`{code}`: 1 request" in section


def _moderation(endpoint: LocalEndpoint, sandbox: RekognitionSandbox) -> RekognitionModeration:
    return RekognitionModeration(
        local_endpoint_client("rekognition", endpoint.url, REGION, "function"), sandbox.topic_arn, ROLE_ARN
    )

"""Faults on demand: the plan's parsing, the injector's decisions and counts, and every injected error in its wire
shape as a real botocore client receives it through the endpoint: the code it parses, the HTTP status, and the
verdict of botocore's standard retry mode (retryable; throttling or not, which sets its backoff)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import QueryParser
from botocore.retries.standard import (
    RetryEventAdapter,
    StandardRetryConditions,
    ThrottlingErrorDetector,
)

from sandbox.clips import Scene
from sandbox.endpoint import LocalEndpoint
from sandbox.faults import (
    CATALOG,
    SERVICES,
    FaultedRequest,
    FaultInjector,
    FaultPlan,
    FaultPlanError,
    WireError,
    faults_for,
    signing_name,
)
from sandbox.protocol import service_model
from sandbox.rekognition.classifier import CLEAN, NUDITY
from sandbox.serve import EndpointSettings, build_endpoint
from tests.sandbox.endpoint_clients import endpoint_client
from tests.sandbox.rekognition_fixture import RekognitionSandbox

FUNCTION_KEY = "AKIAFUNCTION0000"  # the caller faults apply to in these tests


# --- the plan -------------------------------------------------------------------------------------------------------
def test_a_plan_reads_each_service_and_its_rate() -> None:
    plan = FaultPlan.parse(" rekognition=0.2, dynamodb=0.05,s3=1,sqs=0 ", seed=7)
    assert dict(plan.rates) == {"rekognition": 0.2, "dynamodb": 0.05, "s3": 1.0, "sqs": 0.0}
    assert plan.seed == 7 and plan.active
    assert plan.rate("rekognition") == 0.2 and plan.rate("sns") == 0.0
    assert plan.describe() == "dynamodb 5%, rekognition 20%, s3 100% (seed 7)"


def test_an_empty_plan_or_zero_rates_fault_nothing() -> None:
    assert not FaultPlan.parse("").active
    assert not FaultPlan.parse("sqs=0,sns=0.0").active
    assert FaultPlan().describe() == "off"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("dynamo=0.2", "'dynamo'"),
        ("s3=0.2,lambda=0.1", "'lambda'"),
        ("s3=1.5", "s3"),
        ("sqs=-0.1", "sqs"),
        ("sns=lots", "'lots'"),
        ("sns=nan", "'nan'"),
        ("athena", "'athena'"),
        ("s3=0.1,s3=0.2", "'s3'"),
    ],
)
def test_a_bad_plan_is_refused_with_the_item_it_names(text: str, named: str) -> None:
    with pytest.raises(FaultPlanError) as refused:
        FaultPlan.parse(text)
    assert named in str(refused.value)


def test_every_service_a_plan_may_name_has_retryable_errors_and_no_job_limit_refusal() -> None:
    assert set(CATALOG) == set(SERVICES)
    for service, protocols in CATALOG.items():
        for entry in protocols:
            assert entry.errors, service
            assert any(e.throttling for e in entry.errors) and any(e.status >= 500 for e in entry.errors), service
    # LimitExceededException is Rekognition's concurrent-job refusal: the pipeline's business, never injected
    assert "LimitExceededException" not in {e.code for entry in CATALOG["rekognition"] for e in entry.errors}


# --- the injector ---------------------------------------------------------------------------------------------------
def _decisions(injector: FaultInjector, service: str, count: int) -> list[str | None]:
    made = (injector.inject(FaultedRequest(service, target="X.Op"), FUNCTION_KEY) for _ in range(count))
    return [None if faulted is None else faulted[0].code for faulted in made]


def test_decisions_follow_the_seed_and_the_rate() -> None:
    plan = FaultPlan.parse("dynamodb=0.2", seed=7)
    first, again = _decisions(FaultInjector(plan), "dynamodb", 1000), _decisions(FaultInjector(plan), "dynamodb", 1000)
    other = _decisions(FaultInjector(FaultPlan.parse("dynamodb=0.2", seed=8)), "dynamodb", 1000)
    # Then the same seed makes the same decisions, another seed others
    assert first == again and first != other
    # And about a fifth of the requests are faulted, with each of DynamoDB's errors
    faulted = [code for code in first if code is not None]
    assert 150 <= len(faulted) <= 250
    assert set(faulted) == {"ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"}


def test_a_service_decides_by_its_own_requests_whatever_other_services_get() -> None:
    plan = FaultPlan.parse("s3=0.3,sqs=0.3", seed=1)
    alone = _decisions(FaultInjector(plan), "s3", 200)
    mixed = FaultInjector(plan)
    interleaved = []
    for _ in range(200):
        _decisions(mixed, "sqs", 3)
        interleaved += _decisions(mixed, "s3", 1)
    assert interleaved == alone


def test_concurrent_requests_draw_each_decision_once() -> None:
    # Given one injector shared by 8 threads, and the same plan decided on one thread
    plan = FaultPlan.parse("events=0.25", seed=3)
    shared, single = FaultInjector(plan), FaultInjector(plan)
    expected = sum(code is not None for code in _decisions(single, "events", 4000))
    # When the threads make 4000 requests between them
    threads = [threading.Thread(target=_decisions, args=(shared, "events", 500)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every request was counted and the faults are the same first 4000 draws of the seed's sequence
    counts = shared.counts()["events"]
    assert counts.requests == 4000 and counts.faults == expected == sum(counts.codes.values())


def test_only_the_callers_faults_apply_to_are_counted_and_faulted() -> None:
    injector = FaultInjector(FaultPlan.parse("sns=1"), faulted_callers=lambda key: key == FUNCTION_KEY)
    assert injector.inject(FaultedRequest("sns"), "AKIAOPERATOR") is None
    assert injector.inject(FaultedRequest("sns"), FUNCTION_KEY) is not None
    assert injector.inject(FaultedRequest("glue", target="AWSGlue.GetTable"), FUNCTION_KEY) is None  # not planned
    counts = injector.counts()
    assert (counts["sns"].requests, counts["sns"].faults) == (1, 1)
    assert (counts["glue"].requests, counts["glue"].faults) == (1, 0)


def test_each_protocol_answers_the_requests_it_speaks() -> None:
    assert faults_for(FaultedRequest("sqs", target="AmazonSQS.SendMessage")) is CATALOG["sqs"][0]
    assert faults_for(FaultedRequest("sqs", path="/")) is CATALOG["sqs"][1]  # the query protocol's form request
    assert faults_for(FaultedRequest("ses", path="/v2/email/outbound-emails")) is CATALOG["ses"][0]
    assert faults_for(FaultedRequest("ses", path="/")) is CATALOG["ses"][1]
    assert signing_name("sesv2") == "ses" and signing_name("dynamodb") == "dynamodb"


# --- the wire: real botocore clients through the endpoint ----------------------------------------------------------
@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    """An endpoint that faults every request of FUNCTION_KEY to every service (and no one else's)."""
    plan = FaultPlan.parse(",".join(f"{service}=1" for service in SERVICES), seed=11)
    settings = EndpointSettings(
        port=0, classifier="palette", work_dir=tmp_path_factory.mktemp("faults"), check_responses=True, faults=plan
    )
    served = build_endpoint(settings)
    served.faults.faulted_callers = lambda key: key == FUNCTION_KEY
    with served:
        yield served


def _client(endpoint: LocalEndpoint, service: str, access_key: str = FUNCTION_KEY) -> Any:
    """A client of the faulted caller (by default), one request per call."""
    return endpoint_client(endpoint, service, access_key=access_key)


# One cheap operation per service (and per protocol): the fault comes before the service sees it.
CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "rekognition": ("rekognition", lambda c: c.get_content_moderation(JobId="a" * 64)),
    "dynamodb": ("dynamodb", lambda c: c.list_tables()),
    "s3": ("s3", lambda c: c.list_objects_v2(Bucket="media")),
    "sqs": ("sqs", lambda c: c.list_queues()),
    "sns": ("sns", lambda c: c.list_topics()),
    "events": ("events", lambda c: c.list_rules()),
    "athena": ("athena", lambda c: c.list_work_groups()),
    "ses": ("sesv2", lambda c: c.get_account()),
    "ses-v1": ("ses", lambda c: c.get_send_quota()),
}


def _received(client: Any, call: Callable[[Any], Any]) -> tuple[ClientError, dict[str, Any]]:
    """The ClientError a call raised and the needs-retry event botocore's retry handler judged it by."""
    judged: list[dict[str, Any]] = []
    client.meta.events.register_first("needs-retry", lambda **kwargs: judged.append(kwargs))
    with pytest.raises(ClientError) as raised:
        call(client)
    assert judged, "botocore's retry handler never saw the response"
    return raised.value, judged[-1]


def _expected(name: str) -> list[WireError]:
    service = "ses" if name == "ses-v1" else name
    return list(CATALOG[service][1 if name == "ses-v1" else 0].errors)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_injected_error_is_parsed_and_retried_by_botocore_as_aws_sends_it(
    endpoint: LocalEndpoint, name: str
) -> None:
    botocore_name, call = CALLS[name]
    client = _client(endpoint, botocore_name)
    expected = {error.code: error for error in _expected(name)}
    seen: set[str] = set()
    for _ in range(60):  # the seed picks among the service's errors: enough calls to meet every one
        # When a faulted call reaches the endpoint
        error, judged = _received(client, call)
        code = error.response["Error"]["Code"]
        # Then botocore parsed the code AWS sends, with its HTTP status and message
        assert code in expected, (code, error.response)
        wire = expected[code]
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == wire.status
        assert error.response["Error"]["Message"] == wire.message
        assert error.response["ResponseMetadata"].get("RequestId")
        # And botocore's standard retry mode would try it again, backing off as for a throttle or a fault
        context = RetryEventAdapter().create_retry_context(**judged)
        assert StandardRetryConditions(max_attempts=3).is_retryable(context), code
        assert ThrottlingErrorDetector(RetryEventAdapter()).is_throttling_error_from_context(context) is wire.throttling
        seen.add(code)
        if seen == set(expected):
            break
    assert seen == set(expected)


def test_an_sqs_error_carries_its_query_code_and_fault(endpoint: LocalEndpoint) -> None:
    error, _ = _received(_client(endpoint, "sqs"), lambda c: c.list_queues())
    headers = error.response["ResponseMetadata"]["HTTPHeaders"]
    code = error.response["Error"]["Code"]
    fault = "Receiver" if code == "InternalFailure" else "Sender"
    assert headers["x-amzn-query-error"] == f"{code};{fault}"
    assert error.response["Error"]["Type"] == fault  # botocore reads it from the header


def test_a_dynamodb_error_body_matches_its_crc32_header(endpoint: LocalEndpoint) -> None:
    # botocore checks x-amz-crc32 on DynamoDB answers: a wrong one would be a ChecksumError, not a ClientError
    error, _ = _received(_client(endpoint, "dynamodb"), lambda c: c.list_tables())
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-crc32"].isdigit()


def test_a_faulted_s3_head_has_no_body_as_on_s3(endpoint: LocalEndpoint) -> None:
    error, judged = _received(_client(endpoint, "s3"), lambda c: c.head_object(Bucket="media", Key="clip.mp4"))
    # Then botocore knows it only by its status (S3 sends HEAD errors without a body), and still retries it
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    assert error.response["Error"]["Code"] == str(status) and status in (500, 503)
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert StandardRetryConditions(max_attempts=3).is_retryable(RetryEventAdapter().create_retry_context(**judged))


def test_an_sqs_query_request_gets_the_query_error_document(endpoint: LocalEndpoint) -> None:
    # Given a form-encoded SQS request, as query-protocol SDKs send it
    request = urllib.request.Request(
        endpoint.url + "/",
        data=b"Action=ListQueues&Version=2012-11-05",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={FUNCTION_KEY}/20260101/us-east-1/sqs/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=5)
    # Then botocore's query parser reads the code and fault from the <ErrorResponse>
    body = answered.value.read()
    parsed = QueryParser().parse(
        {"status_code": answered.value.code, "headers": dict(answered.value.headers), "body": body},
        service_model("sqs").operation_model("ListQueues").output_shape,
    )
    assert parsed["Error"]["Code"] in {"RequestThrottled", "InternalFailure"}
    assert parsed["Error"]["Type"] == ("Receiver" if answered.value.code == 500 else "Sender")
    assert parsed["ResponseMetadata"]["RequestId"]


def test_a_retrying_client_gets_through_when_a_retry_is_not_faulted(tmp_path: Path) -> None:
    # Given an endpoint faulting 30 % of the requests to S3
    settings = EndpointSettings(port=0, work_dir=tmp_path, classifier="palette", faults=FaultPlan.parse("s3=0.3"))
    with build_endpoint(settings) as endpoint:
        s3 = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint.url,
            region_name="us-east-1",
            aws_access_key_id=FUNCTION_KEY,
            aws_secret_access_key="test",
            config=Config(retries={"mode": "standard", "total_max_attempts": 10}, s3={"addressing_style": "path"}),
        )
        # When a client in standard mode creates a bucket and writes and reads 6 objects
        retries = s3.create_bucket(Bucket="media")["ResponseMetadata"]["RetryAttempts"]
        for n in range(6):
            put = s3.put_object(Bucket="media", Key=f"k{n}", Body=b"x" * 1000)
            got = s3.get_object(Bucket="media", Key=f"k{n}")
            assert got["Body"].read() == b"x" * 1000
            retries += put["ResponseMetadata"]["RetryAttempts"] + got["ResponseMetadata"]["RetryAttempts"]
        # Then every call succeeded, the faulted requests were re-sent (bodies included), and the counts agree:
        # each faulted request is one retry botocore reports, and the endpoint saw every attempt
        counts = endpoint.faults.counts()["s3"]
        assert counts.faults > 0
        assert retries == counts.faults and counts.requests == 13 + retries


def test_the_sandboxs_own_calls_are_never_faulted(tmp_path: Path) -> None:
    # Given an endpoint faulting every S3 and SNS request of the "function", and none of its Rekognition calls
    settings = EndpointSettings(
        port=0, classifier="palette", work_dir=tmp_path / "endpoint", faults=FaultPlan.parse("s3=1,sns=1")
    )
    with build_endpoint(settings) as endpoint:
        endpoint.faults.faulted_callers = lambda key: key == FUNCTION_KEY
        sandbox = RekognitionSandbox(endpoint, tmp_path)  # set up with another caller's key: not faulted
        version = sandbox.upload_clip("uploads/clip.mp4", [Scene(1.0, CLEAN), Scene(1.0, NUDITY)])
        sandbox.rekognition = _client(endpoint, "rekognition")
        # When the function starts a job, which Rekognition runs by reading S3 and publishing to SNS itself
        job_id = sandbox.start("uploads/clip.mp4", version)
        # Then the job's S3 reads and its SNS completion went through
        assert sandbox.completion(job_id)["Status"] == "SUCCEEDED"
        # And the function's own S3 requests are faulted, and the only S3 or SNS requests counted
        with pytest.raises(ClientError):
            _client(endpoint, "s3").head_object(Bucket="modlake-media", Key="uploads/clip.mp4")
        counts = endpoint.faults.counts()
        assert counts["rekognition"].requests == 1 and counts["rekognition"].faults == 0
        assert (counts["s3"].requests, counts["s3"].faults) == (1, 1) and "sns" not in counts


def test_the_health_route_reports_the_plan_and_the_counts(endpoint: LocalEndpoint) -> None:
    _received(_client(endpoint, "sns"), lambda c: c.list_topics())
    with urllib.request.urlopen(endpoint.url + "/_modlake/health", timeout=5) as response:
        report = json.load(response)["faults"]
    assert report["plan"]["sns"] == 1.0 and report["seed"] == 11
    sns = report["services"]["sns"]
    assert sns["requests"] >= 1 and sns["faults"] == sns["requests"] == sum(sns["codes"].values())

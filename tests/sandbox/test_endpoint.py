"""The endpoint's routing and wire format, with a stand-in service: moto behind it, AWS's error shapes in front."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.endpoint import HEALTH_PATH, LocalEndpoint, signing_scope
from sandbox.protocol import RequestContext, ServiceError
from tests.sandbox.endpoint_clients import endpoint_client


class EchoRekognition:
    """Answers GetContentModeration itself; every other Rekognition operation stays with moto."""

    service_name = "rekognition"

    def __init__(self) -> None:
        self.contexts: list[RequestContext] = []
        self.closed = False

    def operations(self) -> frozenset[str]:
        return frozenset({"GetContentModeration"})

    def handle(self, operation: str, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        self.contexts.append(context)
        if request["JobId"] == "missing":
            raise ServiceError("ResourceNotFoundException", "no such job")
        if request["JobId"] == "crash":
            raise RuntimeError("a bug")
        if request["JobId"] == "bad-shape":
            return {"JobStatus": "DONE"}
        return {"JobStatus": "SUCCEEDED", "JobId": request["JobId"], "ModerationLabels": []}

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def echo() -> EchoRekognition:
    return EchoRekognition()


@pytest.fixture(scope="module")
def endpoint(echo: EchoRekognition) -> Iterator[LocalEndpoint]:
    server = LocalEndpoint(port=0, check_responses=True)
    server.add(echo)
    with server:
        yield server
    assert echo.closed


def test_signing_scope_reads_header_and_presigned_query() -> None:
    header = "AWS4-HMAC-SHA256 Credential=AKID/20261121/eu-west-1/rekognition/aws4_request, SignedHeaders=host"
    assert signing_scope({"HTTP_AUTHORIZATION": header}) == ("AKID", "eu-west-1", "rekognition")
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261121%2Fus-east-1%2Fs3%2Faws4_request"
    assert signing_scope({"QUERY_STRING": query}) == ("AKID", "us-east-1", "s3")
    assert signing_scope({}) is None


def test_our_operation_is_answered_by_our_service_with_the_callers_region(
    endpoint: LocalEndpoint, echo: EchoRekognition
) -> None:
    client = endpoint_client(endpoint, "rekognition", region="eu-west-1")
    response = client.get_content_moderation(JobId="a" * 64)
    assert response["JobStatus"] == "SUCCEEDED" and response["JobId"] == "a" * 64
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert echo.contexts[-1].region == "eu-west-1"


def test_service_errors_arrive_as_aws_error_codes(endpoint: LocalEndpoint) -> None:
    client = endpoint_client(endpoint, "rekognition")
    with pytest.raises(ClientError) as caught:
        client.get_content_moderation(JobId="missing")
    assert caught.value.response["Error"] == {"Code": "ResourceNotFoundException", "Message": "no such job"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_requests_are_validated_against_the_model_before_the_service_sees_them(
    endpoint: LocalEndpoint, echo: EchoRekognition
) -> None:
    client = endpoint_client(endpoint, "rekognition")
    calls = len(echo.contexts)
    with pytest.raises(ClientError) as caught:  # botocore does not check enums; AWS does
        client.get_content_moderation(JobId="a" * 64, SortBy="SIZE")
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "Member must satisfy enum value set: [NAME, TIMESTAMP]" in error["Message"]
    assert len(echo.contexts) == calls


def test_a_bug_is_an_internal_error_and_a_response_outside_the_model_is_caught(endpoint: LocalEndpoint) -> None:
    client = endpoint_client(endpoint, "rekognition")
    for job_id in ("crash", "bad-shape"):
        with pytest.raises(ClientError) as caught:
            client.get_content_moderation(JobId=job_id)
        assert caught.value.response["Error"]["Code"] == "InternalServerError"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "DONE" in caught.value.response["Error"]["Message"]


def test_other_operations_of_our_services_go_to_moto(endpoint: LocalEndpoint, echo: EchoRekognition) -> None:
    client = endpoint_client(endpoint, "rekognition")
    calls = len(echo.contexts)
    try:
        client.get_label_detection(JobId="missing")  # moto's canned answer or moto's error, never the stand-in
    except ClientError as error:
        assert error.response["Error"]["Message"] != "no such job"
    assert len(echo.contexts) == calls


def test_everything_else_is_moto_in_the_same_process(endpoint: LocalEndpoint) -> None:
    s3 = endpoint_client(endpoint, "s3")
    s3.create_bucket(Bucket="videos")
    s3.put_object(Bucket="videos", Key="dir/a clip.mp4", Body=b"bytes", Metadata={"user_id": "1"})
    got = s3.get_object(Bucket="videos", Key="dir/a clip.mp4")
    assert got["Body"].read() == b"bytes" and got["Metadata"] == {"user_id": "1"}

    sns, sqs = endpoint_client(endpoint, "sns"), endpoint_client(endpoint, "sqs")
    topic = sns.create_topic(Name="done")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="done")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Message="hello")
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["Message"] == "hello"

    glue = endpoint_client(endpoint, "glue")
    glue.create_database(DatabaseInput={"Name": "lake"})
    assert glue.get_database(Name="lake")["Database"]["Name"] == "lake"


def test_health_lists_the_local_services(endpoint: LocalEndpoint) -> None:
    with urllib.request.urlopen(endpoint.url + HEALTH_PATH, timeout=5) as response:
        body = json.load(response)
    faults = body.pop("faults")
    assert body == {"status": "running", "services": {"rekognition": ["GetContentModeration"]}}
    assert (faults["plan"], faults["seed"]) == ({}, 0)  # no fault plan: requests are counted, none faulted
    assert all(counts["faults"] == 0 for counts in faults["services"].values())


def test_s3_events_through_eventbridge_say_etag_as_aws_does(endpoint: LocalEndpoint) -> None:
    # Given a bucket sending its events to EventBridge, and a rule delivering uploads to a queue
    s3, sqs, events = (endpoint_client(endpoint, name) for name in ("s3", "sqs", "events"))
    s3.create_bucket(Bucket="etag-media")
    s3.put_bucket_notification_configuration(
        Bucket="etag-media", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    url = sqs.create_queue(QueueName="etag-uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": ["etag-media"]}}}
    events.put_rule(Name="etag-uploads", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="etag-uploads", Targets=[{"Id": "q", "Arn": arn}])
    # When an object is uploaded through the endpoint
    etag = s3.put_object(Bucket="etag-media", Key="clip.mp4", Body=b"video")["ETag"].strip('"')
    # Then the event's object says etag (AWS's spelling; moto alone says eTag) with the object's ETag
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    obj = json.loads(message["Body"])["detail"]["object"]
    assert obj["etag"] == etag and "eTag" not in obj

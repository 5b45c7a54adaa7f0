"""Handlers run against moto (S3, DynamoDB, SQS, EventBridge) with Rekognition stubbed by botocore."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.common.adapters import clients
from functions.common.table_design import create_table_request
from tests.helpers import MEDIA_BUCKET

LAKE_BUCKET = "modlake-lake-test"
TABLE = "modlake-test-videos"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:AmazonRekognition-modlake-test"
ROLE_ARN = "arn:aws:iam::123456789012:role/modlake-test-rekognition"


class LambdaContext:
    """The attributes Powertools and the handlers read from Lambda's context."""

    function_name = "modlake-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:modlake-test"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Sandbox:
    """The moto resources and the loaded handler modules."""

    s3: Any
    sqs: Any
    dynamodb: Any
    events: Any
    start_queue_url: str
    collect_queue_url: str
    alerts_queue_url: str

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        response = self.s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body)
        return {"version-id": response["VersionId"], "etag": response["ETag"].strip('"'), "size": len(body)}

    def receive(self, url: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def queue_depth(self, url: str) -> dict[str, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return {k: int(v) for k, v in attributes.items()}


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        s3.create_bucket(Bucket=MEDIA_BUCKET)
        s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.create_bucket(Bucket=LAKE_BUCKET)
        dynamodb.create_table(**create_table_request(TABLE))
        start_url = sqs.create_queue(QueueName="start")["QueueUrl"]
        collect_url = sqs.create_queue(QueueName="collect")["QueueUrl"]
        alerts_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        alerts_arn = sqs.get_queue_attributes(QueueUrl=alerts_url, AttributeNames=["QueueArn"])["Attributes"]
        events.put_rule(Name="alerts", EventPattern=json.dumps({"source": ["modlake"]}))
        events.put_targets(Rule="alerts", Targets=[{"Id": "q", "Arn": alerts_arn["QueueArn"]}])
        env = {
            "VIDEOS_TABLE": TABLE,
            "MEDIA_BUCKET": MEDIA_BUCKET,
            "ANALYTICS_BUCKET": LAKE_BUCKET,
            "START_QUEUE_URL": start_url,
            "COLLECT_QUEUE_URL": collect_url,
            "REKOGNITION_TOPIC_ARN": TOPIC_ARN,
            "REKOGNITION_ROLE_ARN": ROLE_ARN,
            "MIN_CONFIDENCE": "50",
            "VIDEO_SUFFIXES": '["mp4", "mov"]',
            "KEY_PREFIX": "",
            "JOB_LIMIT": "20",
            "MAX_VIDEO_MINUTES": "0",
            "EVENT_BUS_NAME": "default",
            "EVENT_SOURCE": "modlake",
            "AGGREGATE_BY": "TIMESTAMPS",
            "FLAG_THRESHOLD": "80",
            "CATEGORY_THRESHOLDS": "{}",
            "IGNORED_CATEGORIES": "[]",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        clients.client.cache_clear()
        yield Sandbox(s3, sqs, dynamodb, events, start_url, collect_url, alerts_url)
        clients.client.cache_clear()


def load_handler(name: str) -> ModuleType:
    """Import (or re-import) a handler module so it reads the sandbox's environment at 'cold start'."""
    module_name = f"functions.{name}.handler"
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


@pytest.fixture
def rekognition_stub() -> Iterator[Stubber]:
    """Stubber on the shared Rekognition client the handlers use (moto has no video APIs)."""
    stubber = Stubber(clients.client("rekognition"))
    with stubber:
        yield stubber

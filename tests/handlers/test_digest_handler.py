"""send_digest's handler: moto for DynamoDB, S3, SNS and SES; Athena stubbed (moto runs no SQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from functions.common.adapters import clients
from functions.common.table_design import create_table_request
from queries import named_query
from tests.handlers.conftest import LambdaContext, load_handler

REGION = "us-east-1"
DIGEST_QUERIES = ("digest_totals", "digest_categories", "digest_top_flagged", "digest_trend", "digest_review")
TOTALS = [("source", "varchar"), ("videos", "bigint"), ("moderated", "bigint"), ("flagged", "bigint")]
TOTALS += [("failed", "bigint")]
TOTALS += [("skipped", "bigint"), ("moderated_duration_ms", "bigint")]


@pytest.fixture
def digest_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**create_table_request("videos"))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="lake")
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="digest")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity="digest@example.com")
        env = {
            "STAGE": "test",
            "VIDEOS_TABLE": "videos",
            "ANALYTICS_BUCKET": "lake",
            "GLUE_DATABASE": "modlake_test",
            "ATHENA_WORKGROUP": "modlake-test",
            "DIGEST_TOPIC_ARN": topic,
            "DIGEST_EMAILS": '["team@example.com"]',
            "DIGEST_SENDER": "digest@example.com",
            "DIGEST_TIMEZONE": "Asia/Tokyo",
            "DIGEST_SKIP_EMPTY": "false",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        clients.client.cache_clear()
        yield {"s3": s3, "sqs": sqs, "inbox": inbox}
        clients.client.cache_clear()


def stub_day(stubber: Stubber, flagged: int) -> None:
    """Athena answers the five digest queries; only totals has rows (the uploads': a day without backfill)."""
    for index, name in enumerate(DIGEST_QUERIES):
        stubber.add_response(
            "start_query_execution",
            {"QueryExecutionId": f"q{index}"},
            {
                "QueryString": named_query(name).sql,
                "QueryExecutionContext": {"Database": "modlake_test"},
                "WorkGroup": "modlake-test",
                "ExecutionParameters": ANY,
            },
        )
    for index in range(len(DIGEST_QUERIES)):
        stubber.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": f"q{index}", "Status": {"State": "SUCCEEDED"}}},
            {"QueryExecutionId": f"q{index}"},
        )
    for index in range(len(DIGEST_QUERIES)):
        columns = TOTALS if index == 0 else [("category", "varchar")]
        rows = [{"Data": [{"VarCharValue": name} for name, _ in columns]}]
        if index == 0:
            values = ("upload", "4", "4", str(flagged), "0", "0", "120000")
            rows.append({"Data": [{"VarCharValue": v} for v in values]})
        stubber.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": rows,
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Type": t} for n, t in columns]},
                }
            },
            {"QueryExecutionId": f"q{index}"},
        )


def test_the_scheduled_run_sends_yesterdays_digest_once(
    digest_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the handler at cold start, Athena answering one day, and 08:00 in Tokyo on the 21st
    handler = load_handler("send_digest")
    monkeypatch.setattr(handler, "datetime", FixedNow)
    with Stubber(clients.client("athena")) as athena:
        stub_day(athena, flagged=2)
        # When EventBridge Scheduler invokes it with {} twice (at-least-once delivery)
        first = handler.handler({}, LambdaContext())
        second = handler.handler({}, LambdaContext())
        athena.assert_no_pending_responses()
    # Then one text digest for Tokyo's 20th reached the topic's subscriber, and one HTML email went out
    assert first["outcome"] == "SENT" and first["day"] == "2026-11-20"
    assert second["outcome"] == "ALREADY_SENT"
    messages = digest_env["sqs"].receive_message(QueueUrl=digest_env["inbox"], MaxNumberOfMessages=10)["Messages"]
    [envelope] = [json.loads(m["Body"]) for m in messages]
    assert envelope["Subject"] == "modlake test digest 2026-11-20: 2 flagged, 4 moderated"
    assert "(Asia/Tokyo)" in envelope["Message"]
    [email] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert email.destinations == {"ToAddresses": ["team@example.com"]} and "<svg" in email.body
    # And the digest is archived under the day
    listed = digest_env["s3"].list_objects_v2(Bucket="lake", Prefix="digests/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"digests/dt=2026-11-20/digest.{ext}" for ext in ("html", "json", "txt")
    ]


def test_a_bad_request_fails_with_a_clear_message(digest_env: dict[str, Any]) -> None:
    # Given / When an operator invokes it with a malformed date / Then it fails before touching Athena
    handler = load_handler("send_digest")
    with pytest.raises(ValueError, match="'date' must be yyyy-mm-dd"):
        handler.handler({"date": "yesterday"}, LambdaContext())


class FixedNow(datetime):
    """datetime whose now() is 08:00 on 2026-11-21 in Tokyo (23:00 UTC on the 20th)."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime(2026, 11, 20, 23, 0, tzinfo=UTC).astimezone(tz)

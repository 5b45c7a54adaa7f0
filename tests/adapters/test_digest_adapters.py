"""send_digest's adapters: Athena (botocore Stubber), SNS and SES (moto), once-per-day records (moto DynamoDB)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from functions.common.adapters.athena import AthenaQueryRunner, athena_value
from functions.common.adapters.notify import SesHtmlMailer, SnsDigestNotifier
from functions.common.adapters.once import IdempotentOnce, digest_persistence
from functions.common.errors import QueryFailed
from functions.common.table_design import create_table_request
from queries import SqlFile, named_query
from tests.handlers.conftest import LambdaContext

REGION = "us-east-1"
TOTALS = named_query("digest_totals")
TREND = named_query("digest_trend")
PARAMETERS = ["'2026-11-20'", "'2026-11-20'", "'2026-11-20 00:00:00.000'", "'2026-11-21 00:00:00.000'"]


def athena_rows(columns: list[tuple[str, str]], rows: list[list[str | None]], header: bool, token: str | None = None):
    data = [{"Data": [{"VarCharValue": name} for name, _ in columns]}] if header else []
    data += [{"Data": [{} if cell is None else {"VarCharValue": cell} for cell in row]} for row in rows]
    response: dict[str, Any] = {
        "ResultSet": {
            "Rows": data,
            "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Type": t, "Label": n} for n, t in columns]},
        },
        "UpdateCount": 0,
    }
    if token:
        response["NextToken"] = token
    return response


def status(execution_id: str, state: str, reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"State": state}
    if reason:
        body["StateChangeReason"] = reason
    return {"QueryExecution": {"QueryExecutionId": execution_id, "Status": body}}


class Clock:
    """Remaining Lambda time that shrinks by each sleep."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.sleeps: list[float] = []

    def time_left_ms(self) -> int:
        return self.remaining_ms

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.remaining_ms -= int(seconds * 1000)


@pytest.fixture
def athena() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("athena", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def runner(client: Any, clock: Clock) -> AthenaQueryRunner:
    return AthenaQueryRunner(
        client, workgroup="modlake-test", database="modlake_test", time_left_ms=clock.time_left_ms, sleep=clock.sleep
    )


def expect_start(stubber: Stubber, query: SqlFile, execution_id: str) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": execution_id},
        {
            "QueryString": query.sql,
            "QueryExecutionContext": {"Database": "modlake_test"},
            "WorkGroup": "modlake-test",
            "ExecutionParameters": PARAMETERS,
        },
    )


def test_queries_start_together_wait_with_backoff_and_page_typed_rows(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    clock = Clock(300_000)
    # Given two queries: one finishes at once, the other after two polls; the second's results span two pages
    expect_start(stubber, TOTALS, "q1")
    expect_start(stubber, TREND, "q2")
    stubber.add_response("get_query_execution", status("q1", "SUCCEEDED"), {"QueryExecutionId": "q1"})
    stubber.add_response("get_query_execution", status("q2", "QUEUED"), {"QueryExecutionId": "q2"})
    stubber.add_response("get_query_execution", status("q2", "RUNNING"), {"QueryExecutionId": "q2"})
    stubber.add_response("get_query_execution", status("q2", "SUCCEEDED"), {"QueryExecutionId": "q2"})
    totals_columns = [("videos", "bigint"), ("flagged", "bigint"), ("moderated_duration_ms", "bigint")]
    stubber.add_response(
        "get_query_results", athena_rows(totals_columns, [["9", "3", None]], header=True), {"QueryExecutionId": "q1"}
    )
    trend_columns = [("bucket_start_epoch", "bigint"), ("share", "double"), ("done", "boolean"), ("at", "timestamp")]
    stubber.add_response(
        "get_query_results",
        athena_rows(trend_columns, [["1763596800", "0.5", "true", "2026-11-20 00:00:00.000"]], True, token="t2"),
        {"QueryExecutionId": "q2"},
    )
    stubber.add_response(
        "get_query_results",
        athena_rows(trend_columns, [["1763597700", "1.0", "false", None]], header=False),
        {"QueryExecutionId": "q2", "NextToken": "t2"},
    )
    # When both run
    totals, trend = runner(client, clock).run_all([(TOTALS, PARAMETERS), (TREND, PARAMETERS)])
    # Then the header row is dropped, cells are typed and NULL stays None
    assert totals == [{"videos": 9, "flagged": 3, "moderated_duration_ms": None}]
    assert trend == [
        {"bucket_start_epoch": 1763596800, "share": 0.5, "done": True, "at": datetime(2026, 11, 20)},
        {"bucket_start_epoch": 1763597700, "share": 1.0, "done": False, "at": None},
    ]
    # And it waited between polls with growing pauses
    assert clock.sleeps == [0.5, 0.75]


def test_a_failed_query_raises_with_athenas_reason(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    # Given a query Athena fails (for example over the workgroup's bytes-scanned cutoff)
    expect_start(stubber, TOTALS, "q1")
    reason = "Query exhausted resources at this scale factor / bytes scanned limit was exceeded"
    stubber.add_response("get_query_execution", status("q1", "FAILED", reason), {"QueryExecutionId": "q1"})
    # When / Then the digest fails with the query's name and Athena's reason
    with pytest.raises(QueryFailed, match="digest_totals FAILED: Query exhausted"):
        runner(client, Clock(300_000)).run_all([(TOTALS, PARAMETERS)])


def test_a_query_still_running_when_time_runs_out_is_stopped(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    # Given a query that keeps running and a function with 21 s left (the runner keeps 20 s in reserve)
    expect_start(stubber, TOTALS, "q1")
    stubber.add_response("get_query_execution", status("q1", "RUNNING"), {"QueryExecutionId": "q1"})
    stubber.add_response("get_query_execution", status("q1", "RUNNING"), {"QueryExecutionId": "q1"})
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q1"})
    clock = Clock(21_000)
    # When / Then it stops the query and reports a timeout instead of being killed mid-wait
    with pytest.raises(QueryFailed, match="TIMED_OUT"):
        runner(client, clock).run_all([(TOTALS, PARAMETERS)])
    assert clock.sleeps == [0.5]


def test_a_failed_query_stops_the_others_still_running_at_once(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    # Given three queries: the first finishes, the second fails, the third is still running
    for query, execution_id in ((TOTALS, "q1"), (TREND, "q2"), (TOTALS, "q3")):
        expect_start(stubber, query, execution_id)
    stubber.add_response("get_query_execution", status("q1", "SUCCEEDED"), {"QueryExecutionId": "q1"})
    stubber.add_response(
        "get_query_execution", status("q2", "FAILED", "bytes scanned limit"), {"QueryExecutionId": "q2"}
    )
    # Then only the one still running is stopped, before the failure is raised (no poll of it, no wait)
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q3"})
    clock = Clock(300_000)
    with pytest.raises(QueryFailed, match="digest_trend FAILED: bytes scanned limit"):
        runner(client, clock).run_all([(TOTALS, PARAMETERS), (TREND, PARAMETERS), (TOTALS, PARAMETERS)])
    assert clock.sleeps == []


def test_a_start_that_fails_stops_the_queries_already_started(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    # Given a first query started and a second Athena refuses
    expect_start(stubber, TOTALS, "q1")
    stubber.add_client_error("start_query_execution", "InvalidRequestException", "workgroup is disabled")
    # Then the started one is stopped and the refusal raised; a stop that fails is noted on it, not raised instead
    stubber.add_client_error("stop_query_execution", "InternalServerException", "try again")
    with pytest.raises(ClientError, match="workgroup is disabled") as raised:
        runner(client, Clock(300_000)).run_all([(TOTALS, PARAMETERS), (TREND, PARAMETERS)])
    assert raised.value.__notes__ == [
        "could not stop query digest_totals (q1): An error occurred (InternalServerException) when calling the "
        "StopQueryExecution operation: try again"
    ]


def test_a_query_without_parameters_sends_no_execution_parameters(athena: tuple[Any, Stubber]) -> None:
    client, stubber = athena
    query = SqlFile("plain", "no parameters", (), "SELECT 1 AS one")
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q1"},
        {"QueryString": "SELECT 1 AS one", "QueryExecutionContext": ANY, "WorkGroup": ANY},
    )
    stubber.add_response("get_query_execution", status("q1", "SUCCEEDED"), {"QueryExecutionId": "q1"})
    stubber.add_response(
        "get_query_results", athena_rows([("one", "integer")], [["1"]], header=True), {"QueryExecutionId": "q1"}
    )
    assert runner(client, Clock(300_000)).run_all([(query, [])]) == [[{"one": 1}]]


def test_athena_cells_become_python_values() -> None:
    assert athena_value("12", "bigint") == 12 and athena_value("3", "integer") == 3
    assert athena_value("2.5", "double") == 2.5 and athena_value("1.25", "decimal(10,2)") == 1.25
    assert athena_value("2026-11-20", "date") == date(2026, 11, 20)
    assert athena_value("false", "boolean") is False
    assert athena_value("a, b", "varchar") == "a, b" and athena_value(None, "bigint") is None


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_the_text_digest_reaches_the_topics_subscribers(aws: None) -> None:
    # Given a digest topic with an SQS subscriber (standing in for email)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="digest")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    # When the digest is published with a subject holding a line break and more than 100 characters
    message_id = SnsDigestNotifier(sns, topic).publish("modlake digest\n" + "x" * 120, "line 1\nline 2")
    # Then the subscriber receives the text, and the subject was made valid for SNS
    [received] = sqs.receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Message"] == "line 1\nline 2" and envelope["MessageId"] == message_id
    assert envelope["Subject"].startswith("modlake digest x") and len(envelope["Subject"]) == 100


def test_the_html_digest_is_sent_through_ses(aws: None) -> None:
    # Given a verified sender
    sesv2 = boto3.client("sesv2", region_name=REGION)
    sesv2.create_email_identity(EmailIdentity="digest@example.com")
    # When the HTML digest is sent to two recipients
    SesHtmlMailer(sesv2, "digest@example.com", ["a@example.com", "b@example.com"]).send("subject", "<p>hi</p>", "hi")
    # Then SES sent one message from the sender to both
    [message] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert message.source == "digest@example.com"
    assert message.destinations == {"ToAddresses": ["a@example.com", "b@example.com"]}
    assert message.subject == "subject" and message.body == "<p>hi</p>"


def test_ses_without_recipients_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="digest_emails"):
        SesHtmlMailer(object(), "digest@example.com", [])


def test_once_per_day_records_live_in_the_videos_table(aws: None) -> None:
    # Given the videos table
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**create_table_request("videos"))
    once = IdempotentOnce(digest_persistence("videos", dynamodb))
    once.config.register_lambda_context(LambdaContext())
    runs: list[str] = []

    def work() -> dict[str, Any]:
        runs.append("sent")
        return {"outcome": "SENT", "sns_message_id": f"m{len(runs)}"}

    key = {"stage": "test", "day": "2026-11-20", "timezone": "UTC"}
    # When the same day runs twice, and another day once
    first = once.run_once(key, work)
    second = once.run_once(key, work)
    other = once.run_once(key | {"day": "2026-11-21"}, work)
    # Then the work ran once per day, and the repeat got the first result
    assert first == ({"outcome": "SENT", "sns_message_id": "m1"}, True)
    assert second == ({"outcome": "SENT", "sns_message_id": "m1"}, False)
    assert other[1] is True and len(runs) == 2
    # And the records sit under pk DIGEST without the by_status index's key attribute
    items = dynamodb.scan(TableName="videos")["Items"]
    assert {item["pk"]["S"] for item in items} == {"DIGEST"} and len(items) == 2
    assert all("status" not in item and item["idempotency_status"]["S"] == "COMPLETED" for item in items)


def test_a_failed_run_leaves_no_record(aws: None) -> None:
    # Given a run that fails
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**create_table_request("videos"))
    once = IdempotentOnce(digest_persistence("videos", dynamodb))
    once.config.register_lambda_context(LambdaContext())
    key = {"stage": "test", "day": "2026-11-20", "timezone": "UTC"}

    def failing() -> dict[str, Any]:
        raise RuntimeError("SNS unavailable")

    with pytest.raises(RuntimeError):
        once.run_once(key, failing)
    # When the retry runs / Then it does the work
    assert once.run_once(key, lambda: {"outcome": "SENT"}) == ({"outcome": "SENT"}, True)

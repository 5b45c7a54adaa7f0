"""The daily digest: schedule in the configured time zone, the function it invokes, the topic it emails through."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlglot

from functions.common.adapters.once import DIGEST_PARTITION
from functions.common.settings import DigestSettings
from functions.send_digest.assemble import DigestScope, build_digest
from queries import named_query
from stacks.digest import DIGEST_PARTITION_KEY, DIGEST_READS
from tests.digest_fakes import FakeQueries
from tests.infra.conftest import DIGEST_SENDER
from tests.infra.synth import Synth, as_list, render
from tests.infra.test_queues import dead_letter_queue_ids

pytestmark = pytest.mark.slow


def _schedule(synth: Synth) -> dict[str, Any]:
    (schedule,) = synth.resources("AWS::Scheduler::Schedule").values()
    return dict(schedule["Properties"])


def _settings(synth: Synth) -> DigestSettings:
    _, function = synth.function("send_digest")
    return DigestSettings.from_env(
        {k: render(v) for k, v in function["Properties"]["Environment"]["Variables"].items()}
    )


@pytest.mark.parametrize(
    ("synth_name", "expression", "timezone"),
    [("dev", "cron(0 8 * * ? *)", "UTC"), ("prod", "cron(30 7 * * ? *)", "Asia/Tokyo")],
)
def test_schedule_runs_daily_at_the_configured_local_time(
    synth_name: str, expression: str, timezone: str, request: pytest.FixtureRequest
) -> None:
    # Given the digest schedule of dev (cdk.json's 08:00 UTC) and prod (07:30 Asia/Tokyo)
    synth: Synth = request.getfixturevalue(synth_name)
    schedule = _schedule(synth)
    # Then HH:MM became a daily cron evaluated in the configured zone, on the minute (no flexible window)
    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == timezone
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"


def test_schedule_invokes_the_digest_function_with_retries_and_a_dead_letter_queue(dev: Synth) -> None:
    # Given the schedule's target
    target = _schedule(dev)["Target"]
    function_id, _ = dev.function("send_digest")
    dead_letter_queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    # Then it invokes send_digest with an empty request (yesterday's digest), retries delivery,
    # and dead-letters what it cannot deliver to a queue that is alarmed like every DLQ
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["Input"] == "{}"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    assert dev.resources_json[dead_letter_queue]["Type"] == "AWS::SQS::Queue"
    assert dead_letter_queue in dead_letter_queue_ids(dev)
    assert dev.json["Outputs"]["DigestFunctionName"]["Value"] == {"Ref": function_id}


def test_a_failed_digest_run_is_retried_by_lambda(dev: Synth) -> None:
    # Given the function's asynchronous invocation settings (Scheduler invokes Lambda asynchronously)
    function_id, _ = dev.function("send_digest")
    (config,) = [
        c["Properties"]
        for c in dev.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    # Then a failed run is retried twice within an hour (safe: the digest is sent once per day)
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 3600)
    # And a run that failed every retry is kept in the schedule's DLQ, whose alarm tells operators
    target = _schedule(dev)["Target"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == target["DeadLetterConfig"]["Arn"]


def test_scheduler_role_may_only_invoke_the_digest_function_and_dead_letter(dev: Synth) -> None:
    # Given the role the schedule runs with
    target = _schedule(dev)["Target"]
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    role = dev.resources_json[role_id]["Properties"]
    function_id, _ = dev.function("send_digest")
    dead_letter_queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    grants = {
        (action, render(resource))
        for statement in dev.role_policy_statements(role_id)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    # Then only Scheduler (from this account) assumes it, and it may invoke the digest function (the unqualified ARN
    # the schedule targets, no version or alias) and send the undeliverable invocations to the DLQ: nothing else
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert grants == {
        ("lambda:InvokeFunction", f"<{function_id}.Arn>"),
        ("sqs:SendMessage", f"<{dead_letter_queue}.Arn>"),
    }


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_digest_topic_is_encrypted_and_tls_only(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given the digest topic
    synth: Synth = request.getfixturevalue(synth_name)
    key, policy = synth.topic_key_and_policy("DigestTopicArn")
    # Then it uses a rotating customer-managed key and denies publishing without TLS
    assert key["EnableKeyRotation"] is True
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_each_digest_email_is_subscribed_to_the_digest_topic(dev: Synth, prod: Synth) -> None:
    # Given dev without digest emails and prod with two
    # Then exactly the configured addresses are subscribed
    assert dev.email_subscribers("DigestTopicArn") == set()
    assert prod.email_subscribers("DigestTopicArn") == {"digest@example.com", "safety-team@example.com"}


def test_digest_settings_come_from_the_config_and_the_stack(dev: Synth, prod: Synth) -> None:
    # Given what send_digest reads in dev and prod
    development, production = _settings(dev), _settings(prod)
    # Then they are the configured values and the stack's own resources
    assert (development.stage, development.digest_timezone, development.digest_sender) == ("dev", "UTC", "")
    assert (development.digest_emails, development.digest_skip_empty) == ((), False)
    assert production.stage == "prod"
    assert production.digest_emails == ("digest@example.com", "safety-team@example.com")
    assert (production.digest_sender, production.digest_timezone) == (DIGEST_SENDER, "Asia/Tokyo")
    assert production.digest_skip_empty is True
    assert production.glue_database == "modlake_prod"
    assert production.athena_workgroup == f"<{prod.output_ref('AthenaWorkGroupName')}>"
    assert production.digest_topic_arn == f"<{prod.output_ref('DigestTopicArn')}>"
    assert production.videos_table == f"<{prod.output_ref('VideosTableName')}>"
    assert production.analytics_bucket == f"<{prod.output_ref('AnalyticsBucketName')}>"


def test_the_stack_and_the_function_agree_on_the_digest_partition() -> None:
    # Given the partition key the IAM condition allows and the one send_digest writes its records under
    # Then they are the same, or every idempotency write would be denied
    assert DIGEST_PARTITION_KEY == DIGEST_PARTITION


def test_the_digest_queries_read_only_the_tables_send_digest_may_read() -> None:
    # Given the queries building a digest runs (recorded by a fake runner), parsed as Athena SQL
    queries = FakeQueries()
    build_digest(date(2026, 11, 20), queries, DigestScope("dev", "UTC", "us-east-1"), generated_at=datetime.now(UTC))
    read = set()
    for name, _ in queries.calls:
        tree = sqlglot.parse_one(named_query(name).sql, read="athena")
        ctes = {cte.alias for cte in tree.find_all(sqlglot.exp.CTE)}
        read |= {table.name for table in tree.find_all(sqlglot.exp.Table)} - ctes
    # Then every table they read is one the stack lets send_digest read (Glue entries and S3 objects)
    assert queries.calls and read
    assert read <= {spec.name for spec in DIGEST_READS}

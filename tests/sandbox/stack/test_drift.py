"""The local stack is the synthesized template: every queue setting, rule, subscription, table, Glue object,
workgroup, named query, function environment and event source mapping reads back from the endpoint as the
template defines it. A template property the provisioner does not reproduce fails here, so the sandbox cannot
silently drift from what `cdk deploy` would create."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.common.settings import BackfillSettings, CollectSettings, DigestSettings, ReviewSettings, StartSettings
from sandbox.stack.local_stack import LocalStack, SandboxSettings

# Template property → how the queue's attributes show it. Anything else in a queue's properties fails the test.
QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": lambda value: ("VisibilityTimeout", str(value)),
    "MessageRetentionPeriod": lambda value: ("MessageRetentionPeriod", str(value)),
    "SqsManagedSseEnabled": lambda value: ("SqsManagedSseEnabled", str(value).lower()),
    "RedrivePolicy": lambda value: ("RedrivePolicy", value),
}
SETTINGS_BY_HANDLER = {
    "functions.start_moderation.handler.handler": StartSettings,
    "functions.collect_results.handler.handler": CollectSettings,
    "functions.send_digest.handler.handler": DigestSettings,
    "functions.queue_backfill.handler.handler": BackfillSettings,
    "functions.review_api.handler.handler": ReviewSettings,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    work_dir: Path = tmp_path_factory.mktemp("drift")
    with LocalStack(SandboxSettings(work_dir=work_dir, check_responses=True)) as started:
        yield started


def _resources(stack: LocalStack, resource_type: str) -> dict[str, dict[str, Any]]:
    assert stack.deployment is not None
    return {
        logical_id: stack.deployment.resolver.resolve(resource.get("Properties", {}))
        for logical_id, resource in stack.deployment.template["Resources"].items()
        if resource["Type"] == resource_type
    }


def test_every_queue_has_the_templates_settings(stack: LocalStack) -> None:
    # Given the template's queues
    queues = _resources(stack, "AWS::SQS::Queue")
    assert len(queues) >= 7
    sqs = stack.client("sqs")
    for logical_id, properties in queues.items():
        # When the sandbox's queue is read back
        url = stack.deployment.physical_id(logical_id)  # type: ignore[union-attr]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        # Then every property of the template is there, with the same value
        for name, value in properties.items():
            assert name in QUEUE_ATTRIBUTES, f"{logical_id}: the local stack does not reproduce queue property {name}"
            attribute, expected = QUEUE_ATTRIBUTES[name](value)
            actual = json.loads(attributes[attribute]) if attribute == "RedrivePolicy" else attributes.get(attribute)
            assert actual == expected, f"{logical_id}.{name}"


def test_every_rule_has_the_templates_pattern_or_schedule_and_targets(stack: LocalStack) -> None:
    # Given the template's EventBridge rules (two S3 event rules and the scheduler's tick)
    rules = _resources(stack, "AWS::Events::Rule")
    assert len(rules) == 3
    events = stack.client("events")
    for logical_id, properties in rules.items():
        name = stack.deployment.physical_id(logical_id)  # type: ignore[union-attr]
        # When the rule and its targets are read back
        rule = events.describe_rule(Name=name)
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        # Then the pattern (or schedule), the state and every target setting are the template's
        if "ScheduleExpression" in properties:
            assert rule["ScheduleExpression"] == properties["ScheduleExpression"]
        else:
            assert json.loads(rule["EventPattern"]) == properties["EventPattern"]
        assert rule["State"] == properties["State"]
        assert targets == properties["Targets"]


def test_the_completion_topic_delivers_to_the_collect_queue_as_the_template_subscribes_it(stack: LocalStack) -> None:
    # Given the template's subscriptions
    subscriptions = _resources(stack, "AWS::SNS::Subscription")
    sns = stack.client("sns")
    for logical_id, properties in subscriptions.items():
        # When the topic's subscriptions are read back
        found = sns.list_subscriptions_by_topic(TopicArn=properties["TopicArn"])["Subscriptions"]
        (subscription,) = [s for s in found if s["Endpoint"] == properties["Endpoint"]]
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
        # Then protocol, raw delivery and the redrive policy are the template's
        assert subscription["Protocol"] == properties["Protocol"], logical_id
        assert attributes["RawMessageDelivery"] == str(properties["RawMessageDelivery"]).lower()
        assert json.loads(attributes["RedrivePolicy"]) == properties["RedrivePolicy"]


def test_the_media_bucket_is_versioned_like_the_templates(stack: LocalStack) -> None:
    # Given the template's media bucket (moto does not echo EventBridgeConfiguration back; the end-to-end tests
    # prove uploads reach the start queue through EventBridge)
    bucket = stack.outputs["MediaBucketName"]
    (notifications,) = _resources(stack, "Custom::S3BucketNotifications").values()
    # Then the notifications name this bucket and versioning is on, as deployed
    assert notifications["BucketName"] == bucket
    assert stack.client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_the_videos_table_has_the_templates_keys_and_indexes(stack: LocalStack) -> None:
    # Given the template's table
    ((logical_id, properties),) = _resources(stack, "AWS::DynamoDB::Table").items()
    # When it is described
    table = stack.client("dynamodb").describe_table(TableName=stack.outputs["VideosTableName"])["Table"]
    # Then keys, attribute types, billing and every index match
    assert table["KeySchema"] == properties["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(properties["AttributeDefinitions"], key=str)
    assert table["BillingModeSummary"]["BillingMode"] == properties["BillingMode"]
    indexes = {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in table["GlobalSecondaryIndexes"]}
    expected = {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in properties["GlobalSecondaryIndexes"]}
    assert indexes == expected


def test_glue_tables_views_workgroup_and_named_queries_are_the_templates(stack: LocalStack) -> None:
    glue, athena = stack.client("glue"), stack.client("athena")
    database = stack.outputs["GlueDatabaseName"]
    # Given the template's Glue tables and views, When each is read back, Then columns, partitions,
    # location, parameters and view text are the template's
    for properties in _resources(stack, "AWS::Glue::Table").values():
        expected = properties["TableInput"]
        table = glue.get_table(DatabaseName=database, Name=expected["Name"])["Table"]
        assert table["StorageDescriptor"]["Columns"] == expected["StorageDescriptor"]["Columns"]
        assert table.get("PartitionKeys", []) == expected.get("PartitionKeys", [])
        assert table.get("Parameters") == expected.get("Parameters")
        assert table.get("ViewOriginalText") == expected.get("ViewOriginalText")
        assert table["StorageDescriptor"].get("Location") == expected["StorageDescriptor"].get("Location")
    # And the workgroup enforces the template's configuration
    ((_, workgroup),) = _resources(stack, "AWS::Athena::WorkGroup").items()
    configuration = athena.get_work_group(WorkGroup=workgroup["Name"])["WorkGroup"]["Configuration"]
    for name, value in workgroup["WorkGroupConfiguration"].items():
        assert configuration[name] == value, name
    # And every named query exists with the template's SQL, database and workgroup
    ids = athena.list_named_queries(WorkGroup=workgroup["Name"])["NamedQueryIds"]
    stored = {q["Name"]: q for q in (athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids)}
    named = _resources(stack, "AWS::Athena::NamedQuery")
    assert len(named) == len(stored)
    for properties in named.values():
        query = stored[properties["Name"]]
        assert (query["QueryString"], query["Database"], query["WorkGroup"]) == (
            properties["QueryString"],
            properties["Database"],
            properties["WorkGroup"],
        )


def test_each_function_runs_with_exactly_its_templates_environment(stack: LocalStack) -> None:
    # Given the template's modlake functions
    functions = {
        logical_id: properties
        for logical_id, properties in _resources(stack, "AWS::Lambda::Function").items()
        if str(properties.get("Handler", "")).startswith("functions.")
    }
    assert len(functions) == len(SETTINGS_BY_HANDLER)
    for logical_id, properties in functions.items():
        # When the runner's host for it is looked up
        host = stack.runner.hosts[logical_id]
        template_environment = properties["Environment"]["Variables"]
        # Then the worker gets the template's variables with the template's values, timeout and memory
        assert dict(host.spec.environment) == template_environment
        assert (host.spec.timeout_seconds, host.spec.memory_mb) == (properties["Timeout"], properties["MemorySize"])
        # And those are exactly the keys the handler's settings class reads (plus Powertools')
        settings = SETTINGS_BY_HANDLER[properties["Handler"]]
        assert set(template_environment) - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} == set(
            settings.env_keys()
        )


def test_each_event_source_mapping_polls_as_the_template_configures_it(stack: LocalStack) -> None:
    # Given the template's SQS event source mappings
    mappings = _resources(stack, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 2
    sources = {source.mapping.queue_arn: source for source in stack.runner.sources}
    for properties in mappings.values():
        # When the runner's poller for that queue is found
        source = sources[properties["EventSourceArn"]]
        mapping = source.mapping
        # Then batch size, batching window, partial batch responses and concurrency are the template's
        assert stack.runner.hosts[mapping.function_logical_id].spec.name == properties["FunctionName"]
        assert mapping.batch_size == properties["BatchSize"]
        assert mapping.batching_window_seconds == properties.get("MaximumBatchingWindowInSeconds", 0)
        assert mapping.report_batch_item_failures == ("ReportBatchItemFailures" in properties["FunctionResponseTypes"])
        assert mapping.maximum_concurrency == properties.get("ScalingConfig", {}).get("MaximumConcurrency")
        if mapping.maximum_concurrency:
            assert source.pollers == mapping.maximum_concurrency


def test_resources_the_sandbox_does_not_create_are_listed_with_a_reason(stack: LocalStack) -> None:
    # Given the deployment
    assert stack.deployment is not None
    skipped = stack.deployment.not_provisioned
    types = {stack.deployment.template["Resources"][k]["Type"] for k in skipped}
    # Then IAM, KMS, alarms and the schedule are skipped on purpose, each with a reason, and no data-path type is
    assert {"AWS::IAM::Role", "AWS::KMS::Key", "AWS::CloudWatch::Alarm", "AWS::Scheduler::Schedule"} <= types
    assert not types & {"AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::Events::Rule", "AWS::DynamoDB::Table"}
    assert all(reason for reason in skipped.values())

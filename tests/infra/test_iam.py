"""Least privilege: narrow actions, resource * only where AWS allows nothing narrower, PassRole on one role."""

from __future__ import annotations

from typing import Any

import pytest

import queries
from glue import TABLES
from tests.infra.conftest import DIGEST_SENDER
from tests.infra.synth import Synth, as_list, render

pytestmark = pytest.mark.slow

# APIs without resource-level permissions: the only actions allowed on resource "*".
WILDCARD_RESOURCE_ACTIONS = {
    "rekognition:StartContentModeration",
    "rekognition:GetContentModeration",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def _identity_statements(synth: Synth) -> list[dict[str, Any]]:
    """Every Allow statement of every IAM policy in the stack (inline role policies included)."""
    documents = [p["Properties"]["PolicyDocument"] for p in synth.resources("AWS::IAM::Policy").values()]
    documents += [
        policy["PolicyDocument"]
        for role in synth.resources("AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ]
    return [s for d in documents for s in d["Statement"] if s["Effect"] == "Allow"]


def _role_of(synth: Synth, folder: str) -> str:
    _, function = synth.function(folder)
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def _grants(synth: Synth, role_id: str) -> set[tuple[str, str]]:
    """(action, rendered resource) pairs the role's policies allow."""
    return {
        (action, render(resource))
        for statement in synth.role_policy_statements(role_id)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def _rekognition_role(synth: Synth) -> str:
    _, function = synth.function("start_moderation")
    return function["Properties"]["Environment"]["Variables"]["REKOGNITION_ROLE_ARN"]["Fn::GetAtt"][0]


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_no_policy_allows_a_wildcard_action(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given every IAM policy statement
    synth: Synth = request.getfixturevalue(synth_name)
    actions = {action for s in _identity_statements(synth) for action in as_list(s["Action"])}
    # Then no statement allows "*" or "<service>:*"
    assert actions
    assert not [a for a in actions if a == "*" or a.endswith(":*")]


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_resource_star_is_only_for_apis_without_resource_level_permissions(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given every IAM statement whose resource is "*"
    synth: Synth = request.getfixturevalue(synth_name)
    actions = {
        action
        for statement in _identity_statements(synth)
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    # Then it only allows the two Rekognition moderation calls and X-Ray tracing
    assert actions <= WILDCARD_RESOURCE_ACTIONS


def test_each_function_calls_only_its_own_rekognition_api(dev: Synth) -> None:
    # Given the grants of each function's role
    start = _grants(dev, _role_of(dev, "start_moderation"))
    collect = _grants(dev, _role_of(dev, "collect_results"))
    # Then starting and collecting are split between the functions
    assert {a for a, _ in start if a.startswith("rekognition:")} == {"rekognition:StartContentModeration"}
    assert {a for a, _ in collect if a.startswith("rekognition:")} == {"rekognition:GetContentModeration"}


def test_pass_role_is_allowed_only_for_the_rekognition_role(dev: Synth) -> None:
    # Given every statement allowing iam:PassRole
    statements = [s for s in _identity_statements(dev) if "iam:PassRole" in as_list(s["Action"])]
    # Then there is one, on start_moderation's role, naming only the Rekognition role
    assert len(statements) == 1
    assert statements[0]["Resource"] == {"Fn::GetAtt": [_rekognition_role(dev), "Arn"]}
    assert ("iam:PassRole", f"<{_rekognition_role(dev)}.Arn>") in _grants(dev, _role_of(dev, "start_moderation"))


def test_rekognition_role_can_only_publish_to_the_completion_topic(dev: Synth) -> None:
    # Given the role Rekognition assumes
    role_id = _rekognition_role(dev)
    role = dev.resources_json[role_id]["Properties"]
    topic = dev.output_ref("RekognitionTopicArn")
    key = dev.resources_json[topic]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    # Then only Rekognition (from this account) assumes it, it has no managed or inline policies,
    # and it may only publish to the topic and use the topic's key for that
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "rekognition.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert _grants(dev, role_id) == {
        ("sns:Publish", f"<{topic}>"),
        ("kms:Decrypt", f"<{key}.Arn>"),
        ("kms:GenerateDataKey*", f"<{key}.Arn>"),
    }


def test_start_moderation_writes_only_video_rows_to_the_lake(dev: Synth) -> None:
    # Given start_moderation's grants on the analytics bucket
    analytics = dev.output_ref("AnalyticsBucketName")
    grants = _grants(dev, _role_of(dev, "start_moderation"))
    on_lake = {(a, r) for a, r in grants if r.startswith(f"<{analytics}.Arn>")}
    # Then it can only put objects under moderation_videos/ and never delete
    assert {r for _, r in on_lake} == {f"<{analytics}.Arn>/moderation_videos/*"}
    assert {a for a, _ in on_lake} >= {"s3:PutObject"}
    assert not [a for a, _ in grants if a.startswith("s3:Delete")]


def test_start_moderation_reads_the_media_bucket_and_sends_only_to_the_start_queue(dev: Synth) -> None:
    # Given start_moderation's grants
    grants = _grants(dev, _role_of(dev, "start_moderation"))
    media = dev.output_ref("MediaBucketName")
    # Then it reads uploaded videos, and re-queues only to the start queue
    assert ("s3:GetObject*", f"<{media}.Arn>/*") in grants
    assert {r for a, r in grants if a == "sqs:SendMessage"} == {f"<{dev.output_ref('StartQueueUrl')}.Arn>"}
    assert not [a for a, r in grants if r.startswith(f"<{media}.Arn>") and not a.startswith(("s3:Get", "s3:List"))]


def test_collect_results_deletes_only_staged_objects(dev: Synth) -> None:
    # Given collect_results' grants on the analytics bucket
    analytics = dev.output_ref("AnalyticsBucketName")
    grants = _grants(dev, _role_of(dev, "collect_results"))
    lake = f"<{analytics}.Arn>"
    # Then it reads and writes the two table prefixes and staging, and deletes only under _staging/
    assert {r for a, r in grants if a == "s3:PutObject"} == {
        f"{lake}/moderation_videos/*",
        f"{lake}/moderation_labels/*",
        f"{lake}/_staging/*",
    }
    assert {r for a, r in grants if a == "s3:GetObject*"} >= {f"{lake}/moderation_videos/*", f"{lake}/_staging/*"}
    assert {r for a, r in grants if a.startswith("s3:Delete")} == {f"{lake}/_staging/*"}


def test_collect_results_sends_to_both_queues_and_puts_events_on_the_configured_bus(dev: Synth) -> None:
    # Given collect_results' grants
    grants = _grants(dev, _role_of(dev, "collect_results"))
    # Then it may continue long jobs, kick waiting videos and emit "Video Moderated" on the configured bus only
    assert {r for a, r in grants if a == "sqs:SendMessage"} == {
        f"<{dev.output_ref('StartQueueUrl')}.Arn>",
        f"<{dev.output_ref('CollectQueueUrl')}.Arn>",
    }
    (bus,) = {r for a, r in grants if a == "events:PutEvents"}
    assert bus.endswith(f":events:{dev.config.region}:<AWS::AccountId>:event-bus/{dev.config.event_bus_name}")


def test_function_roles_write_only_their_own_logs_and_use_no_managed_policies(dev: Synth) -> None:
    # Given each modlake function's role
    for function in dev.modlake_functions().values():
        properties = function["Properties"]
        role_id = properties["Role"]["Fn::GetAtt"][0]
        log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        # Then logs go to the function's own log group and no AWS managed policy is attached
        assert "ManagedPolicyArns" not in dev.resources_json[role_id]["Properties"]
        assert {r for a, r in _grants(dev, role_id) if a.startswith("logs:")} == {f"<{log_group}.Arn>"}


# Everything send_digest may do. X-Ray's two actions are the only ones on resource "*" (no resource-level
# permissions); every other action names the workgroup, the catalog entries, the buckets, the table, the topic,
# its key or the SES identities.
DIGEST_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    # the asynchronous-invocation failure destination: the schedule's DLQ
    "sqs:SendMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    # bucket.grant_read: the lake's table prefixes and the Athena results
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
    # bucket.grant_put: digests/ in the lake and the Athena results
    "s3:PutObject",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:Abort*",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "sns:Publish",
    "kms:Decrypt",
    "kms:GenerateDataKey*",
    "ses:SendEmail",
}


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_send_digest_allows_only_the_digest_actions(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given send_digest's grants
    synth: Synth = request.getfixturevalue(synth_name)
    grants = _grants(synth, _role_of(synth, "send_digest"))
    actions = {a for a, _ in grants}
    # Then no action is outside the digest's list, "*" is X-Ray's alone, and SES only when a sender is configured
    assert actions <= DIGEST_ACTIONS, actions - DIGEST_ACTIONS
    assert {a for a, r in grants if r == "*"} == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert ("ses:SendEmail" in actions) == bool(synth.config.digest_sender)


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_send_digest_queries_only_its_workgroup_database_tables_and_views(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given send_digest's Athena and Glue grants
    synth: Synth = request.getfixturevalue(synth_name)
    grants = _grants(synth, _role_of(synth, "send_digest"))
    prefix = f"arn:<AWS::Partition>:{{}}:{synth.config.region}:<AWS::AccountId>:"
    glue, database = prefix.format("glue"), synth.config.glue_database_name
    names = [spec.name for spec in TABLES] + [view.name for view in queries.views()]
    # Then Athena is allowed on the stage's workgroup only, and Glue reads the catalog, the database and
    # exactly its tables and views
    assert {r for a, r in grants if a.startswith("athena:")} == {
        prefix.format("athena") + f"workgroup/modlake-{synth.config.stage}"
    }
    assert {r for a, r in grants if a.startswith("glue:")} == {
        f"{glue}catalog",
        f"{glue}database/{database}",
        *(f"{glue}table/{database}/{name}" for name in names),
    }


def test_send_digest_reads_the_lake_tables_and_writes_only_digests_and_query_results(dev: Synth) -> None:
    # Given send_digest's S3 grants
    grants = _grants(dev, _role_of(dev, "send_digest"))
    lake = f"<{dev.output_ref('AnalyticsBucketName')}.Arn>"
    results = f"<{dev.output_ref('AthenaResultsBucketName')}.Arn>"
    # Then it reads the two table prefixes and the Athena results, writes digests/ and the Athena results,
    # and deletes nothing
    assert {r for a, r in grants if a == "s3:GetObject*"} == {
        lake,
        f"{lake}/moderation_videos/*",
        f"{lake}/moderation_labels/*",
        results,
        f"{results}/*",
    }
    assert {r for a, r in grants if a == "s3:PutObject"} == {f"{lake}/digests/*", f"{results}/*"}
    assert not [a for a, _ in grants if a.startswith("s3:Delete")]


def test_send_digest_touches_only_digest_items_of_the_videos_table(dev: Synth) -> None:
    # Given send_digest's DynamoDB statements
    table = dev.output_ref("VideosTableName")
    statements = [
        s
        for s in dev.role_policy_statements(_role_of(dev, "send_digest"))
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]
    # Then one statement allows item reads and writes on the table itself (no index, no query or scan),
    # only for items whose partition key is DIGEST
    (statement,) = statements
    assert sorted(as_list(statement["Action"])) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert statement["Resource"] == {"Fn::GetAtt": [table, "Arn"]}
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["DIGEST"]}}


def test_send_digest_publishes_only_to_the_digest_topic(dev: Synth) -> None:
    # Given send_digest's SNS and KMS grants
    grants = _grants(dev, _role_of(dev, "send_digest"))
    topic = dev.output_ref("DigestTopicArn")
    key = dev.resources_json[topic]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    # Then it publishes to the digest topic with the topic's key, nowhere else
    assert {(a, r) for a, r in grants if a.startswith(("sns:", "kms:"))} == {
        ("sns:Publish", f"<{topic}>"),
        ("kms:Decrypt", f"<{key}.Arn>"),
        ("kms:GenerateDataKey*", f"<{key}.Arn>"),
    }


def test_send_digest_sends_ses_email_only_as_the_configured_sender(prod: Synth) -> None:
    # Given prod, which sets digest_sender
    grants = _grants(prod, _role_of(prod, "send_digest"))
    identity = f"arn:<AWS::Partition>:ses:{prod.config.region}:<AWS::AccountId>:identity/"
    # Then SES may send only from the sender's address identity or its domain identity
    assert {r for a, r in grants if a.startswith("ses:")} == {
        f"{identity}{DIGEST_SENDER}",
        f"{identity}{DIGEST_SENDER.split('@')[1]}",
    }

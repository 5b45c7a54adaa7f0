"""Least privilege: narrow actions, resource * only where AWS allows nothing narrower, PassRole on one role."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from stacks.digest import DIGEST_READS
from tests.infra.conftest import DIGEST_SENDER, PREFIX
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


@pytest.mark.parametrize("synth_name", ["dev", "prod", "alerts"])
def test_no_policy_allows_a_wildcard_action(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given every IAM policy statement
    synth: Synth = request.getfixturevalue(synth_name)
    actions = {action for s in _identity_statements(synth) for action in as_list(s["Action"])}
    # Then every action is named exactly: no "*", no "<service>:*", and none of the wildcards CDK's grants bring
    # (s3:GetObject*, s3:List*, s3:Abort*, kms:GenerateDataKey*, …)
    assert actions
    assert not [a for a in actions if "*" in a or "?" in a]


@pytest.mark.parametrize("synth_name", ["dev", "prod", "alerts"])
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


def test_the_only_role_alerts_add_is_chatbots_and_it_allows_nothing(dev: Synth, alerts: Synth) -> None:
    # Given the roles alerts add to the same stage (the sandbox's runs deploy dev's template, so
    # tests/sandbox/stack/test_unused_grants.py lists this role as unmeasured)
    added = set(alerts.resources("AWS::IAM::Role")) - set(dev.resources("AWS::IAM::Role"))
    # Then there is one, AWS Chatbot's, and it has no statement, inline policy or managed policy
    (role_id,) = added
    role = alerts.resources_json[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert alerts.role_policy_statements(role_id) == []
    assert not {"Policies", "ManagedPolicyArns"} & set(role)


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
        ("kms:GenerateDataKey", f"<{key}.Arn>"),
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


@pytest.mark.parametrize("folder", ["start_moderation", "queue_backfill"])
@pytest.mark.parametrize(("synth_name", "objects"), [("dev", "*"), ("prod", f"{PREFIX}*")])
def test_screening_reads_media_objects_under_the_key_prefix_and_nothing_else_of_the_bucket(
    folder: str, synth_name: str, objects: str, request: pytest.FixtureRequest
) -> None:
    # Given a screening function's grants on the media bucket (prod watches only the key prefix)
    synth: Synth = request.getfixturevalue(synth_name)
    media = f"<{synth.output_ref('MediaBucketName')}.Arn>"
    on_media = {(a, r) for a, r in _grants(synth, _role_of(synth, folder)) if r.startswith(media)}
    # Then it reads object versions under the prefix (HeadObject and GetObject), and may list the bucket only so that
    # S3 answers a missing object with 404 rather than 403; no GetBucket*, no other List*, no write
    assert on_media == {
        ("s3:GetObject", f"{media}/{objects}"),
        ("s3:GetObjectVersion", f"{media}/{objects}"),
        ("s3:ListBucket", media),
    }


def test_start_moderation_sends_only_to_the_start_queue(dev: Synth) -> None:
    # Given start_moderation's grants
    grants = _grants(dev, _role_of(dev, "start_moderation"))
    # Then it re-queues only to the start queue
    assert {r for a, r in grants if a == "sqs:SendMessage"} == {f"<{dev.output_ref('StartQueueUrl')}.Arn>"}


def test_pass_role_names_rekognition_as_the_only_service_it_may_be_passed_to(dev: Synth) -> None:
    # Given start_moderation's iam:PassRole statement
    (statement,) = [
        s
        for s in dev.role_policy_statements(_role_of(dev, "start_moderation"))
        if "iam:PassRole" in as_list(s["Action"])
    ]
    # Then the Rekognition role can be passed to Rekognition and to no other service
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "rekognition.amazonaws.com"}}


def test_collect_results_deletes_only_staged_objects(dev: Synth) -> None:
    # Given collect_results' grants on the analytics bucket
    analytics = dev.output_ref("AnalyticsBucketName")
    grants = _grants(dev, _role_of(dev, "collect_results"))
    lake = f"<{analytics}.Arn>"
    # Then it writes the two table prefixes and staging, and reads back and deletes only its staged parts
    assert {r for a, r in grants if a == "s3:PutObject"} == {
        f"{lake}/moderation_videos/*",
        f"{lake}/moderation_labels/*",
        f"{lake}/_staging/*",
    }
    assert {(a, r) for a, r in grants if r.startswith(lake) and a != "s3:PutObject"} == {
        ("s3:GetObject", f"{lake}/_staging/*"),
        ("s3:DeleteObject", f"{lake}/_staging/*"),
    }


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
    # what Athena does as the caller: list and read the tables' objects, write and read back the results
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:GetObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    # the digest archive under digests/, and the Athena results
    "s3:PutObject",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "sns:Publish",
    "kms:Decrypt",
    "kms:GenerateDataKey",
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
def test_send_digest_queries_only_its_workgroup_and_the_tables_its_queries_read(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given send_digest's Athena and Glue grants
    synth: Synth = request.getfixturevalue(synth_name)
    grants = _grants(synth, _role_of(synth, "send_digest"))
    prefix = f"arn:<AWS::Partition>:{{}}:{synth.config.region}:<AWS::AccountId>:"
    glue, database = prefix.format("glue"), synth.config.glue_database_name
    catalog = {f"{glue}catalog", f"{glue}database/{database}"}
    # Then Athena is allowed on the stage's workgroup only
    assert {r for a, r in grants if a.startswith("athena:")} == {
        prefix.format("athena") + f"workgroup/modlake-{synth.config.stage}"
    }
    # And Glue reads the catalog, the database and exactly the tables the digest's queries read (no view, no labels);
    # database reads name no table
    assert {r for a, r in grants if a.startswith("glue:") and a != "glue:GetDatabase"} == {
        *catalog,
        *(f"{glue}table/{database}/{spec.name}" for spec in DIGEST_READS),
    }
    assert {r for a, r in grants if a == "glue:GetDatabase"} == catalog


def test_send_digest_reads_the_lake_tables_and_writes_only_digests_and_query_results(dev: Synth) -> None:
    # Given send_digest's S3 grants
    grants = _grants(dev, _role_of(dev, "send_digest"))
    lake = f"<{dev.output_ref('AnalyticsBucketName')}.Arn>"
    results = f"<{dev.output_ref('AthenaResultsBucketName')}.Arn>"
    # Then it reads the videos' and verdicts' objects and the Athena results, writes digests/ and the Athena results,
    # and deletes nothing
    reads = {f"{lake}/moderation_videos/*", f"{lake}/moderation_verdicts/*"}
    assert {r for a, r in grants if a == "s3:GetObject"} == reads | {f"{results}/*"}
    assert {r for a, r in grants if a == "s3:PutObject"} == {f"{lake}/digests/*", f"{results}/*"}
    assert not [a for a, _ in grants if a.startswith("s3:Delete")]
    # And it lists the lake only under the prefixes of the tables its queries read
    (listing,) = [
        s
        for s in dev.role_policy_statements(_role_of(dev, "send_digest"))
        if "s3:ListBucket" in as_list(s["Action"]) and render(s["Resource"]) == lake
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["moderation_videos/*", "moderation_verdicts/*"]}}


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
        ("kms:GenerateDataKey", f"<{key}.Arn>"),
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


# --- the videos table: each function's exact actions, its own key space, the indexes it queries -------------------
VIDEO_KEYS = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["VIDEO#*"]}}
DIGEST_KEYS = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["DIGEST"]}}
# folder → (item actions on the table, the condition on them, the indexes it may Query): what its adapters call.
TABLE_ACCESS = {
    "start_moderation": ({"GetItem", "UpdateItem"}, VIDEO_KEYS, {"by_status", "waiting", "by_object"}),
    "collect_results": ({"GetItem", "UpdateItem", "BatchWriteItem"}, VIDEO_KEYS, {"by_job", "waiting"}),
    "queue_backfill": ({"GetItem", "UpdateItem"}, VIDEO_KEYS, set()),
    "send_digest": ({"GetItem", "PutItem", "UpdateItem", "DeleteItem"}, DIGEST_KEYS, set()),
    "review_api": ({"GetItem", "Query", "PutItem", "UpdateItem"}, VIDEO_KEYS, {"by_object", "review_queue"}),
}


def _table_statements(synth: Synth, folder: str) -> list[dict[str, Any]]:
    return [
        s
        for s in synth.role_policy_statements(_role_of(synth, folder))
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
@pytest.mark.parametrize("folder", sorted(TABLE_ACCESS))
def test_each_function_has_only_the_table_actions_it_calls_in_its_own_key_space(
    folder: str, synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given the function's DynamoDB statements
    synth: Synth = request.getfixturevalue(synth_name)
    table = f"<{synth.output_ref('VideosTableName')}.Arn>"
    actions, keys, indexes = TABLE_ACCESS[folder]
    statements = _table_statements(synth, folder)
    on_table = [s for s in statements if render(s["Resource"]) == table]
    on_indexes = [s for s in statements if s not in on_table]
    # Then one statement allows exactly its item actions on the table, only for items of its key space
    (items,) = on_table
    assert {a.removeprefix("dynamodb:") for a in as_list(items["Action"])} == actions
    assert items["Condition"] == keys
    # And Query is allowed on exactly the indexes it queries (never <table>/index/*), nothing else on them
    assert {a for s in on_indexes for a in as_list(s["Action"])} == ({"dynamodb:Query"} if indexes else set())
    assert {render(r) for s in on_indexes for r in as_list(s["Resource"])} == {f"{table}/index/{i}" for i in indexes}


def test_no_function_may_scan_the_table_or_delete_or_overwrite_an_item_outside_its_key_space(dev: Synth) -> None:
    # Given every modlake function's DynamoDB statements (a regained grant_read_write_data would bring Scan,
    # DeleteItem and BatchWriteItem on every item and index)
    by_folder = {folder: _table_statements(dev, folder) for folder in TABLE_ACCESS}
    actions = {f: {a for s in statements for a in as_list(s["Action"])} for f, statements in by_folder.items()}
    # Then none scans, only send_digest deletes (its own once-per-day records), only collect_results batch-writes
    assert not [f for f, found in actions.items() if "dynamodb:Scan" in found]
    assert [f for f, found in actions.items() if "dynamodb:DeleteItem" in found] == ["send_digest"]
    assert [f for f, found in actions.items() if "dynamodb:BatchWriteItem" in found] == ["collect_results"]
    # And every statement that can write an item is limited by its partition key: a video function cannot reach
    # DIGEST (send_digest's records), send_digest cannot reach a video
    writers = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for folder, statements in by_folder.items():
        for statement in statements:
            if writers & set(as_list(statement["Action"])):
                (patterns,) = [keys["dynamodb:LeadingKeys"] for keys in statement["Condition"].values()]
                other = "VIDEO#0123" if folder == "send_digest" else "DIGEST"
                assert not [p for p in patterns if fnmatch.fnmatchcase(other, p)], (folder, patterns)

"""Recorded calls against IAM: statements evaluated as IAM does, each call's mapping, and the stack's real policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sandbox.stack.calls import AwsCall
from sandbox.stack.template import LOCAL_ACCOUNT, Resolver, readable_name, synthesize_template
from tests.sandbox.stack.permissions import (
    LEADING_KEYS,
    MANAGED_POLICY,
    WILDCARD_ACTIONS,
    Denial,
    Grant,
    Permission,
    UnmappedCall,
    check_calls,
    expand_action,
    is_allowed,
    judge,
    load_allowlist,
    required_permissions,
    role_grants,
    used_grants,
)
from tests.sandbox.stack.test_unused_grants import ALLOWLIST

REGION = "us-east-1"
ACCOUNT = LOCAL_ACCOUNT
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/videos"
PARTITION_KEYS = {"videos": "pk"}
DIGEST_ONLY = {"ForAllValues:StringEquals": {LEADING_KEYS: ["DIGEST"]}}


def call(service: str, operation: str, caller: str = "send_digest", **params: Any) -> AwsCall:
    return AwsCall(service, operation, params, REGION, ACCOUNT, caller)


def allow(action: Any, resource: Any, condition: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def pairs(permissions: list[Permission]) -> list[tuple[str, str]]:
    return [(p.action, p.resource) for p in permissions]


def s3(operation: str, **params: Any) -> list[tuple[str, str]]:
    return pairs(required_permissions(call("s3", operation, **params)))


# --- statement evaluation -----------------------------------------------------------------------------------------
def test_actions_match_wildcards_case_insensitively() -> None:
    # Given statements naming actions with * and ? in another case
    statements = [allow(["S3:Get*", "sqs:Send?essage"], "*")]
    # When permissions are checked
    # Then actions match ignoring case, * spans any run of characters and ? exactly one
    assert is_allowed(statements, Permission("s3:GetObjectVersion", "arn:aws:s3:::b/k"))
    assert is_allowed(statements, Permission("SQS:SENDMESSAGE", "arn:aws:sqs:us-east-1:1:q"))
    assert not is_allowed(statements, Permission("s3:PutObject", "arn:aws:s3:::b/k"))
    assert not is_allowed(statements, Permission("sqs:SendMessageBatch", "arn:aws:sqs:us-east-1:1:q"))


def test_resources_match_wildcards_case_sensitively_across_separators() -> None:
    # Given a statement on an object prefix and one with a ? in the region
    statements = [
        allow("s3:GetObject", "arn:aws:s3:::bucket/videos/*"),
        allow("sns:Publish", "arn:aws:sns:us-east-?:*"),
    ]
    # When permissions are checked
    # Then * crosses / and :, ? is one character, and the case of the resource matters
    assert is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::bucket/videos/2024/a:b.mp4"))
    assert not is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::bucket/Videos/a.mp4"))
    assert not is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::bucket/other/a.mp4"))
    assert is_allowed(statements, Permission("sns:Publish", "arn:aws:sns:us-east-2:1:t"))
    assert not is_allowed(statements, Permission("sns:Publish", "arn:aws:sns:us-east-12:1:t"))


@pytest.mark.parametrize("deny_first", [True, False])
def test_an_explicit_deny_beats_any_allow(deny_first: bool) -> None:
    # Given an Allow on the whole bucket and a Deny on one prefix, in either order
    grant = allow("s3:*", "arn:aws:s3:::bucket/*")
    deny = {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::bucket/history/*", "Sid": "Keep"}
    statements = [deny, grant] if deny_first else [grant, deny]
    # When a call deletes under the prefix and another elsewhere
    denials = check_calls(
        statements,
        [
            call("s3", "DeleteObject", Bucket="bucket", Key="history/a"),
            call("s3", "DeleteObject", Bucket="bucket", Key="staging/a"),
        ],
    )
    # Then only the denied prefix is refused, naming the Deny statement
    assert [(d.permission and d.permission.resource, d.reason) for d in denials] == [
        ("arn:aws:s3:::bucket/history/a", "explicitly denied by statement 'Keep'")
    ]


def test_not_action_allows_every_other_action() -> None:
    # Given an Allow of everything but deletes
    statements = [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}]
    # When permissions are checked
    # Then reads are allowed and deletes are not
    assert is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::b/k"))
    assert not is_allowed(statements, Permission("s3:DeleteObject", "arn:aws:s3:::b/k"))


def test_not_resource_allows_every_other_resource_and_denies_only_its_own() -> None:
    # Given reads allowed everywhere except a secret bucket, and deletes denied everywhere except staging
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "NotResource": "arn:aws:s3:::lake/staging/*"},
    ]
    # When permissions are checked
    # Then the secret bucket is implicitly denied and deletes outside staging explicitly
    assert is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::lake/x"))
    assert not is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::secret/x"))
    assert is_allowed(statements, Permission("s3:DeleteObject", "arn:aws:s3:::lake/staging/x"))
    assert not is_allowed(statements, Permission("s3:DeleteObject", "arn:aws:s3:::lake/videos/x"))


@pytest.mark.parametrize(
    ("leading_keys", "allowed"),
    [
        (("DIGEST",), True),
        (("VIDEO#abc",), False),
        (("DIGEST", "VIDEO#abc"), False),  # every value must be allowed
        (None, True),  # IAM: ForAllValues over an absent key is true
    ],
)
def test_for_all_values_string_equals_on_leading_keys(leading_keys: tuple[str, ...] | None, allowed: bool) -> None:
    # Given the digest's kind of statement: item actions only under partition key DIGEST
    statements = [allow("dynamodb:PutItem", TABLE_ARN, DIGEST_ONLY)]
    context = {LEADING_KEYS: leading_keys} if leading_keys is not None else {}
    # When a write with these partition keys is checked
    # Then only DIGEST items (or a request with no LeadingKeys at all) are allowed
    assert is_allowed(statements, Permission("dynamodb:PutItem", TABLE_ARN, context)) is allowed


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        ({"ForAnyValue:StringEquals": {"k": ["a"]}}, {"k": ("b", "a")}, True),
        ({"ForAnyValue:StringEquals": {"k": ["a"]}}, {}, False),  # absent key: false
        ({"StringEquals": {"k": "a"}}, {}, False),  # positive operator, absent key: false
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # negated operator, absent key: true, as in IAM
        ({"StringNotEquals": {"k": "a"}}, {"k": ("a",)}, False),
        ({"StringLike": {"s3:prefix": ["digests/*"]}}, {"s3:prefix": ("digests/2024",)}, True),
        ({"StringNotLike": {"s3:prefix": ["digests/*"]}}, {"s3:prefix": ("digests/2024",)}, False),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123:topic-*"}},
            {"aws:sourcearn": ("arn:aws:sns:x:123:topic-a",)},
            True,
        ),
        ({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:x:123:t"}}, {"aws:SourceArn": ("arn:aws:sns:x:124:t",)}, False),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": ("true",)}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {}, False),  # a key we never supply: the Allow does not apply
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}, {"a": ("1",), "b": ("3",)}, False),  # all must hold
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, tuple[str, ...]], allowed: bool) -> None:
    # Given an Allow conditioned on one or more keys
    statements = [allow("sqs:SendMessage", "*", condition)]
    # When a permission with this request context is checked
    # Then the condition decides as IAM's operator does
    assert is_allowed(statements, Permission("sqs:SendMessage", "arn:aws:sqs:r:1:q", context)) is allowed


@pytest.mark.parametrize("operator", ["NumericLessThan", "StringEqualsIfExists", "ForEveryValue:StringEquals"])
def test_an_unsupported_condition_operator_raises_naming_it(operator: str) -> None:
    # Given a statement with an operator the checker does not evaluate
    statements = [allow("s3:GetObject", "*", {operator: {"k": "1"}})]
    # When it is evaluated
    # Then it fails loudly instead of guessing
    with pytest.raises(ValueError, match=operator):
        is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::b/k", {"k": ("1",)}))


def test_an_unresolved_intrinsic_in_a_statement_raises() -> None:
    # Given a statement whose resource is still a CloudFormation intrinsic
    statements = [allow("s3:GetObject", {"Fn::GetAtt": ["Bucket", "Arn"]})]
    # When it is evaluated
    # Then it is an error, not a silent mismatch
    with pytest.raises(ValueError, match="unresolved"):
        is_allowed(statements, Permission("s3:GetObject", "arn:aws:s3:::b/k"))


# --- mapping calls: S3 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("GetObject", {"Key": "a/b.mp4"}, [("s3:GetObject", "arn:aws:s3:::media/a/b.mp4")]),
        ("GetObject", {"Key": "k", "VersionId": "v1"}, [("s3:GetObjectVersion", "arn:aws:s3:::media/k")]),
        ("HeadObject", {"Key": "k"}, [("s3:GetObject", "arn:aws:s3:::media/k")]),
        ("HeadObject", {"Key": "k", "VersionId": "v1"}, [("s3:GetObjectVersion", "arn:aws:s3:::media/k")]),
        ("ListObjectsV2", {"Prefix": "p/"}, [("s3:ListBucket", "arn:aws:s3:::media")]),
        ("ListObjects", {}, [("s3:ListBucket", "arn:aws:s3:::media")]),
        ("ListObjectVersions", {}, [("s3:ListBucketVersions", "arn:aws:s3:::media")]),
        ("PutObject", {"Key": "k"}, [("s3:PutObject", "arn:aws:s3:::media/k")]),
        ("CreateMultipartUpload", {"Key": "k"}, [("s3:PutObject", "arn:aws:s3:::media/k")]),
        ("UploadPart", {"Key": "k", "UploadId": "u", "PartNumber": 1}, [("s3:PutObject", "arn:aws:s3:::media/k")]),
        ("CompleteMultipartUpload", {"Key": "k", "UploadId": "u"}, [("s3:PutObject", "arn:aws:s3:::media/k")]),
        ("AbortMultipartUpload", {"Key": "k", "UploadId": "u"}, [("s3:AbortMultipartUpload", "arn:aws:s3:::media/k")]),
        ("DeleteObject", {"Key": "k"}, [("s3:DeleteObject", "arn:aws:s3:::media/k")]),
        (
            "DeleteObjects",
            {"Delete": {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v"}], "Quiet": True}},
            [("s3:DeleteObject", "arn:aws:s3:::media/a"), ("s3:DeleteObjectVersion", "arn:aws:s3:::media/b")],
        ),
        (
            "CopyObject",
            {"Key": "copy", "CopySource": "lake/dir/a%20b.parquet"},
            [("s3:PutObject", "arn:aws:s3:::media/copy"), ("s3:GetObject", "arn:aws:s3:::lake/dir/a b.parquet")],
        ),
        (
            "CopyObject",
            {"Key": "copy", "CopySource": {"Bucket": "lake", "Key": "a", "VersionId": "v"}},
            [("s3:PutObject", "arn:aws:s3:::media/copy"), ("s3:GetObjectVersion", "arn:aws:s3:::lake/a")],
        ),
    ],
)
def test_s3_operations_map_to_their_iam_actions(
    operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    # Given an S3 call on bucket "media"
    # When its permissions are worked out
    # Then they follow S3's IAM rules, not the operation's name
    assert s3(operation, Bucket="media", **params) == expected


def test_listing_supplies_the_prefix_for_s3_prefix_conditions() -> None:
    # Given a ListBucket grant limited to a prefix
    statements = [allow("s3:ListBucket", "arn:aws:s3:::lake", {"StringLike": {"s3:prefix": ["digests/*"]}})]
    # When the lake is listed under that prefix and under another one
    denials = check_calls(
        statements,
        [
            call("s3", "ListObjectsV2", Bucket="lake", Prefix="digests/2024/"),
            call("s3", "ListObjectsV2", Bucket="lake", Prefix="moderation_videos/"),
        ],
    )
    # Then only the other prefix is denied
    assert [d.call.params["Prefix"] for d in denials] == ["moderation_videos/"]


# --- mapping calls: DynamoDB --------------------------------------------------------------------------------------
def _leading(permission: Permission) -> tuple[str, ...] | None:
    return permission.context.get(LEADING_KEYS)


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("GetItem", {"Key": {"pk": {"S": "DIGEST"}, "sk": {"S": "digest#1"}}}),
        ("PutItem", {"Item": {"pk": {"S": "DIGEST"}, "sk": {"S": "digest#1"}, "data": {"S": "{}"}}}),
        ("UpdateItem", {"Key": {"pk": {"S": "DIGEST"}, "sk": {"S": "x"}}, "UpdateExpression": "SET a = :a"}),
        ("DeleteItem", {"Key": {"pk": {"S": "DIGEST"}, "sk": {"S": "x"}}}),
        (
            "Query",
            {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
                "ExpressionAttributeValues": {":pk": {"S": "DIGEST"}, ":p": {"S": "L"}},
            },
        ),
        (
            "Query",
            {
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": "pk"},
                "ExpressionAttributeValues": {":v": {"S": "DIGEST"}},
            },
        ),
    ],
)
def test_item_operations_supply_the_partition_key_as_leading_keys(operation: str, params: dict[str, Any]) -> None:
    # Given a DynamoDB call on the videos table, whose partition key is pk
    # When its permissions are worked out
    (permission,) = required_permissions(call("dynamodb", operation, TableName="videos", **params), {}, PARTITION_KEYS)
    # Then the table is the resource and the item's partition key is dynamodb:LeadingKeys
    assert (permission.action, permission.resource, _leading(permission)) == (
        f"dynamodb:{operation}",
        TABLE_ARN,
        ("DIGEST",),
    )


def test_query_on_an_index_is_a_permission_on_the_index() -> None:
    # Given a Query on a GSI whose partition key is not the table's
    query = call(
        "dynamodb",
        "Query",
        TableName="videos",
        IndexName="by_job",
        KeyConditionExpression="#k = :v",
        ExpressionAttributeNames={"#k": "job_id"},
        ExpressionAttributeValues={":v": {"S": "job-1"}},
    )
    # When its permissions are worked out, with and without the index's key declared
    (undeclared,) = required_permissions(query, {}, PARTITION_KEYS)
    (declared,) = required_permissions(query, {}, {**PARTITION_KEYS, "videos/index/by_job": "job_id"})
    # Then the resource is the index, and its LeadingKeys are known only when declared
    assert undeclared.resource == declared.resource == f"{TABLE_ARN}/index/by_job"
    assert undeclared.unknown == (LEADING_KEYS,)
    assert _leading(declared) == ("job-1",)


def test_a_scan_has_no_leading_keys_so_for_all_values_allows_it() -> None:
    # Given the digest's DIGEST-only statement (were it to list Scan) — real IAM behaviour, kept on purpose
    statements = [allow(["dynamodb:Scan", "dynamodb:PutItem"], TABLE_ARN, DIGEST_ONLY)]
    # When the function scans the table
    (permission,) = required_permissions(call("dynamodb", "Scan", TableName="videos"), {}, PARTITION_KEYS)
    # Then no LeadingKeys is supplied and ForAllValues over an absent key holds: the whole table is readable
    assert permission.context == {} and permission.unknown == ()
    assert check_calls(statements, [call("dynamodb", "Scan", TableName="videos")], PARTITION_KEYS) == []


def test_a_table_without_a_known_partition_key_is_not_waved_through_a_leading_keys_condition() -> None:
    # Given the DIGEST-only statement and no partition key declared for the table
    statements = [allow("dynamodb:PutItem", TABLE_ARN, DIGEST_ONLY)]
    put = call("dynamodb", "PutItem", TableName="videos", Item={"pk": {"S": "VIDEO#x"}, "sk": {"S": "SUMMARY"}})
    # When the write is checked without partition_keys
    (denial,) = check_calls(statements, [put])
    # Then it is denied (unprovable), although ForAllValues over an absent key would hold
    assert denial.permission is not None and denial.permission.unknown == (LEADING_KEYS,)
    assert "Condition" in denial.reason
    # And a Deny conditioned on LeadingKeys is assumed to apply when the keys are unknown
    deny = {
        "Effect": "Deny",
        "Action": "dynamodb:*",
        "Resource": "*",
        "Condition": {"StringEquals": {LEADING_KEYS: "X"}},
    }
    assert not is_allowed([allow("dynamodb:*", "*"), deny], denial.permission)


def test_batch_and_transaction_writes_name_each_table_and_its_items_keys() -> None:
    # Given a batch writing two items and deleting one, and a transaction of three kinds of writes
    batch = call(
        "dynamodb",
        "BatchWriteItem",
        RequestItems={
            "videos": [
                {"PutRequest": {"Item": {"pk": {"S": "VIDEO#a"}, "sk": {"S": "LABELS#1"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "VIDEO#a"}, "sk": {"S": "LABELS#2"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "VIDEO#b"}, "sk": {"S": "LABELS#1"}}}},
            ]
        },
    )
    reads = call(
        "dynamodb", "BatchGetItem", RequestItems={"videos": {"Keys": [{"pk": {"S": "DIGEST"}, "sk": {"S": "1"}}]}}
    )
    transaction = call(
        "dynamodb",
        "TransactWriteItems",
        TransactItems=[
            {"Put": {"TableName": "videos", "Item": {"pk": {"S": "A"}, "sk": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": "videos",
                    "Key": {"pk": {"S": "B"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET x = :x",
                }
            },
            {
                "ConditionCheck": {
                    "TableName": "videos",
                    "Key": {"pk": {"S": "C"}, "sk": {"S": "1"}},
                    "ConditionExpression": "x",
                }
            },
        ],
    )
    # When their permissions are worked out
    found = [
        (p.action, p.resource, _leading(p))
        for c in (batch, reads, transaction)
        for p in required_permissions(c, {}, PARTITION_KEYS)
    ]
    # Then the batch needs its own action with every item's partition key; the transaction each item's own action
    assert found == [
        ("dynamodb:BatchWriteItem", TABLE_ARN, ("VIDEO#a", "VIDEO#b")),
        ("dynamodb:BatchGetItem", TABLE_ARN, ("DIGEST",)),
        ("dynamodb:PutItem", TABLE_ARN, ("A",)),
        ("dynamodb:UpdateItem", TABLE_ARN, ("B",)),
        ("dynamodb:ConditionCheckItem", TABLE_ARN, ("C",)),
    ]


# --- mapping calls: SQS, EventBridge, SNS --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("queue_url", "arn"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/111122223333/start", "arn:aws:sqs:eu-west-1:111122223333:start"),
        ("http://127.0.0.1:4566/123456789012/q", f"arn:aws:sqs:{REGION}:123456789012:q"),
        (
            "http://localhost:5000/123456789012/modlake-collect.fifo",
            f"arn:aws:sqs:{REGION}:123456789012:modlake-collect.fifo",
        ),
    ],
)
def test_a_queue_url_becomes_the_queue_arn(queue_url: str, arn: str) -> None:
    # Given a message sent to an AWS queue URL or a local endpoint's
    # When its permissions are worked out
    # Then the resource is the queue's ARN (the local form takes the client's region)
    assert pairs(required_permissions(call("sqs", "SendMessage", QueueUrl=queue_url, MessageBody="{}"))) == [
        ("sqs:SendMessage", arn)
    ]


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("SendMessageBatch", "sqs:SendMessage"),
        ("DeleteMessageBatch", "sqs:DeleteMessage"),
        ("ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
    ],
)
def test_sqs_batches_need_the_single_message_action(operation: str, action: str) -> None:
    # Given a batch call on a queue
    queue_url = "http://127.0.0.1:4566/123456789012/q"
    # When its permissions are worked out
    # Then IAM checks the single-message action
    assert pairs(required_permissions(call("sqs", operation, QueueUrl=queue_url, Entries=[]))) == [
        (action, f"arn:aws:sqs:{REGION}:123456789012:q")
    ]


def test_a_queue_url_without_account_and_name_is_unmapped() -> None:
    # Given a queue URL that is not …/<account>/<name>
    # When its permissions are worked out
    # Then it is refused as unmappable
    with pytest.raises(UnmappedCall, match="not a queue URL"):
        required_permissions(call("sqs", "SendMessage", QueueUrl="http://127.0.0.1:4566/q", MessageBody=""))


def test_put_events_names_each_entrys_bus() -> None:
    # Given entries on a bus by name, by ARN, and on no bus
    other = "arn:aws:events:us-west-2:999999999999:event-bus/partner"
    entries = [{"EventBusName": "alerts"}, {"EventBusName": other}, {}, {"EventBusName": "default"}]
    # When its permissions are worked out
    # Then each distinct bus is a resource, an absent name meaning the default bus
    assert pairs(required_permissions(call("events", "PutEvents", Entries=entries))) == [
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/alerts"),
        ("events:PutEvents", other),
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
    ]


def test_sns_publish_is_on_the_topic() -> None:
    # Given a publish to a topic
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:digest"
    # When its permissions are worked out
    # Then the topic ARN is the resource
    assert pairs(required_permissions(call("sns", "Publish", TopicArn=topic, Message="m"))) == [("sns:Publish", topic)]


# --- mapping calls: Athena and Glue --------------------------------------------------------------------------------
WORKGROUP_ARN = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/modlake-dev"


def _athena_run(workgroup: str, execution_id: str) -> list[AwsCall]:
    start = AwsCall(
        "athena",
        "StartQueryExecution",
        {"QueryString": "SELECT 1", "WorkGroup": workgroup},
        REGION,
        ACCOUNT,
        "send_digest",
        {"QueryExecutionId": execution_id},
    )
    return [
        start,
        call("athena", "GetQueryExecution", QueryExecutionId=execution_id),
        call("athena", "GetQueryResults", QueryExecutionId=execution_id),
        call("athena", "StopQueryExecution", QueryExecutionId=execution_id),
    ]


def test_calls_on_a_query_execution_are_checked_on_its_workgroup() -> None:
    # Given the digest's Athena statement on its own workgroup
    statements = [allow(["athena:StartQueryExecution", "athena:GetQuery*", "athena:StopQueryExecution"], WORKGROUP_ARN)]
    # When queries run in that workgroup and in "primary"
    denials = check_calls(statements, [*_athena_run("modlake-dev", "q-1"), *_athena_run("primary", "q-2")])
    # Then every call of the primary run is denied, on the primary workgroup, and none of the other
    assert {(d.call.operation, d.permission and d.permission.resource) for d in denials} == {
        (operation, f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary")
        for operation in ("StartQueryExecution", "GetQueryExecution", "GetQueryResults", "StopQueryExecution")
    }


def test_a_query_execution_id_without_a_recorded_start_is_denied() -> None:
    # Given a GetQueryExecution for an id no recorded StartQueryExecution returned
    statements = [allow("athena:*", "*")]
    # When the calls are checked
    (denial,) = check_calls(statements, [call("athena", "GetQueryExecution", QueryExecutionId="q-unknown")])
    # Then it is denied for want of a workgroup, naming the id
    assert denial.permission is None
    assert "q-unknown" in denial.reason and "workgroup" in denial.reason


def test_start_query_execution_without_a_workgroup_runs_in_primary() -> None:
    # Given a StartQueryExecution naming no workgroup
    # When its permissions are worked out
    # Then the resource is the primary workgroup
    assert pairs(required_permissions(call("athena", "StartQueryExecution", QueryString="SELECT 1"))) == [
        ("athena:StartQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary")
    ]


GLUE = f"arn:aws:glue:{REGION}:{ACCOUNT}"


def test_glue_table_reads_need_the_catalog_the_database_and_the_table() -> None:
    # Given a policy on the catalog and database only, and one that also names the table
    partial = [allow("glue:GetTable", [f"{GLUE}:catalog", f"{GLUE}:database/lake"])]
    complete = [allow("glue:GetTable", [f"{GLUE}:catalog", f"{GLUE}:database/lake", f"{GLUE}:table/lake/videos"])]
    get_table = call("glue", "GetTable", DatabaseName="lake", Name="videos")
    # When GetTable is checked against each
    # Then it needs all three resources: the table's absence alone denies it
    assert pairs(required_permissions(get_table)) == [
        ("glue:GetTable", f"{GLUE}:catalog"),
        ("glue:GetTable", f"{GLUE}:database/lake"),
        ("glue:GetTable", f"{GLUE}:table/lake/videos"),
    ]
    assert [d.permission and d.permission.resource for d in check_calls(partial, [get_table])] == [
        f"{GLUE}:table/lake/videos"
    ]
    assert check_calls(complete, [get_table]) == []


@pytest.mark.parametrize(
    ("operation", "params", "resources"),
    [
        ("GetDatabase", {"Name": "lake"}, ["catalog", "database/lake"]),
        ("GetTables", {"DatabaseName": "lake"}, ["catalog", "database/lake", "table/lake/*"]),
        ("GetPartitions", {"DatabaseName": "lake", "TableName": "t"}, ["catalog", "database/lake", "table/lake/t"]),
        (
            "GetPartition",
            {"DatabaseName": "lake", "TableName": "t", "PartitionValues": ["1"]},
            ["catalog", "database/lake", "table/lake/t"],
        ),
    ],
)
def test_other_glue_reads(operation: str, params: dict[str, Any], resources: list[str]) -> None:
    # Given a Glue catalog read
    # When its permissions are worked out
    # Then it needs the catalog, the database and (for table reads) the table or every table
    assert pairs(required_permissions(call("glue", operation, **params))) == [
        (f"glue:{operation}", f"{GLUE}:{resource}") for resource in resources
    ]


# --- mapping calls: SES, Rekognition, unmapped --------------------------------------------------------------------
SES = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity"


@pytest.mark.parametrize(
    ("identities", "allowed"),
    [
        (["digest@mail.example.com"], True),
        (["mail.example.com"], True),
        (["digest@mail.example.com", "mail.example.com"], True),
        (["example.com", "other@mail.example.com"], False),
    ],
)
def test_ses_sends_through_either_the_address_or_the_domain_identity(identities: list[str], allowed: bool) -> None:
    # Given ses:SendEmail allowed on some identities
    statements = [allow("ses:SendEmail", [f"{SES}/{identity}" for identity in identities])]
    send = call("sesv2", "SendEmail", FromEmailAddress="modlake digest <digest@mail.example.com>", Destination={})
    # When the digest's SES v2 call is checked
    denials = check_calls(statements, [send])
    # Then one allowed identity of the two suffices, and a denial names both
    assert (denials == []) is allowed
    if not allowed:
        assert f"{SES}/digest@mail.example.com" in str(denials[0]) and f"{SES}/mail.example.com" in str(denials[0])


def test_start_content_moderation_needs_pass_role_on_its_notification_role() -> None:
    # Given a policy allowing the Rekognition action but no iam:PassRole
    role = f"arn:aws:iam::{ACCOUNT}:role/rekognition"
    start = call(
        "rekognition",
        "StartContentModeration",
        caller="start_moderation",
        Video={"S3Object": {"Bucket": "media", "Name": "a.mp4"}},
        NotificationChannel={"SNSTopicArn": "arn:aws:sns:r:1:t", "RoleArn": role},
    )
    statements = [allow("rekognition:StartContentModeration", "*")]
    # When the call is checked
    # Then it needs the action on "*" and PassRole on the role, and only PassRole is missing
    assert pairs(required_permissions(start)) == [("rekognition:StartContentModeration", "*"), ("iam:PassRole", role)]
    assert [d.permission and d.permission.action for d in check_calls(statements, [start])] == ["iam:PassRole"]
    assert check_calls([*statements, allow("iam:PassRole", role)], [start]) == []


def test_get_content_moderation_is_on_any_resource() -> None:
    # Given a results read
    # When its permissions are worked out
    # Then the resource is "*" (no resource-level permissions)
    assert pairs(required_permissions(call("rekognition", "GetContentModeration", JobId="j"))) == [
        ("rekognition:GetContentModeration", "*")
    ]


def test_an_unmapped_call_is_a_denial_not_a_pass() -> None:
    # Given an everything-allowed policy and a call nobody mapped
    statements = [allow("*", "*")]
    # When it is checked
    (denial,) = check_calls(statements, [call("s3", "PutBucketPolicy", Bucket="b", Policy="{}")])
    # Then it is denied, saying where to add the mapping
    assert denial.permission is None
    assert denial.reason == "no IAM mapping for s3.PutBucketPolicy: add one to tests/sandbox/stack/permissions.py"


def test_a_denial_reads_as_one_line() -> None:
    # Given a denied write
    put = call("s3", "PutObject", caller="collect_results", Bucket="lake", Key="x")
    # When it is printed
    (denial,) = check_calls([allow("s3:GetObject", "*")], [put])
    text = str(denial)
    # Then one line names the caller, the operation, the action on the resource, and the reason
    assert isinstance(denial, Denial) and "\n" not in text
    assert text == (
        "collect_results: s3.PutObject needs s3:PutObject on arn:aws:s3:::lake/x: "
        "no Allow statement matches (implicit deny)"
    )


# --- the stack's real policies ----------------------------------------------------------------------------------------
_ARN_FORMATS = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
}
_NAME_PROPERTIES = ("Name", "BucketName", "TableName", "QueueName", "TopicName", "RoleName", "LogGroupName")


def _resolver(template: Mapping[str, Any]) -> Resolver:
    """Made-up physical names and plausible ARNs for every resource (Ref: the name, or the ARN for topics)."""
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        name = next((properties[p] for p in _NAME_PROPERTIES if isinstance(properties.get(p), str)), None)
        name = name or readable_name(logical_id)
        service = resource["Type"].split("::")[1].lower()
        arn_format = _ARN_FORMATS.get(resource["Type"], f"arn:aws:{service}:{{region}}:{{account}}:{{name}}")
        arn = arn_format.format(region=REGION, account=ACCOUNT, name=name)
        refs[logical_id] = arn if resource["Type"] == "AWS::SNS::Topic" else name
        attributes[(logical_id, "Arn")] = arn
    return Resolver(region=REGION, refs=refs, attributes=attributes)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The dev stack's template in us-east-1, synthesized once for this module."""
    return synthesize_template(stage="dev", region=REGION)


def _function_statements(template: Mapping[str, Any], folder: str) -> list[dict[str, Any]]:
    """The resolved statements of the role of the function whose handler is functions/<folder>/handler.py."""
    resources = template["Resources"]
    (role,) = [
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == f"functions.{folder}.handler.handler"
    ]
    resolver = _resolver(template)
    return [
        resolver.resolve(statement)
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def _output(template: Mapping[str, Any], name: str) -> str:
    return str(_resolver(template).resolve(template["Outputs"][name]["Value"]))


def _partition_keys(template: Mapping[str, Any]) -> dict[str, str]:
    """Table name → partition key attribute, from each table's KeySchema."""
    resolver = _resolver(template)
    return {
        resolver.ref(logical_id): key["AttributeName"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
        for key in resource["Properties"]["KeySchema"]
        if key["KeyType"] == "HASH"
    }


@pytest.mark.slow
def test_the_stacks_policies_allow_what_each_function_does_and_no_more(stack: dict[str, Any]) -> None:
    # Given the synthesized dev stack's policies for send_digest and start_moderation
    digest = _function_statements(stack, "send_digest")
    starter = _function_statements(stack, "start_moderation")
    table, media = _output(stack, "VideosTableName"), _output(stack, "MediaBucketName")
    workgroup = _output(stack, "AthenaWorkGroupName")
    keys = _partition_keys(stack)

    def item_write(leading_key: str) -> AwsCall:
        return call("dynamodb", "PutItem", TableName=table, Item={"pk": {"S": leading_key}, "sk": {"S": "digest#1"}})

    # When calls the functions make (and some they must not) are checked
    def denied(statements: list[dict[str, Any]], *calls: AwsCall) -> list[str]:
        return [
            f"{d.call.operation} {d.permission and d.permission.resource}" for d in check_calls(statements, calls, keys)
        ]

    # Then send_digest queries in its workgroup and writes its once-per-day records, but no video item
    assert denied(digest, *_athena_run(workgroup, "q-1"), item_write("DIGEST")) == []
    assert denied(digest, item_write("VIDEO#x")) == [f"PutItem arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"]
    assert denied(digest, call("athena", "StartQueryExecution", QueryString="SELECT 1", WorkGroup="primary"))
    # And start_moderation reads any media object but cannot write one
    assert denied(starter, call("s3", "GetObject", Bucket=media, Key="any/where/video.mp4", VersionId="v1")) == []
    assert denied(starter, call("s3", "HeadObject", Bucket=media, Key="clip.mov")) == []
    assert denied(starter, call("s3", "PutObject", Bucket=media, Key="clip.mov")) == [
        f"PutObject arn:aws:s3:::{media}/clip.mov"
    ]


# --- the inverse: grants no recorded call used ------------------------------------------------------------------------
VIDEO_ONLY = {"ForAllValues:StringLike": {LEADING_KEYS: ["VIDEO#*"]}}
READ_WRITE_DATA = [  # what table.grant_read_write_data grants
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
]


def video_item(operation: str, key: str, caller: str = "start_moderation") -> AwsCall:
    field_name = "Item" if operation == "PutItem" else "Key"
    return call("dynamodb", operation, caller, TableName="videos", **{field_name: {"pk": {"S": key}, "sk": {"S": "S"}}})


@pytest.mark.parametrize("wildcard", sorted(WILDCARD_ACTIONS))
def test_each_wildcard_stands_for_listed_actions_that_it_matches(wildcard: str) -> None:
    # Given a wildcard action of the table
    # When it is expanded
    actions = expand_action(wildcard)
    # Then it stands for several distinct actions of its own service, each of which the wildcard matches as IAM does
    assert len(actions) == len(set(actions)) >= 1
    assert all(is_allowed([allow(wildcard, "*")], Permission(action, "arn:aws:s3:::b")) for action in actions)
    assert expand_action("s3:GetObject") == ("s3:GetObject",)


@pytest.mark.parametrize("action", ["s3:*", "*", "dynamodb:Get*", "s3:Get?bject"])
def test_a_wildcard_without_an_action_list_fails_the_measurement(action: str) -> None:
    # Given a statement with a wildcard the table does not list
    # When its grants are listed
    # Then the measurement refuses to guess what it covers
    with pytest.raises(ValueError, match="WILDCARD_ACTIONS"):
        role_grants("start_moderation", [allow(action, "*")])


def test_grants_are_every_action_on_every_resource_under_the_statements_conditions() -> None:
    # Given an Allow with a wildcard action on two resources under a condition, a Deny, and a managed policy
    statements = [
        allow(["s3:Abort*", "s3:PutObject"], ["arn:aws:s3:::lake/a/*", "arn:aws:s3:::lake/b/*"], {"Bool": {"k": True}}),
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    ]
    # When its grants are listed
    grants = role_grants("collect_results", statements, ["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    # Then each action (the wildcard's too) is a grant on each resource, with the condition; the Deny grants
    # nothing; the managed policy is one grant no call can use
    assert [(g.action, g.resource, g.conditions) for g in grants] == [
        (action, resource, (("Bool", "k", ("true",)),))
        for action in ("s3:AbortMultipartUpload", "s3:PutObject")
        for resource in ("arn:aws:s3:::lake/a/*", "arn:aws:s3:::lake/b/*")
    ] + [(MANAGED_POLICY, "arn:aws:iam::aws:policy/ReadOnlyAccess", ())]


def test_not_action_and_not_resource_cannot_be_listed() -> None:
    # Given an Allow of everything but one action
    # When its grants are listed
    # Then the measurement says it cannot list them
    with pytest.raises(ValueError, match="NotAction or NotResource"):
        role_grants("send_digest", [{"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"}])


def test_a_grant_is_used_only_by_its_own_roles_calls_within_its_resource_and_conditions() -> None:
    # Given start_moderation's item grant for videos' keys, and a query grant on one index
    grants = role_grants(
        "start_moderation",
        [
            allow("dynamodb:UpdateItem", TABLE_ARN, VIDEO_ONLY),
            allow(["dynamodb:Query"], [f"{TABLE_ARN}/index/waiting", f"{TABLE_ARN}/index/by_job"]),
        ],
    )
    waiting = call(
        "dynamodb",
        "Query",
        "start_moderation",
        TableName="videos",
        IndexName="waiting",
        KeyConditionExpression="#k = :v",
        ExpressionAttributeNames={"#k": "wait_lane"},
        ExpressionAttributeValues={":v": {"S": "upload"}},
    )
    # When calls outside the key space, of another role, and of its own are measured
    outside = used_grants(grants, {"start_moderation": [video_item("UpdateItem", "DIGEST")]}, PARTITION_KEYS)
    other_role = used_grants(grants, {"collect_results": [video_item("UpdateItem", "VIDEO#a")]}, PARTITION_KEYS)
    own = used_grants(grants, {"start_moderation": [video_item("UpdateItem", "VIDEO#a"), waiting]}, PARTITION_KEYS)
    # Then only its own calls inside the grant use it, and the index no call queried stays unused
    assert outside == other_role == set()
    assert {(g.action, g.resource) for g in own} == {
        ("dynamodb:UpdateItem", TABLE_ARN),
        ("dynamodb:Query", f"{TABLE_ARN}/index/waiting"),
    }


def test_a_regained_broad_table_grant_shows_up_as_unused_and_unlisted() -> None:
    # Given start_moderation regaining table.grant_read_write_data, and the calls it makes
    grants = role_grants("start_moderation", [allow(READ_WRITE_DATA, [TABLE_ARN, f"{TABLE_ARN}/index/*"])])
    calls = {"start_moderation": [video_item("GetItem", "VIDEO#a"), video_item("UpdateItem", "VIDEO#a")]}
    # When the unused grants are held against the repository's allowlist
    used = used_grants(grants, calls, PARTITION_KEYS)
    allowlist = load_allowlist(ALLOWLIST.read_text())
    unlisted, _ = judge(set(grants) - used, allowlist)
    # Then everything but the two item actions on the table is reported, Scan and DeleteItem among them
    assert {(g.action, g.resource) for g in used} == {
        ("dynamodb:GetItem", TABLE_ARN),
        ("dynamodb:UpdateItem", TABLE_ARN),
    }
    assert len(unlisted) == 2 * len(READ_WRITE_DATA) - 2
    assert {("dynamodb:Scan", TABLE_ARN), ("dynamodb:DeleteItem", TABLE_ARN)} <= {
        (g.action, g.resource) for g in unlisted
    }


def test_the_allowlist_fails_both_ways_an_unlisted_unused_grant_and_a_stale_entry() -> None:
    # Given two unused grants and an allowlist with an entry for one of them and one for a grant that does not exist
    logs = Grant("send_digest", "logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:digest:*")
    scan = Grant("send_digest", "dynamodb:Scan", TABLE_ARN)
    allowlist = load_allowlist(
        """
        [[grant]]
        roles = ["send_digest"]
        actions = ["logs:PutLogEvents"]
        reason = "the runtime writes the logs"

        [[grant]]
        roles = ["send_digest", "start_moderation"]
        actions = ["ses:SendEmail"]
        resource = "arn:aws:ses:*"
        reason = "an identity nobody verified"
        """
    )
    # When they are judged
    unlisted, stale = judge([logs, scan], allowlist)
    # Then the grant without an entry is reported, and so is each (role, action) of the entry that matches nothing
    assert unlisted == [scan]
    assert stale == [
        "send_digest ses:SendEmail (resource arn:aws:ses:*): an identity nobody verified",
        "start_moderation ses:SendEmail (resource arn:aws:ses:*): an identity nobody verified",
    ]


@pytest.mark.parametrize(
    "entry",
    [
        'roles = ["send_digest"]\nactions = ["logs:PutLogEvents"]',  # no reason
        'roles = ["send_digest"]\nactions = ["logs:PutLogEvents"]\nreason = " "',  # a blank one
        'roles = []\nactions = ["logs:PutLogEvents"]\nreason = "r"',
        'roles = ["send_digest"]\nactions = ["a:B"]\nreason = "r"\nwhy = "a typo for reason"',
    ],
)
def test_an_allowlist_entry_needs_roles_actions_and_a_reason(entry: str) -> None:
    # Given an allowlist entry missing a part, or with an unknown key
    # When the allowlist is loaded
    # Then it is refused
    with pytest.raises(ValueError, match="needs roles, actions and a reason"):
        load_allowlist(f"[[grant]]\n{entry}\n")


def test_publishing_to_an_encrypted_topic_needs_the_topics_key() -> None:
    # Given a publish to a KMS-encrypted topic, and a policy with sns:Publish only
    topic, key = f"arn:aws:sns:{REGION}:{ACCOUNT}:digest", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"
    publish = call("sns", "Publish", TopicArn=topic, Message="m")
    # When its permissions are worked out and checked
    needed = pairs(required_permissions(publish, topic_keys={topic: key}))
    denials = check_calls([allow("sns:Publish", topic)], [publish], topic_keys={topic: key})
    # Then SNS needs the caller to generate a data key and decrypt with the topic's key, and both are missing
    assert needed == [("sns:Publish", topic), ("kms:GenerateDataKey", key), ("kms:Decrypt", key)]
    assert [d.permission and d.permission.action for d in denials] == ["kms:GenerateDataKey", "kms:Decrypt"]

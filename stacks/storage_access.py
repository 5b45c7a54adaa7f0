"""Exact grants on the stack's table, buckets, queues and topics, where a CDK grant gives more than a function calls.

`table.grant_read_write_data` is 12 actions (Scan and DeleteItem among them) on every item and index;
`bucket.grant_read` is GetObject*, GetBucket* and List*; `queue.grant_send_messages` adds GetQueueAttributes and
GetQueueUrl; `topic.grant_publish` adds kms:GenerateDataKey* (four actions). These statements name only the actions a
function calls, on the items (dynamodb:LeadingKeys), indexes, key prefixes, queues and topics it uses; the end-to-end
tests measure both ways that nothing more is granted and nothing less (tests/sandbox/stack/test_unused_grants.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from functions.common import table_design

LEADING_KEYS = "dynamodb:LeadingKeys"
# Every item of a video (its summary and its label chunks) has a partition key VIDEO#<video id>; send_digest's
# once-per-day records live under DIGEST, so a video function's grant cannot overwrite them.
VIDEO_ITEMS = f"{table_design.video_pk('')}*"


def grant_items(
    grantee: iam.IGrantable,
    table: dynamodb.ITable,
    actions: Sequence[str],
    leading_keys: Sequence[str],
    *,
    exact: bool = False,
) -> None:
    """Item actions on the table for items whose partition key matches `leading_keys` (IAM wildcards, or exact
    values). ForAllValues: every key a request names (all of a BatchWriteItem's) must match."""
    operator = "ForAllValues:StringEquals" if exact else "ForAllValues:StringLike"
    _add(
        grantee,
        iam.PolicyStatement(
            actions=list(actions),
            resources=[table.table_arn],
            conditions={operator: {LEADING_KEYS: list(leading_keys)}},
        ),
    )


def grant_index_queries(
    grantee: iam.IGrantable, table: dynamodb.ITable, indexes: Iterable[table_design.IndexDesign]
) -> None:
    """Query on the named indexes only (an index's partition key is a status, lane, job or object, not a video key,
    so these statements carry no LeadingKeys condition)."""
    _add(
        grantee,
        iam.PolicyStatement(
            actions=["dynamodb:Query"],
            resources=[f"{table.table_arn}/index/{index.name}" for index in indexes],
        ),
    )


def grant_objects(grantee: iam.IGrantable, bucket: s3.IBucket, actions: Sequence[str], patterns: Iterable[str]) -> None:
    """Object actions on the keys matching the patterns only (a `*` or `?` in a configured prefix widens, never
    narrows: IAM reads them as wildcards)."""
    _add(
        grantee,
        iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(pattern) for pattern in patterns]),
    )


def grant_send(grantee: iam.IGrantable, queue: sqs.IQueue) -> None:
    """sqs:SendMessage on the queue (its SQS-managed encryption needs no KMS permission)."""
    _add(grantee, iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))


def grant_publish(grantee: iam.IGrantable, topic: sns.ITopic) -> None:
    """sns:Publish on the topic, and what SNS asks KMS for with the publisher's credentials to encrypt the message:
    kms:GenerateDataKey and kms:Decrypt on the topic's own key."""
    _add(grantee, iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
    if topic.master_key is not None:
        _add(
            grantee,
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[topic.master_key.key_arn]),
        )


def _add(grantee: iam.IGrantable, statement: iam.PolicyStatement) -> None:
    result = grantee.grant_principal.add_to_principal_policy(statement)
    if not result.statement_added:
        raise ValueError(f"{grantee.grant_principal} has no policy to add {statement.actions} to")

"""Recorded AWS calls held against a function's IAM policy: a call the deployed role would refuse fails locally too.

Each operation the functions (and the local Athena and Rekognition services, which call S3, Glue and SNS as the
caller) make is mapped below to what IAM authorizes: an action, a resource ARN and the condition keys IAM
supplies. A call without a mapping is a Denial, never a pass, so a new call in a handler fails until it is mapped.

Policies are evaluated as IAM evaluates identity policies: an explicit Deny wins, else some Allow must match,
else the call is implicitly denied. The evaluator itself (`Permission`, `is_allowed`, conditions, wildcards) lives in
sandbox/iam.py, where the endpoint uses it for function URLs; it is re-exported here.

The inverse is measured too (`role_grants`, `used_grants`, `judge`): every action × resource pattern × conditions a
role's Allow statements grant, wildcard actions expanded, and which of them no recorded call of that role needed.
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

from sandbox.iam import (  # noqa: F401 (re-exported: tests import the evaluator from here)
    _OPERATORS,
    _SET_PREFIXES,
    Permission,
    _applies,
    _arn_like,
    _bool_equals,
    _condition_holds,
    _conditions,
    _equals,
    _label,
    _like,
    _operator,
    _refusal,
    _refusal_of,
    _request_values,
    _strings,
    _wildcard,
    is_allowed,
)
from sandbox.stack.calls import AwsCall
from sandbox.stack.template import LOCAL_PARTITION

LEADING_KEYS = "dynamodb:LeadingKeys"
DEFAULT_WORKGROUP = "primary"
DEFAULT_EVENT_BUS = "default"
_NO_NAMES: Mapping[str, str] = MappingProxyType({})
_IAM_PREFIX = {"sesv2": "ses"}  # IAM uses the service's signing name, not botocore's service name
_AWS_QUEUE_HOST = re.compile(r"^(?:sqs\.([a-z0-9-]+)\.amazonaws\.com|([a-z0-9-]+)\.queue\.amazonaws\.com)$")
_KEY_EQUALITY = re.compile(r"^([#:]?[\w.-]+)\s*=\s*([#:]?[\w.-]+)$")


@dataclass(frozen=True)
class Denial:
    """A recorded call, the permission it needed (None when its IAM needs are unknown), and why IAM would refuse it."""

    call: AwsCall
    permission: Permission | None
    reason: str

    def __str__(self) -> str:
        caller = self.call.caller or "<unknown caller>"
        operation = f"{self.call.service}.{self.call.operation}"
        if self.permission is None:
            return f"{caller}: {operation}: {self.reason}"
        return f"{caller}: {operation} needs {self.permission.describe()}: {self.reason}"


class UnmappedCall(Exception):
    """The permissions a call needs cannot be worked out (no mapping, or a parameter the mapping needs is missing)."""


# --- mapping calls to permissions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Request:
    """A call plus what its mapping may need to look up."""

    call: AwsCall
    query_workgroups: Mapping[str, str]
    partition_keys: Mapping[str, str]
    topic_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def params(self) -> Mapping[str, Any]:
        return self.call.params

    def param(self, name: str) -> Any:
        value = self.call.params.get(name)
        if value in (None, ""):
            raise UnmappedCall(f"{self.call.service}.{self.call.operation} without {name}: cannot name its resource")
        return value

    def action(self, operation: str | None = None) -> str:
        prefix = _IAM_PREFIX.get(self.call.service, self.call.service)
        return f"{prefix}:{operation or self.call.operation}"

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        region = self.call.region if region is None else region
        account = self.call.account if account is None else account
        return f"arn:{LOCAL_PARTITION}:{service}:{region}:{account}:{resource}"

    def on(self, resource: str, operation: str | None = None, **context: tuple[str, ...]) -> list[Permission]:
        return [Permission(self.action(operation), resource, context)]


Mapper = Callable[[_Request], list[Permission]]


# S3 -----------------------------------------------------------------------------------------------------------
def _s3_object(bucket: str, key: str) -> str:
    return f"arn:{LOCAL_PARTITION}:s3:::{bucket}/{key}"


def _s3_bucket(bucket: str) -> str:
    return f"arn:{LOCAL_PARTITION}:s3:::{bucket}"


def _s3_read(request: _Request) -> list[Permission]:
    """GetObject and HeadObject: s3:GetObject, or s3:GetObjectVersion for a named version."""
    operation = "GetObjectVersion" if request.params.get("VersionId") else "GetObject"
    return request.on(_s3_object(request.param("Bucket"), request.param("Key")), operation)


def _s3_tagging(operation: str) -> Mapper:
    """GetObjectTagging and PutObjectTagging: s3:<Operation>, or s3:<Get|Put>ObjectVersionTagging for a named
    version (the quarantine's moderation tag, functions/common/adapters/s3.py)."""

    def mapper(request: _Request) -> list[Permission]:
        versioned = operation.replace("Object", "ObjectVersion") if request.params.get("VersionId") else operation
        return request.on(_s3_object(request.param("Bucket"), request.param("Key")), versioned)

    return mapper


def _s3_write(request: _Request) -> list[Permission]:
    """PutObject and the multipart upload steps are all authorized as s3:PutObject."""
    return request.on(_s3_object(request.param("Bucket"), request.param("Key")), "PutObject")


def _s3_on_object(request: _Request) -> list[Permission]:
    return request.on(_s3_object(request.param("Bucket"), request.param("Key")))


def _s3_delete(request: _Request) -> list[Permission]:
    operation = "DeleteObjectVersion" if request.params.get("VersionId") else "DeleteObject"
    return request.on(_s3_object(request.param("Bucket"), request.param("Key")), operation)


def _s3_delete_many(request: _Request) -> list[Permission]:
    """DeleteObjects: s3:DeleteObject (or DeleteObjectVersion) on every key it names."""
    bucket = request.param("Bucket")
    return [
        Permission(
            request.action("DeleteObjectVersion" if item.get("VersionId") else "DeleteObject"),
            _s3_object(bucket, item["Key"]),
        )
        for item in request.param("Delete").get("Objects", [])
    ]


def _s3_list(operation: str) -> Mapper:
    """Listing is a bucket permission; s3:prefix is supplied when the request names a prefix."""

    def mapper(request: _Request) -> list[Permission]:
        prefix = request.params.get("Prefix")
        context = {"s3:prefix": (str(prefix),)} if prefix is not None else {}
        return request.on(_s3_bucket(request.param("Bucket")), operation, **context)

    return mapper


def _copy_source(source: Any) -> tuple[str, str, str | None]:
    """CopySource as `bucket/key[?versionId=v]` (URL-encoded) or {"Bucket", "Key", "VersionId"}."""
    if isinstance(source, Mapping):
        return str(source["Bucket"]), str(source["Key"]), source.get("VersionId")
    path, _, query = str(source).lstrip("/").partition("?versionId=")
    bucket, _, key = path.partition("/")
    return bucket, unquote(key), query or None


def _s3_copy(request: _Request) -> list[Permission]:
    """CopyObject writes the destination and reads the source (a named source version needs GetObjectVersion)."""
    bucket, key, version = _copy_source(request.param("CopySource"))
    return [
        *_s3_write(request),
        Permission(request.action("GetObjectVersion" if version else "GetObject"), _s3_object(bucket, key)),
    ]


# DynamoDB -----------------------------------------------------------------------------------------------------
def _table_name(table: str) -> str:
    """TableName may be a table ARN."""
    return table.rsplit(":table/", 1)[1] if table.startswith("arn:") else table


def _table_arn(request: _Request, table: str) -> str:
    return table if table.startswith("arn:") else request.arn("dynamodb", f"table/{table}")


def _attribute_text(value: Any) -> str | None:
    """A key attribute as IAM sees it in LeadingKeys: DynamoDB JSON {"S": "x"} / {"N": "1"} → "x" / "1"."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, inner),) = value.items()
        return str(inner) if kind in ("S", "N") else None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def _leading_keys(partition_key: str | None, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Permission fields for items' partition keys: LeadingKeys when known, else LeadingKeys marked unknown."""
    values = [_attribute_text(item.get(partition_key)) for item in items] if partition_key else [None]
    if any(value is None for value in values):
        return {"unknown": (LEADING_KEYS,)}
    return {"context": {LEADING_KEYS: tuple(dict.fromkeys(str(value) for value in values))}}


def _items_on_table(request: _Request, action: str, table: str, items: Sequence[Mapping[str, Any]]) -> Permission:
    partition_key = request.partition_keys.get(_table_name(table))
    return Permission(request.action(action), _table_arn(request, table), **_leading_keys(partition_key, items))


def _dynamodb_item(field_name: str) -> Mapper:
    """GetItem/UpdateItem/DeleteItem (Key) and PutItem (Item): the action on the table, with LeadingKeys."""

    def mapper(request: _Request) -> list[Permission]:
        return [
            _items_on_table(request, request.call.operation, request.param("TableName"), [request.param(field_name)])
        ]

    return mapper


def _query_partition_value(params: Mapping[str, Any], partition_key: str) -> str | None:
    """The value a KeyConditionExpression's equality on the partition key (`pk = :v`, `#k = :v`) asks for."""
    expression = params.get("KeyConditionExpression")
    if not isinstance(expression, str):
        return None
    names, values = params.get("ExpressionAttributeNames") or {}, params.get("ExpressionAttributeValues") or {}
    for clause in re.split(r"\s+AND\s+", expression, flags=re.IGNORECASE):
        match = _KEY_EQUALITY.match(clause.strip().strip("()").strip())
        if match is None:
            continue
        left, right = match.groups()
        name, placeholder = (right, left) if left.startswith(":") else (left, right)
        if not placeholder.startswith(":") or placeholder not in values:
            continue
        if names.get(name, name) == partition_key:
            return _attribute_text(values[placeholder])
    return None


def _index_path(request: _Request) -> tuple[str, str]:
    """(resource ARN, partition_keys entry) of the table, or of its index when IndexName is given."""
    table = request.param("TableName")
    index = request.params.get("IndexName")
    if not index:
        return _table_arn(request, table), _table_name(table)
    return f"{_table_arn(request, table)}/index/{index}", f"{_table_name(table)}/index/{index}"


def _dynamodb_query(request: _Request) -> list[Permission]:
    """Query on a table or index; LeadingKeys is the partition key value of its key condition."""
    resource, keys_entry = _index_path(request)
    partition_key = request.partition_keys.get(keys_entry)
    value = _query_partition_value(request.params, partition_key) if partition_key else None
    if value is None:
        return [Permission(request.action(), resource, unknown=(LEADING_KEYS,))]
    return [Permission(request.action(), resource, {LEADING_KEYS: (value,)})]


def _dynamodb_scan(request: _Request) -> list[Permission]:
    """A Scan names no partition key, so IAM supplies no LeadingKeys (ForAllValues conditions then hold)."""
    resource, _ = _index_path(request)
    return request.on(resource)


def _batch_write_items(request: _Request) -> list[Permission]:
    """BatchWriteItem: dynamodb:BatchWriteItem on each table, LeadingKeys being every item's partition key."""
    permissions = []
    for table, writes in request.param("RequestItems").items():
        items = [
            write["PutRequest"]["Item"] if "PutRequest" in write else write.get("DeleteRequest", {}).get("Key", {})
            for write in writes
        ]
        permissions.append(_items_on_table(request, "BatchWriteItem", table, items))
    return permissions


def _batch_get_items(request: _Request) -> list[Permission]:
    """BatchGetItem: dynamodb:BatchGetItem on each table, LeadingKeys being every key's partition key."""
    return [
        _items_on_table(request, "BatchGetItem", table, reads.get("Keys", []))
        for table, reads in request.param("RequestItems").items()
    ]


_TRANSACT_WRITES = {
    "Put": ("PutItem", "Item"),
    "Update": ("UpdateItem", "Key"),
    "Delete": ("DeleteItem", "Key"),
    "ConditionCheck": ("ConditionCheckItem", "Key"),
}


def _transact_write_items(request: _Request) -> list[Permission]:
    """TransactWriteItems is authorized item by item, as the item's own action on its table."""
    permissions = []
    for entry in request.param("TransactItems"):
        for kind, (action, field_name) in _TRANSACT_WRITES.items():
            if kind in entry:
                write = entry[kind]
                permissions.append(_items_on_table(request, action, write["TableName"], [write[field_name]]))
    return permissions


# SQS, SNS, EventBridge --------------------------------------------------------------------------------------------
def _queue_arn(request: _Request, queue_url: str) -> str:
    """`http(s)://host[:port]/<account>/<name>` (AWS or a local endpoint) → arn:aws:sqs:<region>:<account>:<name>."""
    parts = urlsplit(queue_url)
    path = [segment for segment in parts.path.split("/") if segment]
    if not parts.scheme.startswith("http") or len(path) != 2:
        raise UnmappedCall(f"sqs.{request.call.operation}: {queue_url!r} is not a queue URL (…/<account>/<name>)")
    host = _AWS_QUEUE_HOST.match(parts.hostname or "")
    region = (host.group(1) or host.group(2)) if host else request.call.region
    return request.arn("sqs", path[1], region=region, account=path[0])


def _sqs(operation: str | None = None) -> Mapper:
    """Queue actions; a batch call needs the action of its single-message form."""

    def mapper(request: _Request) -> list[Permission]:
        return request.on(_queue_arn(request, request.param("QueueUrl")), operation)

    return mapper


def _sqs_queue_url(request: _Request) -> list[Permission]:
    account = request.params.get("QueueOwnerAWSAccountId") or request.call.account
    return request.on(request.arn("sqs", request.param("QueueName"), account=account))


def _sns_topic(request: _Request) -> list[Permission]:
    return request.on(request.param("TopicArn"))


def _sns_publish(request: _Request) -> list[Permission]:
    """Publish names its topic (or a platform endpoint) by ARN; SNS encrypts a KMS-encrypted topic's messages with a
    data key it asks KMS for with the publisher's credentials, so the publisher also needs kms:GenerateDataKey and
    kms:Decrypt on the topic's key (Amazon SNS Developer Guide, "Encryption at rest": key management)."""
    topic = request.params.get("TopicArn") or request.param("TargetArn")
    permissions = request.on(topic)
    key = request.topic_keys.get(topic)
    if key:
        permissions += [Permission("kms:GenerateDataKey", key), Permission("kms:Decrypt", key)]
    return permissions


def _event_bus_arn(request: _Request, bus: str | None) -> str:
    if bus and bus.startswith("arn:"):
        return bus
    return request.arn("events", f"event-bus/{bus or DEFAULT_EVENT_BUS}")


def _put_events(request: _Request) -> list[Permission]:
    """events:PutEvents on each entry's bus: a name, an ARN, or (absent) the default bus."""
    buses = dict.fromkeys(_event_bus_arn(request, entry.get("EventBusName")) for entry in request.param("Entries"))
    return [permission for bus in buses for permission in request.on(bus)]


# Athena and Glue --------------------------------------------------------------------------------------------------
def _workgroup_arn(request: _Request, workgroup: str) -> str:
    return request.arn("athena", f"workgroup/{workgroup}")


def _start_query(request: _Request) -> list[Permission]:
    return request.on(_workgroup_arn(request, request.params.get("WorkGroup") or DEFAULT_WORKGROUP))


def _get_workgroup(request: _Request) -> list[Permission]:
    return request.on(_workgroup_arn(request, request.param("WorkGroup")))


def _on_query(request: _Request) -> list[Permission]:
    """Calls on a query execution are authorized on the workgroup it was started in."""
    execution_id = request.param("QueryExecutionId")
    workgroup = request.query_workgroups.get(execution_id)
    if workgroup is None:
        raise UnmappedCall(
            f"query execution {execution_id} has no recorded StartQueryExecution (with its QueryExecutionId), "
            "so its workgroup, the resource IAM checks, is unknown"
        )
    return request.on(_workgroup_arn(request, workgroup))


def _glue(*, table: str | None = None, all_tables: bool = False) -> Mapper:
    """Glue authorizes a catalog read on the catalog, the database and (for table reads) the table: all of them.

    `table` names the parameter holding the table name; the database is `DatabaseName` (GetDatabase: `Name`).
    """

    def mapper(request: _Request) -> list[Permission]:
        account = request.params.get("CatalogId") or request.call.account
        database = request.param("DatabaseName" if table or all_tables else "Name")
        resources = ["catalog", f"database/{database}"]
        if table:
            resources.append(f"table/{database}/{request.param(table)}")
        if all_tables:
            resources.append(f"table/{database}/*")
        return [permission for r in resources for permission in request.on(request.arn("glue", r, account=account))]

    return mapper


# SES, Rekognition, STS --------------------------------------------------------------------------------------------
def _send_email(request: _Request) -> list[Permission]:
    """SES v2 SendEmail: allowed through the sender address's identity OR its domain's identity."""
    identity_arn = request.params.get("FromEmailAddressIdentityArn")
    if identity_arn:
        return request.on(identity_arn)
    address = parseaddr(request.param("FromEmailAddress"))[1]
    domain = address.rpartition("@")[2]
    if not domain:
        raise UnmappedCall(f"sesv2.SendEmail from {address!r}: not an email address")
    domain_identity = Permission(request.action(), request.arn("ses", f"identity/{domain}"))
    return [Permission(request.action(), request.arn("ses", f"identity/{address}"), alternatives=(domain_identity,))]


def _start_moderation(request: _Request) -> list[Permission]:
    """No resource-level permissions ("*"); the notification role is passed to Rekognition (iam:PassRole)."""
    permissions = request.on("*")
    role = (request.params.get("NotificationChannel") or {}).get("RoleArn")
    if role:
        permissions.append(Permission("iam:PassRole", role, {"iam:PassedToService": ("rekognition.amazonaws.com",)}))
    return permissions


def _on_any_resource(request: _Request) -> list[Permission]:
    """APIs without resource-level permissions: IAM checks them against "*"."""
    return request.on("*")


def _invoke(request: _Request) -> list[Permission]:
    """Lambda Invoke needs lambda:InvokeFunction on the function (a bare name or a qualified ARN names it)."""
    name = str(request.param("FunctionName"))
    if not name.startswith("arn:"):
        name = request.arn("lambda", f"function:{name}")
    return [Permission("lambda:InvokeFunction", name)]


def _needs_nothing(request: _Request) -> list[Permission]:
    """sts:GetCallerIdentity needs no permission: IAM cannot deny it."""
    return []


_MAPPERS: dict[tuple[str, str], Mapper] = {
    # S3: functions/common/adapters/s3.py, sandbox/athena (lake mirror, results CSV), sandbox/rekognition (the video)
    ("s3", "GetObject"): _s3_read,
    ("s3", "HeadObject"): _s3_read,
    ("s3", "PutObject"): _s3_write,
    ("s3", "CreateMultipartUpload"): _s3_write,
    ("s3", "UploadPart"): _s3_write,
    ("s3", "CompleteMultipartUpload"): _s3_write,
    ("s3", "AbortMultipartUpload"): _s3_on_object,
    ("s3", "DeleteObject"): _s3_delete,
    ("s3", "DeleteObjects"): _s3_delete_many,
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "GetObjectTagging"): _s3_tagging("GetObjectTagging"),
    ("s3", "PutObjectTagging"): _s3_tagging("PutObjectTagging"),
    ("s3", "ListObjectsV2"): _s3_list("ListBucket"),
    ("s3", "ListObjects"): _s3_list("ListBucket"),
    ("s3", "ListObjectVersions"): _s3_list("ListBucketVersions"),
    # DynamoDB: functions/common/adapters/dynamodb.py and Powertools idempotency (once.py)
    ("dynamodb", "GetItem"): _dynamodb_item("Key"),
    ("dynamodb", "PutItem"): _dynamodb_item("Item"),
    ("dynamodb", "UpdateItem"): _dynamodb_item("Key"),
    ("dynamodb", "DeleteItem"): _dynamodb_item("Key"),
    ("dynamodb", "Query"): _dynamodb_query,
    ("dynamodb", "Scan"): _dynamodb_scan,
    ("dynamodb", "BatchWriteItem"): _batch_write_items,
    ("dynamodb", "BatchGetItem"): _batch_get_items,
    ("dynamodb", "TransactWriteItems"): _transact_write_items,
    # SQS: functions/common/adapters/messaging.py, and the event source mapping's calls on its queue
    ("sqs", "SendMessage"): _sqs(),
    ("sqs", "SendMessageBatch"): _sqs("SendMessage"),
    ("sqs", "ReceiveMessage"): _sqs(),
    ("sqs", "DeleteMessage"): _sqs(),
    ("sqs", "DeleteMessageBatch"): _sqs("DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _sqs(),
    ("sqs", "ChangeMessageVisibilityBatch"): _sqs("ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _sqs(),
    ("sqs", "GetQueueUrl"): _sqs_queue_url,
    # SNS: the digest (notify.py), Rekognition's completion message and topic check (sandbox/rekognition)
    ("sns", "Publish"): _sns_publish,
    ("sns", "GetTopicAttributes"): _sns_topic,
    # EventBridge: messaging.py
    ("events", "PutEvents"): _put_events,
    # Athena: functions/common/adapters/athena.py; GetWorkGroup by sandbox/athena as the caller
    ("athena", "StartQueryExecution"): _start_query,
    ("athena", "GetQueryExecution"): _on_query,
    ("athena", "GetQueryResults"): _on_query,
    ("athena", "StopQueryExecution"): _on_query,
    ("athena", "GetWorkGroup"): _get_workgroup,
    # Glue: sandbox/athena's catalog reads, made as the caller the way Athena makes them
    ("glue", "GetDatabase"): _glue(),
    ("glue", "GetTable"): _glue(table="Name"),
    ("glue", "GetTables"): _glue(all_tables=True),
    ("glue", "GetPartition"): _glue(table="TableName"),
    ("glue", "GetPartitions"): _glue(table="TableName"),
    # SES v2: notify.py
    ("sesv2", "SendEmail"): _send_email,
    # Rekognition: functions/common/adapters/rekognition.py
    ("rekognition", "StartContentModeration"): _start_moderation,
    ("rekognition", "GetContentModeration"): _on_any_resource,
    # Lambda: S3 Batch Operations invokes the batch function as its role (sandbox/batch_operations)
    ("lambda", "Invoke"): _invoke,
    # STS: sandbox/athena asks who the caller is
    ("sts", "GetCallerIdentity"): _needs_nothing,
}


def required_permissions(
    call: AwsCall,
    query_workgroups: Mapping[str, str] = _NO_NAMES,
    partition_keys: Mapping[str, str] = _NO_NAMES,
    topic_keys: Mapping[str, str] = _NO_NAMES,
) -> list[Permission]:
    """Everything IAM must allow for the call to succeed; raises UnmappedCall when that cannot be worked out.

    `query_workgroups` maps Athena QueryExecutionIds to their workgroups; `partition_keys` maps DynamoDB table names
    (or `<table>/index/<index>`) to their partition key attribute, the source of dynamodb:LeadingKeys; `topic_keys`
    maps SNS topic ARNs to the ARN of the KMS key that encrypts them.
    """
    mapper = _MAPPERS.get((call.service, call.operation))
    if mapper is None:
        raise UnmappedCall(
            f"no IAM mapping for {call.service}.{call.operation}: add one to tests/sandbox/stack/permissions.py"
        )
    try:
        return mapper(_Request(call, query_workgroups, partition_keys, topic_keys))
    except (KeyError, TypeError, AttributeError) as error:  # parameters not shaped as the API defines them
        raise UnmappedCall(
            f"{call.service}.{call.operation}: parameters not shaped as the API defines them ({error!r})"
        ) from error


def _query_workgroups(calls: Iterable[AwsCall]) -> dict[str, str]:
    """QueryExecutionId → WorkGroup of every recorded StartQueryExecution whose response was kept."""
    return {
        str(call.response["QueryExecutionId"]): str(call.params.get("WorkGroup") or DEFAULT_WORKGROUP)
        for call in calls
        if (call.service, call.operation) == ("athena", "StartQueryExecution") and "QueryExecutionId" in call.response
    }


def check_calls(
    statements: Sequence[Mapping[str, Any]],
    calls: Iterable[AwsCall],
    partition_keys: Mapping[str, str] = _NO_NAMES,
    topic_keys: Mapping[str, str] = _NO_NAMES,
) -> list[Denial]:
    """Every recorded call (or part of one) that the statements would not allow, so a test can fail on them."""
    recorded = list(calls)
    workgroups = _query_workgroups(recorded)
    denials = []
    for call in recorded:
        try:
            permissions = required_permissions(call, workgroups, partition_keys, topic_keys)
        except UnmappedCall as error:
            denials.append(Denial(call, None, str(error)))
            continue
        for permission in permissions:
            reason = _refusal(statements, permission)
            if reason is not None:
                denials.append(Denial(call, permission, reason))
    return denials


# --- resource policies: a bucket policy's Principal, and what it conditions on -------------------------------------
PRINCIPAL_ARN = "aws:PrincipalArn"
EXISTING_OBJECT_TAG = "s3:ExistingObjectTag/"
_ACCOUNT_ROOT = re.compile(r"^arn:[\w-]+:iam::(\d{12}):root$")


def _account_of(principal_arn: str) -> str | None:
    """The account of an IAM principal ARN (arn:<partition>:iam::<account>:role/… | user/… | root)."""
    parts = principal_arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[2] in ("iam", "sts") and parts[4].isdigit() else None


def _names_principal(block: Any, principal_arn: str) -> bool:
    """Whether a Principal block names the caller: "*", {"AWS": "*"}, its own ARN, or its account (root ARN or id)."""
    if block == "*":
        return True
    if not isinstance(block, Mapping):
        raise ValueError(f"malformed Principal block: {block!r}")
    account = _account_of(principal_arn)
    for kind, values in block.items():
        for value in _strings(values, f"Principal {kind}"):
            root = _ACCOUNT_ROOT.match(value)
            if value == principal_arn or (kind == "AWS" and value == "*"):
                return True
            if kind == "AWS" and account is not None and (value == account or (root and root.group(1) == account)):
                return True
    return False


def principal_matches(statement: Mapping[str, Any], principal_arn: str) -> bool:
    """Whether a resource-policy statement applies to the caller by its Principal or NotPrincipal."""
    if ("Principal" in statement) == ("NotPrincipal" in statement):
        raise ValueError(f"a resource-policy statement needs exactly one of Principal and NotPrincipal: {statement!r}")
    if "Principal" in statement:
        return _names_principal(statement["Principal"], principal_arn)
    return not _names_principal(statement["NotPrincipal"], principal_arn)


def object_tag_context(tags: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The s3:ExistingObjectTag/<key> condition keys S3 supplies for a read of an object version with these tags."""
    return {f"{EXISTING_OBJECT_TAG}{key}": (value,) for key, value in tags.items()}


def resource_policy_refusal(
    identity: Sequence[Mapping[str, Any]],
    resource_policy: Sequence[Mapping[str, Any]],
    permission: Permission,
    principal_arn: str,
) -> str | None:
    """Why IAM refuses a principal's request in the resource's own account, or None when it allows it: an explicit
    Deny in either policy wins, else an Allow in either suffices. The caller's aws:PrincipalArn is supplied (for a
    role's session it is the role's ARN); the resource-policy statements that name the caller apply."""
    if _request_values(permission, PRINCIPAL_ARN) is None:
        permission = replace(permission, context={**permission.context, PRINCIPAL_ARN: (principal_arn,)})
    applicable = [
        {key: value for key, value in statement.items() if key not in ("Principal", "NotPrincipal")}
        for statement in resource_policy
        if principal_matches(statement, principal_arn)
    ]
    return _refusal([*identity, *applicable], permission)


def is_allowed_with_resource_policy(
    identity: Sequence[Mapping[str, Any]],
    resource_policy: Sequence[Mapping[str, Any]],
    permission: Permission,
    principal_arn: str,
) -> bool:
    """Whether a same-account request is allowed by the caller's identity policy and the resource's policy together."""
    return resource_policy_refusal(identity, resource_policy, permission, principal_arn) is None


# --- the inverse: what the policies grant that no recorded call used --------------------------------------------------
# The IAM actions each wildcard action stands for. botocore's service models name API operations, not IAM actions, so
# the lists are kept here, from the Service Authorization Reference: "Actions defined by Amazon S3"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) and "Actions defined by AWS
# Key Management Service" (.../list_awskeymanagementservice.html). An action AWS adds later is missing until it is
# added here; a wildcard that is not listed fails the measurement rather than being guessed.
WILDCARD_ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "s3:Abort*": ("s3:AbortMultipartUpload",),
        "s3:DeleteObject*": (
            "s3:DeleteObject",
            "s3:DeleteObjectTagging",
            "s3:DeleteObjectVersion",
            "s3:DeleteObjectVersionTagging",
        ),
        "s3:GetBucket*": (
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketLocation",
            "s3:GetBucketLogging",
            "s3:GetBucketMetadataTableConfiguration",
            "s3:GetBucketNotification",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketPolicy",
            "s3:GetBucketPolicyStatus",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketRequestPayment",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetBucketWebsite",
        ),
        "s3:GetObject*": (
            "s3:GetObject",
            "s3:GetObjectAcl",
            "s3:GetObjectAttributes",
            "s3:GetObjectLegalHold",
            "s3:GetObjectRetention",
            "s3:GetObjectTagging",
            "s3:GetObjectTorrent",
            "s3:GetObjectVersion",
            "s3:GetObjectVersionAcl",
            "s3:GetObjectVersionAttributes",
            "s3:GetObjectVersionForReplication",
            "s3:GetObjectVersionTagging",
            "s3:GetObjectVersionTorrent",
        ),
        "s3:List*": (
            "s3:ListAccessGrants",
            "s3:ListAccessGrantsInstances",
            "s3:ListAccessGrantsLocations",
            "s3:ListAccessPoints",
            "s3:ListAccessPointsForObjectLambda",
            "s3:ListAllMyBuckets",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:ListBucketVersions",
            "s3:ListCallerAccessGrants",
            "s3:ListJobs",
            "s3:ListMultiRegionAccessPoints",
            "s3:ListMultipartUploadParts",
            "s3:ListStorageLensConfigurations",
            "s3:ListStorageLensGroups",
            "s3:ListTagsForResource",
        ),
        "kms:GenerateDataKey*": (
            "kms:GenerateDataKey",
            "kms:GenerateDataKeyPair",
            "kms:GenerateDataKeyPairWithoutPlaintext",
            "kms:GenerateDataKeyWithoutPlaintext",
        ),
        "kms:ReEncrypt*": ("kms:ReEncryptFrom", "kms:ReEncryptTo"),
    }
)
MANAGED_POLICY = "<managed policy>"  # the action of a grant that is a whole managed policy: no call can show it used

Condition = tuple[str, str, tuple[str, ...]]  # (operator, condition key, policy values)


@dataclass(frozen=True, order=True)
class Grant:
    """One action on one resource pattern that an Allow statement of a role grants, under the statement's conditions."""

    role: str  # the role's name in the measurement (see tests/sandbox/stack/pipeline.py: role_names)
    action: str  # one IAM action, wildcards expanded
    resource: str  # the statement's resource pattern, as written
    conditions: tuple[Condition, ...] = ()

    def describe(self) -> str:
        """`role: action on resource [if operator key values …]`."""
        text = f"{self.role}: {self.action} on {self.resource}"
        if self.conditions:
            text += " if " + " and ".join(f"{op} {key} {list(values)}" for op, key, values in self.conditions)
        return text

    def covers(self, permission: Permission) -> bool:
        """Whether this grant alone allows the permission or one of its alternatives (each of which suffices)."""
        return any(self._covers(option) for option in (permission, *permission.alternatives))

    def _covers(self, permission: Permission) -> bool:
        return (
            permission.action.lower() == self.action.lower()
            and _like(permission.resource, self.resource)
            and all(_condition_holds(op, key, list(values), permission, "Allow") for op, key, values in self.conditions)
        )


def expand_action(action: str) -> tuple[str, ...]:
    """The IAM actions an action pattern stands for: itself, or a wildcard's list in WILDCARD_ACTIONS."""
    if "*" not in action and "?" not in action:
        return (action,)
    for pattern, actions in WILDCARD_ACTIONS.items():
        if pattern.lower() == action.lower():
            return actions
    raise ValueError(
        f"no action list for the wildcard {action!r}: add the actions it covers to WILDCARD_ACTIONS in "
        "tests/sandbox/stack/permissions.py, from the Service Authorization Reference"
    )


def role_grants(
    role: str, statements: Sequence[Mapping[str, Any]], managed_policies: Iterable[str] = ()
) -> list[Grant]:
    """Every action × resource pattern × conditions the role's Allow statements grant (wildcard actions expanded),
    and one opaque grant per managed policy (the template does not hold its statements, so no call can use it)."""
    grants: list[Grant] = []
    for index, statement in enumerate(statements):
        effect = statement.get("Effect")
        if effect == "Deny":
            continue
        if effect != "Allow":
            raise ValueError(f"{role}: statement Effect must be Allow or Deny, not {effect!r}")
        if "Action" not in statement or "Resource" not in statement:
            raise ValueError(
                f"{role}: {_label(statement, index)} uses NotAction or NotResource, which grant what they do not "
                "name: the measurement cannot list them"
            )
        conditions = tuple((op, key, tuple(values)) for op, key, values in _conditions(statement))
        grants += [
            Grant(role, action, resource, conditions)
            for pattern in _strings(statement["Action"], "Action")
            for action in expand_action(pattern)
            for resource in _strings(statement["Resource"], "Resource")
        ]
    grants += [Grant(role, MANAGED_POLICY, arn) for arn in managed_policies]
    return list(dict.fromkeys(grants))


def used_grants(
    grants: Iterable[Grant],
    calls_by_role: Mapping[str, Iterable[AwsCall]],
    partition_keys: Mapping[str, str] = _NO_NAMES,
    topic_keys: Mapping[str, str] = _NO_NAMES,
) -> set[Grant]:
    """The grants that allow some permission a recorded call of their own role needed (unmapped calls use none:
    check_calls reports them)."""
    by_role: dict[str, list[Grant]] = defaultdict(list)
    for grant in grants:
        by_role[grant.role].append(grant)
    used: set[Grant] = set()
    for role, made in calls_by_role.items():
        recorded = list(made)
        workgroups = _query_workgroups(recorded)
        for call in recorded:
            try:
                permissions = required_permissions(call, workgroups, partition_keys, topic_keys)
            except UnmappedCall:
                continue
            for permission in permissions:
                used.update(grant for grant in by_role[role] if grant.covers(permission))
    return used


@dataclass(frozen=True)
class AllowedUnused:
    """An allowlist entry: grants that stay although no recorded call uses them, and why."""

    roles: tuple[str, ...]
    actions: tuple[str, ...]
    reason: str
    resource: str = "*"  # an IAM-style pattern the grant's resource must match

    def matches(self, grant: Grant) -> bool:
        return (
            grant.role in self.roles
            and grant.action.lower() in {action.lower() for action in self.actions}
            and _like(grant.resource, self.resource)
        )

    def pairs(self) -> list[tuple[str, str]]:
        """Every (role, action) the entry names: each must match an unused grant, or the entry is stale."""
        return [(role, action) for role in self.roles for action in self.actions]


def load_allowlist(text: str) -> list[AllowedUnused]:
    """The `[[grant]]` tables of the allowlist file (roles, actions, reason, optional resource)."""
    entries = []
    for number, table in enumerate(tomllib.loads(text).get("grant", []), start=1):
        unknown = sorted(set(table) - {"roles", "actions", "reason", "resource"})
        if unknown or not table.get("roles") or not table.get("actions") or not str(table.get("reason", "")).strip():
            extra = f", and no other keys (found {', '.join(unknown)})" if unknown else ""
            raise ValueError(f"allowlist entry {number} needs roles, actions and a reason{extra}")
        entries.append(
            AllowedUnused(tuple(table["roles"]), tuple(table["actions"]), table["reason"], table.get("resource", "*"))
        )
    return entries


def judge(unused: Iterable[Grant], allowlist: Sequence[AllowedUnused]) -> tuple[list[Grant], list[str]]:
    """(the unused grants no entry allows, the entries' (role, action) pairs that match no unused grant: stale)."""
    unused = sorted(set(unused))
    unlisted = [grant for grant in unused if not any(entry.matches(grant) for entry in allowlist)]
    stale = [
        f"{role} {action} (resource {entry.resource}): {entry.reason}"
        for entry in allowlist
        for role, action in entry.pairs()
        if not any(
            entry.matches(grant) and (grant.role, grant.action.lower()) == (role, action.lower()) for grant in unused
        )
    ]
    return unlisted, stale

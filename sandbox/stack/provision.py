"""Provision the synthesized modlake template on the local endpoint, the way CloudFormation would deploy it.

Each resource type the pipeline's data path needs is created through the AWS API (moto, or our own services
behind the endpoint) from the template's own properties: buckets (versioning, EventBridge notifications,
lifecycle), queues (visibility timeout, retention, redrive), topics and subscriptions, EventBridge rules and
their targets, the DynamoDB table, the Glue database, tables and views, the Athena workgroup and named queries.
Lambda functions and their SQS event source mappings become `FunctionSpec`s and `EventSourceMapping`s for the
event runner; function URLs (with the function's InvokeFunctionUrl permissions as their resource policy) become
`FunctionUrlConfig`s the endpoint serves at their local URL, which is what Fn::GetAtt <Url>.FunctionUrl resolves
to. Everything else (IAM, KMS, logs, alarms, dashboards, schedules, CDK's helper functions) gets a name and an ARN,
so references to it resolve, and is listed in `Deployment.not_provisioned` with the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.function_urls import INVOKE_ACTION, FunctionUrlConfig, local_function_url, url_id_for
from sandbox.stack.template import Resolver, readable_name

# Resource types the local stack does not create, and why.
NOT_PROVISIONED = {
    "AWS::IAM::Role": "roles are not created locally: function URLs evaluate their template policies, and the "
    "permission-coverage test checks every call against them",
    "AWS::IAM::Policy": "IAM is not enforced locally; the permission-coverage test checks calls against the policies",
    "AWS::KMS::Key": "topics are not encrypted locally",
    "AWS::S3::BucketPolicy": "bucket policies are not enforced locally",
    "AWS::SQS::QueuePolicy": "queue policies are not enforced locally",
    "AWS::SNS::TopicPolicy": "topic policies are not enforced locally",
    "AWS::Logs::LogGroup": "function logs go to files under the local stack's work directory",
    "AWS::CloudWatch::Alarm": "no CloudWatch locally",
    "AWS::CloudWatch::Dashboard": "no CloudWatch locally",
    "AWS::Scheduler::Schedule": "the digest runs on demand locally (`modlake digest`)",
    "AWS::Lambda::EventInvokeConfig": "local invocations are synchronous",
    "AWS::Lambda::Permission": "only InvokeFunctionUrl permissions apply locally: as function URL resource policies",
    "Custom::S3AutoDeleteObjects": "the local endpoint keeps state in memory only",
    **{
        f"AWS::QuickSight::{kind}": "no QuickSight locally: `modlake dashboard` draws the same dashboard from the views"
        for kind in ("DataSource", "DataSet", "RefreshSchedule", "Analysis", "Dashboard")
    },
}
MAX_NAME = {"AWS::S3::Bucket": 63, "AWS::SQS::Queue": 80, "AWS::IAM::Role": 64, "AWS::Lambda::Function": 64}
DEFAULT_MAX_NAME = 128
DEFAULT_EVENT_BUS = "default"


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function of the template: what the event runner needs to run its handler like Lambda would."""

    logical_id: str
    name: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    role_logical_id: str
    arn: str = ""


@dataclass(frozen=True)
class EventSourceMapping:
    """An SQS event source mapping: which queue feeds which function, and how."""

    function_logical_id: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass(frozen=True)
class ScheduledTarget:
    """A schedule rule's target: EventBridge sends `body` to the queue every `period_seconds` (moto never fires it)."""

    rule_name: str
    period_seconds: int
    queue_url: str
    body: str


@dataclass
class Deployment:
    """What provisioning produced: physical names, outputs, functions, event source mappings, skipped resources."""

    stack_name: str
    region: str
    template: Mapping[str, Any]
    resolver: Resolver
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_source_mappings: list[EventSourceMapping] = field(default_factory=list)
    scheduled_targets: list[ScheduledTarget] = field(default_factory=list)
    function_urls: dict[str, FunctionUrlConfig] = field(default_factory=dict)
    not_provisioned: dict[str, str] = field(default_factory=dict)

    def physical_id(self, logical_id: str) -> str:
        """What Ref returns for this resource locally."""
        return self.resolver.ref(logical_id)

    def function_named(self, handler_folder: str) -> FunctionSpec:
        """The function whose handler lives in functions/<folder>/."""
        (spec,) = [f for f in self.functions.values() if f.handler == f"functions.{handler_folder}.handler.handler"]
        return spec

    def role_with_arn(self, arn: str) -> str | None:
        """The logical id of the template's IAM role with this (local) ARN."""
        roles = [k for k, r in self.template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
        return next((k for k in roles if self.resolver.get_att(k, "Arn") == arn), None)

    def policy_statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        """Every statement of the template's IAM policies attached to the role, with intrinsics resolved."""
        return [
            self.resolver.resolve(statement)
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_logical_id} in resource["Properties"]["Roles"]
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        ]


def physical_name(stack_name: str, logical_id: str, resource_type: str) -> str:
    """A deterministic name like CloudFormation's: stack name + the readable logical id, within the type's limit."""
    name = f"{stack_name}-{readable_name(logical_id)}"
    limit = MAX_NAME.get(resource_type, DEFAULT_MAX_NAME)
    if len(name) > limit:
        suffix = hashlib.sha256(logical_id.encode()).hexdigest()[:8]
        name = f"{name[: limit - 9].rstrip('-')}-{suffix}"
    return name


def _parameter_value(parameter: Mapping[str, Any]) -> str:
    """What Ref returns for a template parameter deployed with its default.

    CloudFormation reads an `AWS::SSM::Parameter::Value<…>` parameter from SSM at deploy time; the parameters the
    template names (AWS's public Powertools layer, CDK's bootstrap version) exist only in AWS, and what they hold
    (a layer ARN) is never used here, where functions run on the sandbox's own interpreter: the local value names
    the parameter it stands in for.
    """
    default = str(parameter.get("Default", ""))
    if str(parameter.get("Type", "")).startswith("AWS::SSM::Parameter::Value<"):
        return f"local-stand-in-for-ssm:{default}"
    return default


class Provisioner:
    """Creates the template's resources through boto3 clients of the local endpoint."""

    def __init__(
        self,
        template: Mapping[str, Any],
        client: Callable[[str], Any],
        *,
        stack_name: str,
        region: str,
        account: str,
        endpoint_url: str,
    ) -> None:
        self._template = template
        self._resources: Mapping[str, Mapping[str, Any]] = template["Resources"]
        self._client = client
        self._endpoint_url = endpoint_url.rstrip("/")
        self._account = account
        self._region = region
        self._resolver = Resolver(region=region, account=account, stack_name=stack_name)
        self._deployment = Deployment(stack_name=stack_name, region=region, template=template, resolver=self._resolver)
        self._name_everything()

    def provision(self) -> Deployment:
        """Create every provisioned resource in an order that satisfies their references, then resolve the outputs."""
        creators: list[tuple[str, Callable[[str, Mapping[str, Any]], None]]] = [
            ("AWS::S3::Bucket", self._bucket),
            ("Custom::S3BucketNotifications", self._bucket_notifications),
            ("AWS::SQS::Queue", self._queue),
            ("AWS::SNS::Topic", self._topic),
            ("AWS::SNS::Subscription", self._subscription),
            ("AWS::Events::Rule", self._rule),
            ("AWS::DynamoDB::Table", self._dynamodb_table),
            ("AWS::Glue::Database", self._glue_database),
            ("AWS::Glue::Table", self._glue_table),
            ("AWS::Athena::WorkGroup", self._workgroup),
            ("AWS::Athena::NamedQuery", self._named_query),
            ("AWS::Lambda::Function", self._function),
            ("AWS::Lambda::EventSourceMapping", self._event_source_mapping),
            ("AWS::Lambda::Url", self._function_url),
        ]
        handled = {resource_type for resource_type, _ in creators}
        for resource_type, create in creators:
            for logical_id in self._in_reference_order(resource_type):
                create(logical_id, self._resources[logical_id].get("Properties", {}))
        for logical_id, resource in self._resources.items():
            if resource["Type"] not in handled:
                self._deployment.not_provisioned[logical_id] = NOT_PROVISIONED.get(
                    resource["Type"], f"{resource['Type']} is not part of the local data path"
                )
        self._deployment.outputs = {
            name: str(self._resolver.resolve(output["Value"]))
            for name, output in self._template.get("Outputs", {}).items()
        }
        return self._deployment

    # --- names and attributes, known before anything is created -------------------------------------------------
    def _name_everything(self) -> None:
        """Ref and Fn::GetAtt values for every resource, so any reference resolves whatever the creation order."""
        assert self._resolver.refs is not None and self._resolver.attributes is not None
        stack = self._deployment.stack_name
        for name, parameter in self._template.get("Parameters", {}).items():
            self._resolver.refs[name] = _parameter_value(parameter)
        for logical_id, resource in self._resources.items():
            resource_type = resource["Type"]
            properties = resource.get("Properties", {})
            name = physical_name(stack, logical_id, resource_type)
            ref, attributes = self._identity(resource_type, name, properties)
            self._resolver.refs[logical_id] = ref
            for attribute, value in attributes.items():
                self._resolver.attributes[(logical_id, attribute)] = value

    def _identity(self, resource_type: str, name: str, properties: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        region, account = self._region, self._account
        explicit = properties.get("Name") if isinstance(properties.get("Name"), str) else None
        match resource_type:
            case "AWS::S3::Bucket":
                return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}
            case "AWS::SQS::Queue":
                arn = f"arn:aws:sqs:{region}:{account}:{name}"
                return f"{self._endpoint_url}/{account}/{name}", {"Arn": arn, "QueueName": name}
            case "AWS::SNS::Topic":
                arn = f"arn:aws:sns:{region}:{account}:{name}"
                return arn, {"TopicArn": arn, "TopicName": name}
            case "AWS::DynamoDB::Table":
                return name, {"Arn": f"arn:aws:dynamodb:{region}:{account}:table/{name}"}
            case "AWS::IAM::Role":
                return name, {"Arn": f"arn:aws:iam::{account}:role/{name}", "RoleId": f"AROA{_short_hash(name)}"}
            case "AWS::KMS::Key":
                key_id = _short_hash(name, 32)
                return key_id, {"Arn": f"arn:aws:kms:{region}:{account}:key/{key_id}", "KeyId": key_id}
            case "AWS::Lambda::Function":
                return name, {"Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"}
            case "AWS::Lambda::Url":  # Ref and FunctionArn name the target function: set once it is provisioned
                return name, {"FunctionUrl": local_function_url(self._endpoint_url, url_id_for(account, region, name))}
            case "AWS::Logs::LogGroup":
                return name, {"Arn": f"arn:aws:logs:{region}:{account}:log-group:{name}:*"}
            case "AWS::Events::Rule":
                return name, {"Arn": f"arn:aws:events:{region}:{account}:rule/{name}"}
            case "AWS::Scheduler::Schedule":
                return name, {"Arn": f"arn:aws:scheduler:{region}:{account}:schedule/default/{name}"}
            case "AWS::CloudWatch::Alarm":
                return name, {"Arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"}
            case "AWS::Athena::WorkGroup" | "AWS::CloudWatch::Dashboard":
                return explicit or name, {}
            case "AWS::Glue::Database":
                return str(properties.get("DatabaseInput", {}).get("Name", name)), {}
            case "AWS::Glue::Table":
                return str(properties.get("TableInput", {}).get("Name", name)), {}
        return name, {"Arn": f"arn:aws:{resource_type.split('::')[1].lower()}:{region}:{account}:{name}"}

    def _in_reference_order(self, resource_type: str) -> list[str]:
        """Resources of one type, each after those of the same type it references (a queue after its DLQ)."""
        pending = [k for k, r in self._resources.items() if r["Type"] == resource_type]
        ordered: list[str] = []
        while pending:
            ready = [k for k in pending if not (_references(self._resources[k]) & (set(pending) - {k}))]
            if not ready:
                raise ValueError(f"circular references among {resource_type} resources: {pending}")
            ordered.extend(ready)
            pending = [k for k in pending if k not in ready]
        return ordered

    def _resolved(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = self._resolver.resolve(dict(properties))
        return resolved

    # --- creators ------------------------------------------------------------------------------------------------
    def _bucket(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        s3 = self._client("s3")
        props = self._resolved(properties)
        name = self._resolver.ref(logical_id)
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in rules]}
            )

    def _bucket_notifications(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        configuration = props.get("NotificationConfiguration", {})
        self._client("s3").put_bucket_notification_configuration(
            Bucket=props["BucketName"], NotificationConfiguration=configuration
        )

    def _queue(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        attributes: dict[str, str] = {
            name: str(props[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")
            if name in props
        }
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        if props.get("SqsManagedSseEnabled"):
            attributes["SqsManagedSseEnabled"] = "true"
        created = self._client("sqs").create_queue(
            QueueName=self._resolver.get_att(logical_id, "QueueName"), Attributes=attributes
        )
        assert self._resolver.refs is not None
        self._resolver.refs[logical_id] = created["QueueUrl"]

    def _topic(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved({k: v for k, v in properties.items() if k != "KmsMasterKeyId"})
        attributes = {"DisplayName": props["DisplayName"]} if "DisplayName" in props else {}
        self._client("sns").create_topic(Name=self._resolver.get_att(logical_id, "TopicName"), Attributes=attributes)

    def _subscription(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        attributes = {}
        if "RawMessageDelivery" in props:
            attributes["RawMessageDelivery"] = "true" if props["RawMessageDelivery"] else "false"
        for name in ("RedrivePolicy", "FilterPolicy"):
            if name in props:
                attributes[name] = json.dumps(props[name])
        self._client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes
        )

    def _rule(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        events = self._client("events")
        name = self._resolver.ref(logical_id)
        bus = props.get("EventBusName", DEFAULT_EVENT_BUS)
        trigger = (
            {"ScheduleExpression": props["ScheduleExpression"]}
            if "ScheduleExpression" in props
            else {"EventPattern": json.dumps(props["EventPattern"])}
        )
        events.put_rule(
            Name=name,
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
            EventBusName=bus,
            **trigger,
        )
        events.put_targets(Rule=name, EventBusName=bus, Targets=props.get("Targets", []))
        if "ScheduleExpression" in props and props.get("State", "ENABLED") == "ENABLED":
            period = _rate_seconds(props["ScheduleExpression"])
            for raw, target in zip(properties.get("Targets", []), props.get("Targets", []), strict=True):
                queue = raw["Arn"]["Fn::GetAtt"][0]  # the stack's own queue (the only schedule target it has)
                body = target.get("Input", "{}")
                self._deployment.scheduled_targets.append(
                    ScheduledTarget(name, period, self._resolver.ref(queue), body)
                )

    def _dynamodb_table(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        request: dict[str, Any] = {
            "TableName": self._resolver.ref(logical_id),
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        self._client("dynamodb").create_table(**request)

    def _glue_database(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        self._client("glue").create_database(DatabaseInput=self._resolved(properties)["DatabaseInput"])

    def _glue_table(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        self._client("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])

    def _workgroup(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        configuration = dict(props.get("WorkGroupConfiguration", {}))
        self._client("athena").create_work_group(
            Name=props["Name"], Description=props.get("Description", ""), Configuration=configuration
        )

    def _named_query(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        created = self._client("athena").create_named_query(
            Name=props["Name"],
            Description=props.get("Description", ""),
            Database=props["Database"],
            QueryString=props["QueryString"],
            WorkGroup=props["WorkGroup"],
        )
        assert self._resolver.refs is not None
        self._resolver.refs[logical_id] = created["NamedQueryId"]

    def _function(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        handler = str(properties.get("Handler", ""))
        if not handler.startswith("functions."):
            self._deployment.not_provisioned[logical_id] = "a CDK helper function, not part of modlake's data path"
            return
        props = self._resolved({k: v for k, v in properties.items() if k != "Code"})
        role = properties["Role"]["Fn::GetAtt"][0]
        self._deployment.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=self._resolver.ref(logical_id),
            handler=handler,
            environment={k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            role_logical_id=role,
            arn=self._resolver.get_att(logical_id, "Arn"),
        )

    def _function_url(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        props = self._resolved(properties)
        target = str(props["TargetFunctionArn"])
        spec = next((f for f in self._deployment.functions.values() if target in (f.arn, f.name)), None)
        if spec is None:
            self._deployment.not_provisioned[logical_id] = f"its function {target} is not provisioned locally"
            return
        assert self._resolver.refs is not None and self._resolver.attributes is not None
        self._resolver.refs[logical_id] = spec.arn  # Ref on AWS::Lambda::Url returns the function's ARN
        self._resolver.attributes[(logical_id, "FunctionArn")] = spec.arn
        url = self._resolver.get_att(logical_id, "FunctionUrl")
        self._deployment.function_urls[logical_id] = FunctionUrlConfig(
            url_id=url.rstrip("/").rsplit("/", 1)[1],
            function_name=spec.name,
            function_arn=spec.arn,
            auth_type=str(props["AuthType"]),
            region=self._region,
            account=self._account,
            cors=props.get("Cors", {}),
            resource_statements=tuple(self._url_permissions(spec)),
        )

    def _url_permissions(self, spec: FunctionSpec) -> list[dict[str, Any]]:
        """The function's AWS::Lambda::Permission resources for lambda:InvokeFunctionUrl, as policy statements."""
        statements = []
        for resource in self._resources.values():
            if resource["Type"] != "AWS::Lambda::Permission":
                continue
            props = self._resolved(resource.get("Properties", {}))
            if props.get("Action") != INVOKE_ACTION or str(props.get("FunctionName")) not in (spec.arn, spec.name):
                continue
            statement: dict[str, Any] = {
                "Effect": "Allow",
                "Principal": props["Principal"],
                "Action": INVOKE_ACTION,
                "Resource": spec.arn,
            }
            if "FunctionUrlAuthType" in props:
                auth_type = props["FunctionUrlAuthType"]
                statement["Condition"] = {"StringEquals": {"lambda:FunctionUrlAuthType": auth_type}}
            statements.append(statement)
        return statements

    def _event_source_mapping(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        source = properties["EventSourceArn"]["Fn::GetAtt"][0]
        function = properties["FunctionName"]["Ref"]
        props = self._resolved(properties)
        self._deployment.event_source_mappings.append(
            EventSourceMapping(
                function_logical_id=function,
                queue_url=self._resolver.ref(source),
                queue_arn=props["EventSourceArn"],
                batch_size=int(props.get("BatchSize", 10)),
                batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                maximum_concurrency=props.get("ScalingConfig", {}).get("MaximumConcurrency"),
            )
        )


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate_seconds(expression: str) -> int:
    """The period of an EventBridge rate() expression, in seconds (cron schedules are not run locally)."""
    match = _RATE.fullmatch(expression)
    if match is None:
        raise ValueError(f"the sandbox runs rate() schedules only, not {expression!r}")
    return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2).rstrip("s")]


def _references(value: Any) -> set[str]:
    """Logical ids a resource refers to (Ref, Fn::GetAtt, DependsOn; our template's Fn::Sub names no resource)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item[0] if isinstance(item, list) else str(item).split(".")[0])
            elif key == "DependsOn":
                found.update([item] if isinstance(item, str) else item)
            else:
                found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as the S3 API takes it."""
    converted: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled")}
    converted["Filter"] = {"Prefix": rule["Prefix"]} if "Prefix" in rule else {"Prefix": ""}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return converted


def _short_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length].upper()

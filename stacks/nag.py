"""cdk-nag acknowledgments, one finding at a time and each with its reason, shared by the constructs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

# Why each wildcard action a CDK bucket grant brings is acceptable (cdk-nag AwsSolutions-IAM5).
S3_GRANT_REASONS: Mapping[str, str] = {
    "s3:GetBucket*": "bucket.grant_read: CDK's read action set, on this function's bucket and prefixes only",
    "s3:GetObject*": "bucket.grant_read: CDK's read action set, on this function's bucket and prefixes only",
    "s3:List*": "bucket.grant_read: CDK's read action set, on this function's bucket and prefixes only",
    "s3:Abort*": "bucket.grant_put: aborting its own multipart uploads, under this function's prefixes only",
}
S3_READ_ACTIONS = ("s3:GetBucket*", "s3:GetObject*", "s3:List*")


def acknowledge(construct: IConstruct | None, findings: Mapping[str, str]) -> None:
    """Acknowledge cdk-nag findings one at a time, each with its own reason."""
    if construct is None:
        raise ValueError("nothing to acknowledge findings on")
    for finding, reason in findings.items():
        Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def arn_finding(resource: IConstruct, suffix: str, attribute: str = "Arn") -> str:
    """The IAM5 finding id cdk-nag reports for the resource `<ARN><suffix>` (it names the resource's logical id)."""
    cfn = resource.node.default_child
    if not isinstance(cfn, CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    return f"AwsSolutions-IAM5[Resource::<{Stack.of(resource).get_logical_id(cfn)}.{attribute}>{suffix}]"


def bucket_findings(
    bucket: s3.IBucket,
    patterns: Mapping[str, str],
    actions: Iterable[str],
    reasons: Mapping[str, str] = S3_GRANT_REASONS,
) -> dict[str, str]:
    """Findings of bucket grants: the wildcard actions, and each object pattern with what lives there."""
    findings = {f"AwsSolutions-IAM5[Action::{action}]": reasons[action] for action in actions}
    for pattern, contents in patterns.items():
        findings[arn_finding(bucket, f"/{pattern}")] = f"{pattern} holds {contents}; keys are only known at run time"
    return findings


def table_index_finding(table: dynamodb.ITable) -> dict[str, str]:
    """The finding of a table grant that includes the table's GSIs, which IAM addresses as <table>/index/*."""
    return {
        arn_finding(table, "/index/*"): (
            "table.grant_read_write_data includes the videos table's own GSIs, which IAM addresses as <table>/index/*"
        )
    }


def wildcard_resource_finding(*actions: str) -> dict[str, str]:
    """The Resource::* finding of a role whose only *-resource actions are X-Ray's and the named ones."""
    named = f"only {' and '.join(actions)} and X-Ray tracing" if actions else "only X-Ray tracing"
    verb = "these APIs have" if actions else "it has"
    return {
        "AwsSolutions-IAM5[Resource::*]": (
            f"{named} (xray:PutTraceSegments, xray:PutTelemetryRecords) use *: {verb} no resource-level permissions"
        )
    }

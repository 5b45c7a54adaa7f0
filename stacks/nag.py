"""cdk-nag acknowledgments, one finding at a time and each with its reason, shared by the constructs."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


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


def object_findings(bucket: s3.IBucket, patterns: Mapping[str, str]) -> dict[str, str]:
    """The IAM5 finding of each object pattern a statement names on the bucket, with what lives there."""
    return {
        arn_finding(bucket, f"/{pattern}"): f"{pattern} holds {contents}; keys are only known at run time"
        for pattern, contents in patterns.items()
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

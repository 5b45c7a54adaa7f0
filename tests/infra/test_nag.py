"""cdk-nag AwsSolutions: no unacknowledged finding, and proof that the check does find problems."""

from __future__ import annotations

import pytest
from aws_cdk import Acknowledgment, App, PolicyValidationPluginReport, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.infra.synth import Synth

pytestmark = pytest.mark.slow


def _findings(report: PolicyValidationPluginReport) -> list[str]:
    return [
        f"{violation.rule_name} at {resource.construct_path}: {violation.description}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]


@pytest.mark.parametrize("synth_name", ["dev", "prod", "spice", "alerts", "quarantine"])
def test_the_stack_has_no_unacknowledged_findings(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given a synthesized stack
    synth: Synth = request.getfixturevalue(synth_name)
    # When AwsSolutionsChecks validates it
    report = AwsSolutionsChecks(synth.app).validate_scope(synth.stack)
    # Then nothing is reported
    assert _findings(report) == []
    assert report.success


def test_the_check_reports_a_finding_until_it_is_acknowledged() -> None:
    # Given a throwaway stack with a bucket that has no access logs
    app = App()
    stack = Stack(app, "Throwaway")
    bucket = s3.Bucket(stack, "Unlogged", enforce_ssl=True)
    # When it is validated, then S1 is reported
    first = AwsSolutionsChecks(app).validate_scope(stack)
    assert not first.success
    assert [v.rule_name for v in first.violations] == ["AwsSolutions-S1"]
    # When the finding is acknowledged, then it is no longer reported
    Validations.of(bucket).acknowledge(Acknowledgment(id="AwsSolutions-S1", reason="test"))
    assert AwsSolutionsChecks(app).validate_scope(stack).violations == []

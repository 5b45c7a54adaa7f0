"""Least privilege: narrow actions, resource * only where AWS allows nothing narrower, PassRole on one role."""

from __future__ import annotations

from typing import Any

import pytest

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

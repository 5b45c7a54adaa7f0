"""Backfill and the scheduler in the template: the batch function, the role S3 Batch Operations assumes, the tick."""

from __future__ import annotations

import json

import pytest

from functions.common.backfill import MANIFEST_PREFIX, REPORT_PREFIX
from functions.common.messages import fill_slots_message
from functions.common.settings import BackfillSettings
from tests.infra.synth import Synth, as_list, render

pytestmark = pytest.mark.slow


def _batch_role(synth: Synth) -> tuple[str, dict[str, object]]:
    role_arn = synth.json["Outputs"]["BatchOperationsRoleArn"]["Value"]
    role_id = role_arn["Fn::GetAtt"][0]
    return role_id, synth.resources_json[role_id]


def test_s3_batch_operations_assumes_the_role_for_this_account_only(dev: Synth) -> None:
    # Given the role the BatchOperationsRoleArn output names
    _, role = _batch_role(dev)
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    # Then only S3 Batch Operations acting for this account may assume it
    assert statement["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_batch_role_reads_manifests_writes_reports_and_invokes_the_batch_function_only(dev: Synth) -> None:
    # Given the batch role's statements
    role_id, _ = _batch_role(dev)
    granted = {
        (action, render(resource))
        for statement in dev.role_policy_statements(role_id)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    lake = dev.output_ref("AnalyticsBucketName")
    function_id, _ = dev.function("queue_backfill")
    # Then it holds exactly what a LambdaInvoke job with a CSV manifest and a report needs (the analytics bucket is
    # not versioned, so a manifest is never read as a named version)
    assert granted == {
        ("s3:GetObject", f"<{lake}.Arn>/{MANIFEST_PREFIX}*"),
        ("s3:PutObject", f"<{lake}.Arn>/{REPORT_PREFIX}/*"),
        ("s3:GetBucketLocation", f"<{lake}.Arn>"),
        ("lambda:InvokeFunction", f"<{function_id}.Arn>"),
    }


def test_outputs_give_the_cli_the_function_role_and_price(prod: Synth) -> None:
    # Given prod's outputs / Then the CLI finds the function, the role and the configured price
    outputs = prod.json["Outputs"]
    function_id, _ = prod.function("queue_backfill")
    assert outputs["BackfillFunctionArn"]["Value"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert outputs["RekognitionPricePerMinute"]["Value"] == "0.08"
    # And what the functions moderate, which a deployed function's environment would not tell the CLI
    assert json.loads(outputs["ModerationRules"]["Value"]) == {
        "video_suffixes": ["mp4", "mov", "m4v"],
        "key_prefix": prod.config.key_prefix,
        "max_video_minutes": 90,
    }


def test_the_batch_function_screens_with_the_stacks_suffixes_prefix_and_policy(prod: Synth) -> None:
    # Given the batch function's environment in prod
    _, function = prod.function("queue_backfill")
    variables = function["Properties"]["Environment"]["Variables"]
    settings = BackfillSettings.from_env({k: render(v) for k, v in variables.items()})
    # Then it applies the same suffixes, prefix and duration policy as start_moderation, to the media bucket
    assert settings.video_suffixes == prod.config.video_suffixes
    assert settings.key_prefix == prod.config.key_prefix
    assert settings.max_video_seconds == 90 * 60
    assert settings.media_bucket == f"<{prod.output_ref('MediaBucketName')}>"


def test_a_tick_every_minute_sends_the_fill_message_to_the_start_queue(dev: Synth) -> None:
    # Given the schedule rules
    (rule,) = [
        r["Properties"] for r in dev.resources("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]
    ]
    (target,) = rule["Targets"]
    # Then one runs every minute and puts exactly the fill message on the start queue
    assert rule["ScheduleExpression"] == "rate(1 minute)" and rule["State"] == "ENABLED"
    assert target["Arn"] == {"Fn::GetAtt": [dev.output_ref("StartQueueUrl"), "Arn"]}
    assert json.loads(target["Input"]) == fill_slots_message()

"""The review API: review_api behind an AWS_IAM function URL, its exact grants, the review queue index, its outputs."""

from __future__ import annotations

from typing import Any

import pytest

from functions.common import table_design
from functions.common.settings import ReviewSettings
from tests.infra.synth import Synth, as_list, render

pytestmark = pytest.mark.slow


def _review(synth: Synth) -> tuple[str, dict[str, Any]]:
    return synth.function("review_api")


def _grants(synth: Synth) -> set[tuple[str, str]]:
    role_id = _review(synth)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    return {
        (action, render(resource))
        for statement in synth.role_policy_statements(role_id)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_the_function_url_requires_iam_auth_and_allows_no_one_by_resource_policy(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given review_api and the function URLs of the stack (always built: the review API is not opt-in)
    synth: Synth = request.getfixturevalue(synth_name)
    function_id, _ = _review(synth)
    (url,) = synth.resources("AWS::Lambda::Url").values()
    # Then its one URL points at the function, signs in with IAM (SigV4) and has no CORS (server-to-server calls)
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert "Cors" not in url["Properties"]
    # And no resource policy opens the URL: who may call it is decided by the callers' identity policies
    # (lambda:InvokeFunctionUrl), so no Lambda permission names the function for a URL
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] in ({"Ref": function_id}, {"Fn::GetAtt": [function_id, "Arn"]})
    ]
    assert permissions == []


def test_the_outputs_name_the_url_and_the_function(dev: Synth) -> None:
    # Given the stack outputs / Then ReviewApiUrl is the URL's address and ReviewApiFunctionName the function's name
    function_id, _ = _review(dev)
    (url_id,) = dev.resources("AWS::Lambda::Url")
    assert dev.json["Outputs"]["ReviewApiUrl"]["Value"] == {"Fn::GetAtt": [url_id, "FunctionUrl"]}
    assert dev.json["Outputs"]["ReviewApiFunctionName"]["Value"] == {"Ref": function_id}


def test_the_environment_names_the_table_and_the_lake(dev: Synth) -> None:
    # Given review_api's environment, read as the function reads it
    environment = _review(dev)[1]["Properties"]["Environment"]["Variables"]
    settings = ReviewSettings.from_env({key: render(value) for key, value in environment.items()})
    # Then it uses the stack's videos table and analytics bucket, and quarantine is off (cdk.json's default)
    assert settings.videos_table == f"<{dev.output_ref('VideosTableName')}>"
    assert settings.analytics_bucket == f"<{dev.output_ref('AnalyticsBucketName')}>"
    assert not settings.quarantine.tags and "QUARANTINE" not in environment


def test_review_api_writes_only_verdict_objects_and_reads_nothing_else_of_the_buckets(dev: Synth) -> None:
    # Given review_api's grants
    grants = _grants(dev)
    lake = f"<{dev.output_ref('AnalyticsBucketName')}.Arn>"
    # Then its only S3 grant is PutObject under moderation_verdicts/ in the lake (no read, no delete, no media)
    assert {(a, r) for a, r in grants if a.startswith("s3:")} == {("s3:PutObject", f"{lake}/moderation_verdicts/*")}
    # And beyond the table and its own logs and traces it may do nothing (no queue, topic, bus, Rekognition, KMS)
    services = {a.split(":")[0] for a, _ in grants}
    assert services == {"dynamodb", "s3", "logs", "xray"}


def test_the_review_queue_index_is_sparse_and_ordered_by_flag_time(dev: Synth) -> None:
    # Given the videos table's indexes
    (table,) = dev.resources("AWS::DynamoDB::Table").values()
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    # Then review_queue has the review lane as partition key and the completion (flag) time as sort key, all projected
    index = indexes[table_design.REVIEW_QUEUE.name]
    assert index["KeySchema"] == [
        {"AttributeName": "review_lane", "KeyType": "HASH"},
        {"AttributeName": "completed_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    attributes = {a["AttributeName"]: a["AttributeType"] for a in table["Properties"]["AttributeDefinitions"]}
    assert (attributes["review_lane"], attributes["completed_at"]) == ("S", "S")


def test_the_verdicts_glue_table_is_in_the_catalog_with_dt_projection(dev: Synth) -> None:
    # Given the Glue tables / Then moderation_verdicts is one, partitioned by dt with projection (not opt-in)
    (table,) = [
        t["Properties"]["TableInput"]
        for t in dev.resources("AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == "moderation_verdicts"
    ]
    assert [key["Name"] for key in table["PartitionKeys"]] == ["dt"]
    assert table["Parameters"]["projection.enabled"] == "true"
    assert render(table["Parameters"]["storage.location.template"]).endswith("/moderation_verdicts/dt=${dt}/")


def test_review_api_errors_are_alarmed_like_every_function(dev: Synth) -> None:
    # Given the alarms on Lambda errors / Then one watches review_api
    function_id, _ = _review(dev)
    watched = [
        alarm
        for alarm in dev.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "Errors"
        and {"Name": "FunctionName", "Value": {"Ref": function_id}} in alarm["Properties"].get("Dimensions", [])
    ]
    assert len(watched) == 1


def test_with_quarantine_an_overturned_verdict_may_tag_media_versions(quarantine: Synth) -> None:
    # Given the stack with quarantine deny
    grants = _grants(quarantine)
    environment = _review(quarantine)[1]["Properties"]["Environment"]["Variables"]
    media = f"<{quarantine.output_ref('MediaBucketName')}.Arn>"
    # Then review_api knows the mode and may read and write the tags of media versions (not their content)
    assert ReviewSettings.from_env({k: render(v) for k, v in environment.items()}).quarantine.tags
    assert {(a, r) for a, r in grants if r.startswith(media)} == {
        (action, f"{media}/*")
        for action in (
            "s3:GetObjectTagging",
            "s3:GetObjectVersionTagging",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
        )
    }

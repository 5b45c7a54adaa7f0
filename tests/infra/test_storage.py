"""Buckets and the videos table: secure by default, shaped by table_design, kept or destroyed per stage."""

from __future__ import annotations

from typing import Any

import pytest

from functions.common import table_design
from tests.infra.synth import Synth, render

pytestmark = pytest.mark.slow

DATA_RESOURCE_TYPES = ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::KMS::Key")


def _table(synth: Synth) -> dict[str, Any]:
    return synth.resources_json[synth.output_ref("VideosTableName")]


def test_table_keys_and_indexes_equal_table_design(dev: Synth) -> None:
    # Given the videos table
    properties = _table(dev)["Properties"]
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    # Then its primary key is pk/sk (strings)
    assert properties["KeySchema"] == [
        {"AttributeName": table_design.PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": table_design.SORT_KEY, "KeyType": "RANGE"},
    ]
    assert (types[table_design.PARTITION_KEY], types[table_design.SORT_KEY]) == ("S", "S")
    # And it has exactly one GSI per IndexDesign: string partition key, typed sort key, all attributes projected
    indexes = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
    assert list(indexes) == [design.name for design in table_design.INDEXES]
    for design in table_design.INDEXES:
        index = indexes[design.name]
        expected = [{"AttributeName": design.partition_key, "KeyType": "HASH"}]
        assert types[design.partition_key] == "S"
        if design.sort_key:
            expected.append({"AttributeName": design.sort_key[0], "KeyType": "RANGE"})
            assert types[design.sort_key[0]] == design.sort_key[1]
        assert index["KeySchema"] == expected
        assert index["Projection"] == {"ProjectionType": "ALL"}


def test_table_is_on_demand_with_point_in_time_recovery(dev: Synth) -> None:
    # Given the videos table / Then it bills per request and can be restored to any point in time
    properties = _table(dev)["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_dev_destroys_its_data_with_the_stack(dev: Synth) -> None:
    # Given the dev stage
    # Then every bucket, the table, log groups and keys are deleted, buckets are emptied first,
    # and the table is not deletion-protected
    for resource_type in DATA_RESOURCE_TYPES:
        for logical_id, resource in dev.resources(resource_type).items():
            assert resource["DeletionPolicy"] == "Delete", logical_id
    emptied = {r["Properties"]["BucketName"]["Ref"] for r in dev.resources("Custom::S3AutoDeleteObjects").values()}
    assert emptied == set(dev.resources("AWS::S3::Bucket"))
    assert _table(dev)["Properties"]["DeletionProtectionEnabled"] is False


def test_other_stages_retain_their_data(prod: Synth) -> None:
    # Given the prod stage
    # Then every bucket, the table, log groups and keys survive stack deletion, nothing empties buckets,
    # and the table is deletion-protected
    for resource_type in DATA_RESOURCE_TYPES:
        for logical_id, resource in prod.resources(resource_type).items():
            assert resource["DeletionPolicy"] == "Retain", logical_id
            assert resource["UpdateReplacePolicy"] == "Retain", logical_id
    assert prod.resources("Custom::S3AutoDeleteObjects") == {}
    assert _table(prod)["Properties"]["DeletionProtectionEnabled"] is True


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_every_bucket_is_encrypted_private_and_tls_only(synth_name: str, request: pytest.FixtureRequest) -> None:
    # Given every bucket and bucket policy
    synth: Synth = request.getfixturevalue(synth_name)
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::S3::BucketPolicy").values()
    }
    buckets = synth.resources("AWS::S3::Bucket")
    assert len(buckets) == 4  # access logs, media, analytics, Athena results
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        # Then SSE-S3 is on, all public access is blocked, and non-TLS requests are denied
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policies[logical_id]
        )


def test_media_bucket_is_versioned_sends_events_and_logs_access(dev: Synth) -> None:
    # Given the media bucket
    media = dev.output_ref("MediaBucketName")
    properties = dev.resources_json[media]["Properties"]
    (notifications,) = dev.resources("Custom::S3BucketNotifications").values()
    # Then it keeps versions, notifies EventBridge, and logs access under media/
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert notifications["Properties"]["BucketName"] == {"Ref": media}
    assert notifications["Properties"]["NotificationConfiguration"] == {"EventBridgeConfiguration": {}}
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "media/"


def test_analytics_bucket_expires_staging_and_logs_access(dev: Synth) -> None:
    # Given the analytics bucket
    properties = dev.resources_json[dev.output_ref("AnalyticsBucketName")]["Properties"]
    # Then staged objects expire after 7 days (table prefixes never expire) and access is logged under analytics/
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert (rule["Prefix"], rule["ExpirationInDays"], rule["Status"]) == ("_staging/", 7, "Enabled")
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "analytics/"


@pytest.mark.parametrize(("synth_name", "days"), [("dev", 30), ("prod", 7)])
def test_athena_results_bucket_expires_results_and_logs_access(
    synth_name: str, days: int, request: pytest.FixtureRequest
) -> None:
    # Given the Athena results bucket of dev (cdk.json's 30 days) and prod (7 days)
    synth: Synth = request.getfixturevalue(synth_name)
    properties = synth.resources_json[synth.output_ref("AthenaResultsBucketName")]["Properties"]
    # Then every result expires after athena_results_retention_days, unfinished uploads after a day,
    # and access is logged under athena-results/
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert "Prefix" not in rule
    assert (rule["ExpirationInDays"], rule["Status"]) == (days, "Enabled")
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert properties["LoggingConfiguration"]["LogFilePrefix"] == "athena-results/"


def test_access_log_bucket_accepts_only_s3_log_delivery_and_expires_logs(dev: Synth) -> None:
    # Given the bucket the data and Athena results buckets log to
    log_buckets = {
        b["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
        for b in dev.resources("AWS::S3::Bucket").values()
        if "LoggingConfiguration" in b["Properties"]
    }
    (log_bucket,) = log_buckets
    properties = dev.resources_json[log_bucket]["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in dev.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": log_bucket}
    ]
    delivery = [s for s in policy if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}]
    # Then ACLs are off, S3 log delivery may write only under each source's prefix, and logs expire after 90 days
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert sorted(render(s["Resource"]) for s in delivery) == [
        f"<{log_bucket}.Arn>/analytics/*",
        f"<{log_bucket}.Arn>/athena-results/*",
        f"<{log_bucket}.Arn>/media/*",
    ]
    assert all(s["Action"] == "s3:PutObject" for s in delivery)
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90


def test_outputs_name_what_operators_need(dev: Synth) -> None:
    # Given the stack outputs / Then each documented output exists
    assert set(dev.json["Outputs"]) == {
        "MediaBucketName",
        "AnalyticsBucketName",
        "VideosTableName",
        "GlueDatabaseName",
        "StartQueueUrl",
        "CollectQueueUrl",
        "RekognitionTopicArn",
        "OpsTopicArn",
        "AthenaWorkGroupName",
        "AthenaResultsBucketName",
        "DigestTopicArn",
        "DigestFunctionName",
        "DashboardName",
        "BackfillFunctionArn",
        "BatchOperationsRoleArn",
        "ReviewApiUrl",
        "ReviewApiFunctionName",
        "RekognitionPricePerMinute",
        "ModerationRules",
    }

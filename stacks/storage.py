"""Where videos land and where results are kept: S3 buckets and the DynamoDB table."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.common import table_design
from glue.schema import STAGING_PREFIX
from stacks.config import PipelineConfig

STAGING_EXPIRY = Duration.days(7)
ACCESS_LOG_EXPIRY = Duration.days(90)
BASIC_EXECUTION_POLICY = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


class Storage(Construct):
    """The media (input), analytics (Parquet lake) and Athena results buckets, their access logs, the videos table."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.access_log_bucket = self._bucket(
            "AccessLogBucket",
            # Log delivery writes through a bucket policy (feature flag serverAccessLogsUseBucketPolicy),
            # so ACLs stay disabled.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=ACCESS_LOG_EXPIRY)],
        )
        # cdk-nag 3 already treats a log destination bucket as compliant with S1; the acknowledgment keeps the
        # reason on record should that rule change.
        Validations.of(self.access_log_bucket).acknowledge(
            Acknowledgment(id="AwsSolutions-S1", reason="this bucket receives the access logs")
        )
        self.media_bucket = self._bucket(
            "MediaBucket",
            versioned=True,  # the version id makes each upload a distinct video and a stable job token
            event_bridge_enabled=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="media/",
        )
        self.analytics_bucket = self._bucket(
            "AnalyticsBucket",
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="analytics/",
            lifecycle_rules=[
                s3.LifecycleRule(id="ExpireStaging", prefix=STAGING_PREFIX, expiration=STAGING_EXPIRY),
            ],
        )
        # Athena writes every query's result here; results are cache, not data, so they expire.
        self.athena_results_bucket = self._bucket(
            "AthenaResultsBucket",
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="athena-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireQueryResults",
                    expiration=Duration.days(config.athena_results_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.videos_table = self._videos_table()
        self._acknowledge_cdk_helpers()

    def _bucket(self, construct_id: str, **props: Any) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=self._config.removal_policy,
            auto_delete_objects=self._config.is_ephemeral,
            **props,
        )

    def _videos_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "VideosTable",
            partition_key=dynamodb.Attribute(name=table_design.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=table_design.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=not self._config.is_ephemeral,
            removal_policy=self._config.removal_policy,
        )
        for index in table_design.INDEXES:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=(
                    dynamodb.Attribute(name=index.sort_key[0], type=_ATTRIBUTE_TYPES[index.sort_key[1]])
                    if index.sort_key
                    else None
                ),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _acknowledge_cdk_helpers(self) -> None:
        """Findings on the stack-wide helper functions CDK adds for bucket features it cannot do in CloudFormation."""
        for helper in Stack.of(self).node.children:
            if helper.node.id.startswith("BucketNotificationsHandler"):
                # CDK's handler that turns on the media bucket's EventBridge notifications.
                Validations.of(helper).acknowledge(
                    Acknowledgment(
                        id=f"AwsSolutions-IAM4[Policy::{BASIC_EXECUTION_POLICY}]",
                        reason="CDK's BucketNotificationsHandler (enables EventBridge notifications on the media "
                        "bucket) uses the basic execution policy; CDK does not expose its role",
                    )
                )

"""Moderating what is already stored: the function S3 Batch Operations invokes per object, and the role it assumes.

`modlake backfill --yes` creates the job (s3control CreateJob) with a CSV manifest it writes under
backfill/manifests/ in the analytics bucket; S3 Batch Operations reads it as `batch_role`, invokes
queue_backfill once per object, and writes its completion report under backfill/reports/.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.common.backfill import MANIFEST_PREFIX, REPORT_PREFIX
from stacks.config import PipelineConfig
from stacks.lambda_factory import LambdaFactory
from stacks.nag import acknowledge, arn_finding, wildcard_resource_finding
from stacks.screening import grant_screening, screening_environment
from stacks.topics import account_service

BACKFILL_FOLDER = "queue_backfill"
BACKFILL_FUNCTION_TIMEOUT = Duration.seconds(60)


class Backfill(Construct):
    """queue_backfill (screens a stored video and lets it wait for a slot) and the S3 Batch Operations role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        lambda_factory: LambdaFactory,
        media_bucket: s3.IBucket,
        analytics_bucket: s3.IBucket,
        videos_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = lambda_factory.function(
            self,
            "QueueBackfill",
            folder=BACKFILL_FOLDER,
            description="modlake: S3 Batch Operations task → a stored video waiting for a Rekognition slot",
            timeout=BACKFILL_FUNCTION_TIMEOUT,
            memory_size=512,
            environment=screening_environment(
                config, media_bucket=media_bucket, analytics_bucket=analytics_bucket, videos_table=videos_table
            ),
        )
        findings = grant_screening(
            self.function,
            media_bucket=media_bucket,
            analytics_bucket=analytics_bucket,
            videos_table=videos_table,
            key_prefix=config.key_prefix,
            media_reads="any stored video the backfill names",
        )
        acknowledge(self.function.role, {**wildcard_resource_finding(), **findings})
        self.batch_role = self._batch_operations_role(analytics_bucket)

    def _batch_operations_role(self, analytics_bucket: s3.IBucket) -> iam.Role:
        """What S3 Batch Operations needs for a LambdaInvoke job: read the manifest, invoke, write the report."""
        role = iam.Role(
            self,
            "BatchOperationsRole",
            description="S3 Batch Operations runs modlake backfill jobs with this role",
            # aws:SourceAccount keeps other accounts' batch jobs from using this role (confused deputy).
            assumed_by=account_service(self, "batchoperations.s3"),
        )
        manifests = analytics_bucket.arn_for_objects(f"{MANIFEST_PREFIX}*")
        reports = analytics_bucket.arn_for_objects(f"{REPORT_PREFIX}/*")
        # The analytics bucket is not versioned: a manifest is read as s3:GetObject, never as a named version.
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[manifests]))
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[reports]))
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=[analytics_bucket.bucket_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
        acknowledge(
            role,
            {
                arn_finding(analytics_bucket, f"/{MANIFEST_PREFIX}*"): (
                    "the CSV manifests `modlake backfill` writes; their names are only known at run time"
                ),
                arn_finding(analytics_bucket, f"/{REPORT_PREFIX}/*"): (
                    "S3 Batch Operations names each completion report after its job id"
                ),
            },
        )
        return role

    @property
    def function_arn(self) -> str:
        """The ARN CreateJob's LambdaInvoke names."""
        return self.function.function_arn

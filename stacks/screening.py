"""What a function that screens videos needs (start_moderation and queue_backfill): one environment, one grant set,
one reason set."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from glue import VIDEOS
from stacks.config import PipelineConfig
from stacks.lambda_factory import settings_environment
from stacks.nag import object_findings
from stacks.storage_access import VIDEO_ITEMS, grant_items, grant_objects

# HeadObject is authorized as s3:GetObject (s3:GetObjectVersion for a named version), like the header's ranged GETs.
MEDIA_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
# screen/not_started read a video's summary (GetItem) and record its outcome with conditional UpdateItems.
SCREENING_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")


def screening_environment(
    config: PipelineConfig, *, media_bucket: s3.IBucket, analytics_bucket: s3.IBucket, videos_table: dynamodb.ITable
) -> dict[str, str]:
    """The settings screening reads (functions/start_moderation/screening.py): where videos and their records are,
    which keys are videos, and the duration policy."""
    return settings_environment(
        videos_table=videos_table.table_name,
        media_bucket=media_bucket.bucket_name,
        analytics_bucket=analytics_bucket.bucket_name,
        video_suffixes=config.video_suffixes,
        key_prefix=config.key_prefix,
        max_video_minutes=config.max_video_minutes,
    )


def grant_screening(
    function: lambda_.IFunction,
    *,
    media_bucket: s3.IBucket,
    analytics_bucket: s3.IBucket,
    videos_table: dynamodb.ITable,
    key_prefix: str,
    media_reads: str,
) -> dict[str, str]:
    """Read any media object version under the key prefix (HeadObject, the header's ranged GETs), record outcomes on
    the videos' items of the table and write the rows of videos skipped before a job; returns the cdk-nag findings."""
    grant_items(function, videos_table, SCREENING_ITEM_ACTIONS, [VIDEO_ITEMS])
    media_objects = f"{key_prefix}*"
    grant_objects(function, media_bucket, MEDIA_READ_ACTIONS, [media_objects])
    # Nothing lists the bucket, but S3 answers a HeadObject of a missing object with 404 (screening: "no longer
    # exists") only to a caller allowed s3:ListBucket; to any other it answers 403, which would fail the message.
    function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[media_bucket.bucket_arn]))
    grant_objects(function, analytics_bucket, ["s3:PutObject"], [f"{VIDEOS.prefix}*"])
    return {
        **object_findings(media_bucket, {media_objects: media_reads}),
        **object_findings(analytics_bucket, {f"{VIDEOS.prefix}*": "rows of videos skipped before a job"}),
    }

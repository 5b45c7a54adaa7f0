"""What a function that screens videos needs (start_moderation and queue_backfill): one grant set, one reason set."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from glue import VIDEOS
from stacks.nag import S3_READ_ACTIONS, bucket_findings, table_index_finding


def grant_screening(
    function: lambda_.IFunction,
    *,
    media_bucket: s3.IBucket,
    analytics_bucket: s3.IBucket,
    videos_table: dynamodb.ITable,
    media_reads: str,
) -> dict[str, str]:
    """Read any media object version (HeadObject, the header's ranged GETs), record outcomes in the videos table
    and write the rows of videos skipped before a job; returns the cdk-nag findings these grants bring."""
    videos_table.grant_read_write_data(function)
    media_bucket.grant_read(function)
    analytics_bucket.grant_put(function, f"{VIDEOS.prefix}*")
    return {
        **table_index_finding(videos_table),
        **bucket_findings(media_bucket, {"*": media_reads}, S3_READ_ACTIONS),
        **bucket_findings(
            analytics_bucket, {f"{VIDEOS.prefix}*": "rows of videos skipped before a job"}, ["s3:Abort*"]
        ),
    }

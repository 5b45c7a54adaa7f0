"""Quarantine (context `quarantine`): the moderation outcome as a tag on each object version, and with `deny` a media
bucket policy that refuses reads of versions tagged flagged to everyone but the pipeline and the exempt principals.

The functions that decide outcomes write the tag (functions/common/quarantine.py): start_moderation and
queue_backfill for videos skipped or failed before a job, collect_results for flagged, clean and failed jobs. With
quarantine off this construct is not created, so the template is exactly the one without the feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.common.quarantine import MODERATION_TAG_KEY, ModerationOutcome, QuarantineMode
from stacks.config import PipelineConfig
from stacks.lambda_factory import settings_environment
from stacks.nag import acknowledge, object_findings
from stacks.storage_access import grant_objects

# GetObjectTagging first (the other tags are kept: PutObjectTagging replaces the whole set), then PutObjectTagging;
# each names the exact version (the *Version* actions), the unversioned pair covers an object without a version id.
TAGGING_ACTIONS = (
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
)
# Every read of a version's content that S3 authorizes with s3:ExistingObjectTag: GetObject and HeadObject (and the
# source of a CopyObject, S3 Select, ranged and presigned GETs) as s3:GetObject or s3:GetObjectVersion, and BitTorrent.
QUARANTINED_READS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersionTorrent",
)
FLAGGED_TAG_CONDITION = f"s3:ExistingObjectTag/{MODERATION_TAG_KEY}"
DENY_SID = "DenyReadingFlaggedVersions"


class Quarantine(Construct):
    """Tags every outcome on its object version (tag, deny); with deny the media bucket refuses reads of flagged
    versions to all principals but `readers` (the pipeline's media readers) and quarantine_exempt_principals."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        media_bucket: s3.IBucket,
        taggers: Mapping[str, lambda_.Function],
        readers: Sequence[lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        mode = config.quarantine_mode
        if not mode.tags:
            raise ValueError("Quarantine is built only when the quarantine context is tag or deny")
        media_objects = f"{config.key_prefix}*"
        for name, function in taggers.items():
            for key, value in settings_environment(quarantine=mode.value).items():
                function.add_environment(key, value)
            grant_objects(function, media_bucket, TAGGING_ACTIONS, [media_objects])
            acknowledge(
                function.role,
                object_findings(media_bucket, {media_objects: f"the videos whose outcomes {name} tags"}),
            )
        self.deny_statement = self._deny_reads(config, media_bucket, readers) if mode is QuarantineMode.DENY else None

    def _deny_reads(
        self, config: PipelineConfig, media_bucket: s3.IBucket, readers: Sequence[lambda_.IFunction]
    ) -> iam.PolicyStatement:
        """The bucket policy statement: no principal reads a version tagged flagged unless it is a pipeline reader
        (start_moderation, which Rekognition reads the video as, and queue_backfill) or an exempt principal."""
        roles = [function.role for function in readers]
        if None in roles:
            raise ValueError("every pipeline reader of the media bucket needs a role to exempt")
        statement = iam.PolicyStatement(
            sid=DENY_SID,
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(QUARANTINED_READS),
            resources=[media_bucket.arn_for_objects("*")],
            conditions={
                "StringEquals": {FLAGGED_TAG_CONDITION: ModerationOutcome.FLAGGED.value},
                # A Lambda function's session carries its role's ARN as aws:PrincipalArn.
                "ArnNotLike": {
                    "aws:PrincipalArn": [*(r.role_arn for r in roles if r), *config.quarantine_exempt_principals]
                },
            },
        )
        result = media_bucket.add_to_resource_policy(statement)
        if not result.statement_added:
            raise ValueError(f"{media_bucket.node.path} has no bucket policy to add the quarantine statement to")
        return statement

"""The modlake stack: wires the capability constructs together and exports what operators need."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.alerts import Alerts
from stacks.analytics import Analytics
from stacks.backfill import Backfill
from stacks.config import PipelineConfig
from stacks.digest import Digest
from stacks.ingest import Ingest
from stacks.lambda_factory import LambdaFactory
from stacks.moderation import START_FUNCTION_TIMEOUT, Moderation
from stacks.monitoring import Monitoring
from stacks.quarantine import Quarantine
from stacks.review import Review
from stacks.storage import Storage


class PipelineStack(Stack):
    """Composes storage, ingest, moderation, backfill, analytics, digest, review, alerts and quarantine (when
    configured) and monitoring; creates no resources itself."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=f"modlake {config.stage}: video moderation", **kwargs)
        storage = Storage(self, "Storage", config=config)
        ingest = Ingest(
            self, "Ingest", config=config, media_bucket=storage.media_bucket, consumer_timeout=START_FUNCTION_TIMEOUT
        )
        lambda_factory = LambdaFactory(self, "LambdaFactory", config=config)
        moderation = Moderation(
            self,
            "Moderation",
            config=config,
            lambda_factory=lambda_factory,
            media_bucket=storage.media_bucket,
            analytics_bucket=storage.analytics_bucket,
            videos_table=storage.videos_table,
            start_queue=ingest.start_queue,
        )
        backfill = Backfill(
            self,
            "Backfill",
            config=config,
            lambda_factory=lambda_factory,
            media_bucket=storage.media_bucket,
            analytics_bucket=storage.analytics_bucket,
            videos_table=storage.videos_table,
        )
        analytics = Analytics(
            self,
            "Analytics",
            config=config,
            analytics_bucket=storage.analytics_bucket,
            results_bucket=storage.athena_results_bucket,
        )
        digest = Digest(
            self,
            "Digest",
            config=config,
            lambda_factory=lambda_factory,
            videos_table=storage.videos_table,
            analytics_bucket=storage.analytics_bucket,
            athena_results_bucket=storage.athena_results_bucket,
            glue_database=analytics.database_name,
            glue_tables=[*analytics.tables, *analytics.views],
            athena_workgroup=analytics.workgroup.ref,
            athena_workgroup_arn=analytics.workgroup_arn,
        )
        review = Review(
            self,
            "Review",
            lambda_factory=lambda_factory,
            analytics_bucket=storage.analytics_bucket,
            videos_table=storage.videos_table,
        )
        alerts = Alerts(self, "Alerts", config=config) if config.alerts_enabled else None
        if config.quarantine_mode.tags:
            Quarantine(
                self,
                "Quarantine",
                config=config,
                media_bucket=storage.media_bucket,
                taggers={
                    "start_moderation": moderation.start_function,
                    "collect_results": moderation.collect_function,
                    "queue_backfill": backfill.function,
                    "review_api": review.function,  # an overturned verdict tags the version clean
                },
                readers=[moderation.start_function, backfill.function],
            )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            dead_letter_queues={
                **ingest.dead_letter_queues,
                **moderation.dead_letter_queues,
                **digest.dead_letter_queues,
                **(alerts.dead_letter_queues if alerts else {}),
            },
            functions={
                **moderation.functions,
                "QueueBackfill": backfill.function,
                **digest.functions,
                "ReviewApi": review.function,
            },
            start_queue=ingest.start_queue,
            collect_queue=moderation.collect_queue,
            athena_workgroup=analytics.workgroup_name,
        )
        outputs = {
            "MediaBucketName": storage.media_bucket.bucket_name,
            "AnalyticsBucketName": storage.analytics_bucket.bucket_name,
            "VideosTableName": storage.videos_table.table_name,
            "GlueDatabaseName": analytics.database_name,
            "StartQueueUrl": ingest.start_queue.queue_url,
            "CollectQueueUrl": moderation.collect_queue.queue_url,
            "RekognitionTopicArn": moderation.completion_topic.topic_arn,
            "OpsTopicArn": monitoring.ops_topic.topic_arn,
            "AthenaWorkGroupName": analytics.workgroup.ref,
            "AthenaResultsBucketName": storage.athena_results_bucket.bucket_name,
            "DigestTopicArn": digest.topic.topic_arn,
            "DigestFunctionName": digest.function.function_name,
            "DashboardName": monitoring.dashboard.dashboard_name,
            "BackfillFunctionArn": backfill.function_arn,
            "BatchOperationsRoleArn": backfill.batch_role.role_arn,
            "ReviewApiUrl": review.url.url,
            "ReviewApiFunctionName": review.function.function_name,
            "RekognitionPricePerMinute": f"{config.rekognition_price_per_minute:g}",
            # What the functions moderate, for the CLI (a deployed function's environment is not readable to it).
            "ModerationRules": json.dumps(
                {
                    "video_suffixes": list(config.video_suffixes),
                    "key_prefix": config.key_prefix,
                    "max_video_minutes": config.max_video_minutes,
                },
                separators=(",", ":"),
            ),
        }
        if alerts:
            outputs["AlertsTopicArn"] = alerts.topic.topic_arn
        if analytics.quicksight_dashboard_url:
            outputs["QuickSightDashboardUrl"] = analytics.quicksight_dashboard_url
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

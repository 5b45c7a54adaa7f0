"""Rekognition Video jobs: the functions that start them and collect their results, and the completion topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.common import table_design
from functions.common.messages import fill_slots_message
from glue import LABELS, VIDEOS
from glue.schema import STAGING_PREFIX
from stacks.config import PipelineConfig
from stacks.lambda_factory import LambdaFactory, queue_visibility_timeout, settings_environment
from stacks.nag import acknowledge, object_findings, wildcard_resource_finding
from stacks.queues import secure_queue
from stacks.screening import grant_screening, screening_environment
from stacks.storage_access import (
    VIDEO_ITEMS,
    grant_index_queries,
    grant_items,
    grant_objects,
    grant_publish,
    grant_send,
)
from stacks.topics import account_service, encrypted_topic

START_FUNCTION_TIMEOUT = Duration.seconds(60)
TICK_PERIOD = Duration.minutes(1)  # EventBridge's shortest rate: a slot freed elsewhere is found within a minute
COLLECT_FUNCTION_TIMEOUT = Duration.minutes(15)
# Five receives: a completion that arrives before its job is recorded (UnknownJob) spends one, and under a sustained
# 40 % fault rate the sandbox saw a message fail twice in a row; with three, about 1 % of such jobs would dead-letter.
COLLECT_MAX_RECEIVE_COUNT = 5
# Neither API supports resource-level permissions, so their statements must use resource "*".
START_JOB_ACTION = "rekognition:StartContentModeration"
GET_RESULTS_ACTION = "rekognition:GetContentModeration"
START_FOLDER = "start_moderation"
COLLECT_FOLDER = "collect_results"
REKOGNITION_SERVICE = "rekognition.amazonaws.com"
# The indexes each function queries (functions/common/adapters/dynamodb.py): start_moderation counts running jobs
# (by_status), takes waiting videos (waiting) and finds a deleted object's versions (by_object); collect_results finds
# a job's video (by_job) and the waiting video a finished job frees a slot for (waiting).
START_INDEXES = (table_design.BY_STATUS, table_design.WAITING, table_design.BY_OBJECT)
COLLECT_INDEXES = (table_design.BY_JOB, table_design.WAITING)
# collect_results reads a video's summary, writes its label chunks (BatchWriteItem) and settles it (UpdateItem).
COLLECT_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem")


class Moderation(Construct):
    """start_moderation → Rekognition → SNS completion topic → collect queue → collect_results."""

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
        start_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._factory = lambda_factory
        self._create_completion_channel()
        self._create_collect_queue()
        self.start_function = self._start_function(media_bucket, analytics_bucket, videos_table, start_queue)
        self.tick_rule = self._scheduler_tick(start_queue)
        self.collect_function = self._collect_function(analytics_bucket, videos_table, start_queue)
        self.functions: dict[str, lambda_.IFunction] = {
            "StartModeration": self.start_function,
            "CollectResults": self.collect_function,
        }
        self.dead_letter_queues: dict[str, sqs.IQueue] = {
            "CollectDeadLetterQueue": self.collect_dead_letter_queue,
            "CompletionDeliveryDeadLetterQueue": self.completion_delivery_dead_letter_queue,
        }

    def _create_completion_channel(self) -> None:
        """The SNS topic Rekognition publishes job completions to, and the role it publishes with."""
        self.completion_topic = encrypted_topic(
            self,
            "CompletionTopic",
            purpose="Rekognition job completion messages",
            display_name="modlake Rekognition job completions",
            removal_policy=self._config.removal_policy,
        )
        self.rekognition_role = iam.Role(
            self,
            "RekognitionRole",
            description="Rekognition Video publishes modlake job completions to the completion topic with this role",
            # aws:SourceAccount keeps other accounts' Rekognition jobs from using this role (confused deputy).
            assumed_by=account_service(self, "rekognition"),
        )
        # sns:Publish on this topic, plus kms:GenerateDataKey and kms:Decrypt on this topic's key.
        grant_publish(self.rekognition_role, self.completion_topic)

    def _create_collect_queue(self) -> None:
        """The collect queue, subscribed to the completion topic with the SNS envelope kept (no raw delivery)."""
        self.collect_dead_letter_queue = secure_queue(self, "CollectDeadLetterQueue")
        self.collect_queue = secure_queue(
            self,
            "CollectQueue",
            visibility_timeout=queue_visibility_timeout(COLLECT_FUNCTION_TIMEOUT),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=COLLECT_MAX_RECEIVE_COUNT, queue=self.collect_dead_letter_queue
            ),
        )
        # Completions SNS could not deliver to the collect queue land here.
        self.completion_delivery_dead_letter_queue = secure_queue(self, "CompletionDeliveryDeadLetterQueue")
        acknowledge(
            self.completion_delivery_dead_letter_queue,
            {"AwsSolutions-SQS3": "this queue is the dead-letter queue of the completion topic's SQS subscription"},
        )
        self.completion_topic.add_subscription(
            subscriptions.SqsSubscription(
                self.collect_queue,
                raw_message_delivery=False,  # collect_results reads the SNS envelope
                dead_letter_queue=self.completion_delivery_dead_letter_queue,
            )
        )

    def _scheduler_tick(self, start_queue: sqs.IQueue) -> events.Rule:
        """Every minute a fill pass gives free slots to waiting videos, including slots other workloads freed."""
        return events.Rule(
            self,
            "SchedulerTick",
            description="modlake: a fill pass every minute gives free Rekognition slots to waiting videos",
            schedule=events.Schedule.rate(TICK_PERIOD),
            targets=[targets.SqsQueue(start_queue, message=events.RuleTargetInput.from_object(fill_slots_message()))],
        )

    def _start_function(
        self,
        media_bucket: s3.IBucket,
        analytics_bucket: s3.IBucket,
        videos_table: dynamodb.ITable,
        start_queue: sqs.IQueue,
    ) -> lambda_.Function:
        config = self._config
        function = self._factory.function(
            self,
            "StartModeration",
            folder=START_FOLDER,
            description="modlake: starts a Rekognition content moderation job per uploaded video",
            timeout=START_FUNCTION_TIMEOUT,
            memory_size=512,
            environment={
                **screening_environment(
                    config, media_bucket=media_bucket, analytics_bucket=analytics_bucket, videos_table=videos_table
                ),
                **settings_environment(
                    start_queue_url=start_queue.queue_url,
                    rekognition_topic_arn=self.completion_topic.topic_arn,
                    rekognition_role_arn=self.rekognition_role.role_arn,
                    min_confidence=config.min_confidence,
                    job_limit=config.rekognition_job_limit,
                ),
            },
        )
        function.add_event_source(
            sources.SqsEventSource(
                start_queue,
                batch_size=10,
                max_batching_window=Duration.seconds(5),
                report_batch_item_failures=True,
                # Caps concurrent starts (Rekognition TPS) without reserved concurrency, which new accounts cannot set.
                max_concurrency=config.start_max_concurrency,
            )
        )
        # Rekognition reads the video with the caller's permissions, so the media grant covers it too.
        findings = grant_screening(
            function,
            media_bucket=media_bucket,
            analytics_bucket=analytics_bucket,
            videos_table=videos_table,
            key_prefix=config.key_prefix,
            media_reads="any uploaded video, which Rekognition reads as the caller",
        )
        grant_index_queries(function, videos_table, START_INDEXES)
        grant_send(function, start_queue)  # re-tries a start refused by TPS throttling
        # No grant exists and StartContentModeration has no resource-level permissions: resource must be "*".
        function.add_to_role_policy(iam.PolicyStatement(actions=[START_JOB_ACTION], resources=["*"]))
        # What grant_pass_role grants, with a condition: the role can be passed to Rekognition only.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.rekognition_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": REKOGNITION_SERVICE}},
            )
        )
        acknowledge(function.role, {**wildcard_resource_finding(START_JOB_ACTION), **findings})
        return function

    def _collect_function(
        self,
        analytics_bucket: s3.IBucket,
        videos_table: dynamodb.ITable,
        start_queue: sqs.IQueue,
    ) -> lambda_.Function:
        config = self._config
        function = self._factory.function(
            self,
            "CollectResults",
            folder=COLLECT_FOLDER,
            description="modlake: stores a finished Rekognition job's labels in DynamoDB and the Parquet lake",
            timeout=COLLECT_FUNCTION_TIMEOUT,
            memory_size=2048,
            environment=settings_environment(
                videos_table=videos_table.table_name,
                analytics_bucket=analytics_bucket.bucket_name,
                start_queue_url=start_queue.queue_url,
                collect_queue_url=self.collect_queue.queue_url,
                event_bus_name=config.event_bus_name,
                event_source=config.event_source,
                aggregate_by=config.aggregate_by,
                flag_threshold=config.flag_threshold,
                category_thresholds=config.category_thresholds,
                ignored_categories=config.ignored_categories,
            ),
        )
        function.add_event_source(
            sources.SqsEventSource(self.collect_queue, batch_size=1, report_batch_item_failures=True)
        )
        grant_items(function, videos_table, COLLECT_ITEM_ACTIONS, [VIDEO_ITEMS])
        grant_index_queries(function, videos_table, COLLECT_INDEXES)
        lake_patterns = {
            f"{VIDEOS.prefix}*": f"Parquet objects of the {VIDEOS.name} table, one per job",
            f"{LABELS.prefix}*": f"Parquet objects of the {LABELS.name} table, one per job",
            f"{STAGING_PREFIX}*": "Parquet parts staged while a long job is collected",
        }
        grant_objects(function, analytics_bucket, ["s3:PutObject"], lake_patterns)
        # It reads back only the parts it staged, and deletes only those (DeleteObjects); history is never deleted.
        grant_objects(function, analytics_bucket, ["s3:GetObject", "s3:DeleteObject"], [f"{STAGING_PREFIX}*"])
        grant_send(function, start_queue)  # a finished job frees a slot: kick a waiting video
        grant_send(function, self.collect_queue)  # continue a long job from its checkpoint
        # No grant exists and GetContentModeration has no resource-level permissions: resource must be "*".
        function.add_to_role_policy(iam.PolicyStatement(actions=[GET_RESULTS_ACTION], resources=["*"]))
        events.EventBus.from_event_bus_name(self, "EventBus", config.event_bus_name).grant_put_events_to(function)
        acknowledge(
            function.role,
            {**wildcard_resource_finding(GET_RESULTS_ACTION), **object_findings(analytics_bucket, lake_patterns)},
        )
        return function

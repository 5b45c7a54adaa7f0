"""The daily digest: EventBridge Scheduler (cron + time zone) → send_digest → Athena → email (SNS; SES for HTML)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from glue import VERDICTS, VIDEOS
from stacks.config import PipelineConfig
from stacks.lambda_factory import LambdaFactory, settings_environment
from stacks.nag import acknowledge, object_findings, wildcard_resource_finding
from stacks.queues import secure_queue
from stacks.storage_access import grant_items, grant_objects, grant_publish, grant_send
from stacks.topics import account_service, encrypted_topic

DIGEST_FOLDER = "send_digest"
DIGEST_FUNCTION_TIMEOUT = Duration.minutes(5)
DIGEST_MEMORY_MB = 512
DIGEST_ARCHIVE_PREFIX = "digests/"
# send_digest keeps its once-per-day records (Powertools idempotency) under this partition key, and may touch
# no other item of the videos table.
DIGEST_PARTITION_KEY = "DIGEST"
# Scheduler invokes the function asynchronously: its retry policy and DLQ cover delivering the invocation
# (throttling, service errors) for up to 2 hours; a run that fails is retried by Lambda's own asynchronous retries,
# which are safe because the digest is sent once per day (idempotency), and every failed run raises the Errors alarm.
SCHEDULE_RETRY_ATTEMPTS = 10
SCHEDULE_MAX_EVENT_AGE = Duration.hours(2)
RUN_RETRY_ATTEMPTS = 2
RUN_MAX_EVENT_AGE = Duration.hours(1)
# The scheduled run asks for the default digest (yesterday in digest_timezone); the handler takes only "date"/"force".
SCHEDULE_INPUT = json.dumps({})

ATHENA_QUERY_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
)
GLUE_DATABASE_ACTIONS = ("glue:GetDatabase",)  # on the catalog and the database
GLUE_TABLE_ACTIONS = ("glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions")  # and the tables
# The tables the digest's queries (queries/digest_*.sql) read; tests/infra/test_digest.py checks the SQL against it.
DIGEST_READS = (VIDEOS, VERDICTS)  # the digest queries read these tables (queries/digest_*.sql)
# Powertools idempotency: a conditional PutItem takes the day, UpdateItem records the result, DeleteItem removes the
# record of a run that raised (so Lambda's retry runs again), GetItem reads an existing record when the failed
# PutItem did not return it.
DIGEST_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# What Athena needs of the caller for the result location (AmazonAthenaFullAccess names the same actions, with
# s3:GetBucketLocation, for aws-athena-query-results-*): it writes the results, reads them back for GetQueryResults,
# and manages its multipart uploads.
RESULTS_BUCKET_ACTIONS = ("s3:ListBucket", "s3:ListBucketMultipartUploads")
RESULTS_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
SES_SEND_ACTION = "ses:SendEmail"


class Digest(Construct):
    """The digest topic and its email subscribers, the send_digest function, and its schedule with a DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        lambda_factory: LambdaFactory,
        videos_table: dynamodb.ITable,
        analytics_bucket: s3.IBucket,
        athena_results_bucket: s3.IBucket,
        glue_database: str,
        glue_tables: Sequence[str],
        athena_workgroup: str,
        athena_workgroup_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.topic = encrypted_topic(
            self,
            "Topic",
            purpose="the daily digest emails",
            display_name="modlake daily digest",
            removal_policy=config.removal_policy,
            emails=config.digest_emails,
        )

        self.function = lambda_factory.function(
            self,
            "SendDigest",
            folder=DIGEST_FOLDER,
            description="modlake: emails the daily digest of moderated and flagged videos",
            timeout=DIGEST_FUNCTION_TIMEOUT,
            memory_size=DIGEST_MEMORY_MB,
            environment=settings_environment(
                stage=config.stage,
                videos_table=videos_table.table_name,
                analytics_bucket=analytics_bucket.bucket_name,
                glue_database=glue_database,
                athena_workgroup=athena_workgroup,
                digest_topic_arn=self.topic.topic_arn,
                digest_emails=config.digest_emails,
                digest_sender=config.digest_sender,
                digest_timezone=config.digest_timezone,
                digest_skip_empty=config.digest_skip_empty,
            ),
        )
        # One DLQ for both ends: invocations Scheduler could not deliver, and runs that failed every retry.
        self.dead_letter_queue = secure_queue(self, "ScheduleDeadLetterQueue")
        acknowledge(
            self.dead_letter_queue,
            {"AwsSolutions-SQS3": "this queue is the dead-letter queue of the digest schedule and its runs"},
        )
        self.function.configure_async_invoke(
            retry_attempts=RUN_RETRY_ATTEMPTS,
            max_event_age=RUN_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        self._findings: dict[str, str] = {}
        self._grant_queries(analytics_bucket, athena_results_bucket, glue_database, glue_tables, athena_workgroup_arn)
        self._grant_delivery(videos_table, analytics_bucket)
        acknowledge(self.function.role, self._findings)
        self._create_schedule()
        self.functions: dict[str, lambda_.IFunction] = {"SendDigest": self.function}
        self.dead_letter_queues: dict[str, sqs.IQueue] = {"DigestScheduleDeadLetterQueue": self.dead_letter_queue}

    def _grant_queries(
        self,
        analytics_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
        database: str,
        tables: Sequence[str],
        workgroup_arn: str,
    ) -> None:
        """Athena runs the digest queries with the caller's permissions: the workgroup, the catalog entries and the
        objects of the tables they read (of the stack's `tables`), nothing else of the lake."""
        function = self.function
        stack = Stack.of(self)
        missing = [spec.name for spec in DIGEST_READS if spec.name not in tables]
        if missing:
            raise ValueError(f"the digest reads {missing}, which the stack's Glue database does not define")
        function.add_to_role_policy(iam.PolicyStatement(actions=list(ATHENA_QUERY_ACTIONS), resources=[workgroup_arn]))
        catalog = [
            stack.format_arn(service="glue", resource="catalog", arn_format=ArnFormat.NO_RESOURCE_NAME),
            stack.format_arn(service="glue", resource="database", resource_name=database),
        ]
        function.add_to_role_policy(iam.PolicyStatement(actions=list(GLUE_DATABASE_ACTIONS), resources=catalog))
        read_tables = [
            stack.format_arn(service="glue", resource="table", resource_name=f"{database}/{spec.name}")
            for spec in DIGEST_READS
        ]
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(GLUE_TABLE_ACTIONS), resources=[*catalog, *read_tables])
        )
        lake_patterns = {
            f"{spec.prefix}*": f"Parquet objects of the {spec.name} table that the digest queries read"
            for spec in DIGEST_READS
        }
        # Athena reads the tables' objects as the caller: it lists each table's (partition's) location, finds the
        # bucket's region and reads the objects; nothing else in the lake.
        grant_objects(function, analytics_bucket, ["s3:GetObject"], lake_patterns)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[analytics_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": list(lake_patterns)}},
            )
        )
        buckets = [analytics_bucket.bucket_arn, results_bucket.bucket_arn]
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetBucketLocation"], resources=buckets))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(RESULTS_BUCKET_ACTIONS), resources=[results_bucket.bucket_arn])
        )
        grant_objects(function, results_bucket, RESULTS_OBJECT_ACTIONS, ["*"])
        self._findings.update(
            {
                **object_findings(analytics_bucket, lake_patterns),
                **object_findings(results_bucket, {"*": "Athena query results, which expire; Athena picks the keys"}),
            }
        )

    def _grant_delivery(self, videos_table: dynamodb.ITable, analytics_bucket: s3.IBucket) -> None:
        """Once-per-day records, the digest archive, the topic, and SES when a sender is configured."""
        function = self.function
        config = self._config
        # No table grant takes a condition: a statement limited to items whose partition key is DIGEST.
        grant_items(function, videos_table, DIGEST_ITEM_ACTIONS, [DIGEST_PARTITION_KEY], exact=True)
        grant_objects(function, analytics_bucket, ["s3:PutObject"], [f"{DIGEST_ARCHIVE_PREFIX}*"])
        grant_publish(function, self.topic)
        if config.digest_sender:
            # No grant exists for SES; the statement names the sender's identity and its domain's identity.
            stack = Stack.of(self)
            domain = config.digest_sender.rsplit("@", 1)[1]
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=[SES_SEND_ACTION],
                    resources=[
                        stack.format_arn(service="ses", resource="identity", resource_name=identity)
                        for identity in dict.fromkeys((config.digest_sender, domain))
                    ],
                )
            )
        self._findings.update(
            {
                **object_findings(
                    analytics_bucket, {f"{DIGEST_ARCHIVE_PREFIX}*": "the archived digests, one folder per day"}
                ),
                **wildcard_resource_finding(),
            }
        )

    def _create_schedule(self) -> None:
        """A daily (or configured) schedule in the digest's time zone that invokes send_digest, with retries and a
        DLQ for invocations Scheduler could not deliver."""
        config = self._config
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description="EventBridge Scheduler invokes modlake's send_digest function with this role",
            # aws:SourceAccount keeps other accounts' schedules from using this role (confused deputy).
            assumed_by=account_service(self, "scheduler"),
        )
        # The schedule invokes the function's unqualified ARN; function.grant_invoke would add every version and
        # alias (<arn>:*), which nothing invokes.
        self.scheduler_role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
        # Scheduler sends undeliverable invocations to the DLQ with the target's role.
        grant_send(self.scheduler_role, self.dead_letter_queue)
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=f"modlake {config.stage}: daily digest ({config.digest_schedule} {config.digest_timezone})",
            schedule_expression=config.digest_schedule_expression,
            schedule_expression_timezone=config.digest_timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn,
                role_arn=self.scheduler_role.role_arn,
                input=SCHEDULE_INPUT,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=SCHEDULE_MAX_EVENT_AGE.to_seconds(),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            ),
        )

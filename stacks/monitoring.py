"""Alarms that tell operators when videos are stuck or failing (by email through an ops topic), and a dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import PipelineConfig
from stacks.digest import DIGEST_FOLDER
from stacks.lambda_factory import business_metric
from stacks.moderation import COLLECT_FOLDER, START_FOLDER
from stacks.topics import account_service, encrypted_topic

ALARM_PERIOD = Duration.minutes(5)
START_QUEUE_MAX_AGE = Duration.hours(1)
DASHBOARD_PERIOD = Duration.minutes(5)
WIDGET_WIDTH = 12  # two graphs per dashboard row (24 columns)


class Monitoring(Construct):
    """An ops topic, one alarm per dead-letter queue, per function and on the start queue's backlog age, and the
    stage's dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        functions: Mapping[str, lambda_.IFunction],
        start_queue: sqs.IQueue,
        collect_queue: sqs.IQueue,
        athena_workgroup: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.ops_topic = encrypted_topic(
            self,
            "OpsTopic",
            purpose="operational alarm notifications",
            display_name="modlake alarms",
            removal_policy=config.removal_policy,
            emails=config.alarm_emails,
        )
        # The topic policy replaces SNS's default one, so CloudWatch needs an explicit grant (topic and key).
        self.ops_topic.grant_publish(account_service(self, "cloudwatch"))
        self._action = actions.SnsAction(self.ops_topic)

        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}Alarm",
                queue.metric_approximate_number_of_messages_visible(
                    period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=1,
                description=f"modlake: messages in {name}: inspect them, fix the cause, then redrive",
            )
        for name, function in functions.items():
            self._alarm(
                f"{name}ErrorsAlarm",
                function.metric_errors(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
                threshold=1,
                description=f"modlake: the {name} function failed",
            )
        self._alarm(
            "StartQueueAgeAlarm",
            start_queue.metric_approximate_age_of_oldest_message(
                period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=START_QUEUE_MAX_AGE.to_seconds(),
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description="modlake: videos have waited over an hour to start (job slots exhausted or starts failing)",
        )
        self.dashboard = self._dashboard(
            config,
            queues={"StartQueue": start_queue, "CollectQueue": collect_queue},
            dead_letter_queues=dead_letter_queues,
            functions=functions,
            athena_workgroup=athena_workgroup,
        )

    def _dashboard(
        self,
        config: PipelineConfig,
        *,
        queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        functions: Mapping[str, lambda_.IFunction],
        athena_workgroup: str,
    ) -> cloudwatch.Dashboard:
        """Throughput, backlog, failures and Athena spend of the stage on one page."""
        period = DASHBOARD_PERIOD

        def graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=metrics, width=WIDGET_WIDTH)

        def visible(queue: sqs.IQueue, name: str) -> cloudwatch.IMetric:
            return queue.metric_approximate_number_of_messages_visible(
                period=period, statistic=cloudwatch.Stats.MAXIMUM, label=name
            )

        # AWS/Athena ProcessedBytes carries QueryState and QueryType dimensions besides WorkGroup: SEARCH sums
        # every combination of this workgroup.
        athena_bytes = cloudwatch.MathExpression(
            expression=(
                'SEARCH(\'{AWS/Athena,QueryState,QueryType,WorkGroup} MetricName="ProcessedBytes" '
                f"WorkGroup=\"{athena_workgroup}\"', 'Sum', {int(period.to_seconds())})"
            ),
            using_metrics={},
            label="bytes scanned",
            period=period,
        )
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"modlake-{config.stage}")
        dashboard.add_widgets(
            graph(
                "Videos moderated and flagged",
                [
                    business_metric(COLLECT_FOLDER, "VideosModerated", period=period),
                    business_metric(COLLECT_FOLDER, "VideosFlagged", period=period),
                ],
            ),
            graph(
                "Failed messages and digests sent",
                [
                    business_metric(START_FOLDER, "MessagesFailed", period=period),
                    business_metric(COLLECT_FOLDER, "MessagesFailed", period=period),
                    business_metric(DIGEST_FOLDER, "DigestsSent", period=period),
                ],
            ),
        )
        dashboard.add_widgets(
            graph("Queue depth", [visible(queue, name) for name, queue in queues.items()]),
            graph("Dead-letter queues", [visible(queue, name) for name, queue in dead_letter_queues.items()]),
        )
        dashboard.add_widgets(
            graph(
                "Lambda errors",
                [
                    function.metric_errors(period=period, statistic=cloudwatch.Stats.SUM, label=name)
                    for name, function in functions.items()
                ],
            ),
            graph(
                "Lambda duration (max)",
                [
                    function.metric_duration(period=period, statistic=cloudwatch.Stats.MAXIMUM, label=name)
                    for name, function in functions.items()
                ],
            ),
        )
        dashboard.add_widgets(graph(f"Athena bytes scanned ({athena_workgroup})", [athena_bytes]))
        return dashboard

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.Metric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> cloudwatch.Alarm:
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        return alarm

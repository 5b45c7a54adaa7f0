"""Real-time alerts: an EventBridge rule picks the flagged "Video Moderated" events worth a person's attention and
sends one message per video to an alerts topic (email, SMS) and, when configured, to a Slack channel (AWS Chatbot)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from functions.common.adapters.messaging import EventBridgePublisher
from stacks.config import PipelineConfig
from stacks.ingest import EVENT_DELIVERY_RETRIES, EVENT_MAX_AGE
from stacks.nag import acknowledge
from stacks.queues import secure_queue
from stacks.topics import account_service, encrypted_topic

# What an alert shows, each a field of the "Video Moderated" detail (functions/collect_results/logic.py:event_detail).
ALERT_FIELDS = {
    "s3_uri": "$.detail.s3_uri",
    "categories": "$.detail.categories",
    "max_confidence": "$.detail.max_confidence",
    "first_flagged": "$.detail.first_flagged",
    "console_url": "$.detail.console_url",
    "job_id": "$.detail.job_id",
}
# Chatbot shows only its own "custom notification" JSON, never plain text (AWS Chatbot user guide, custom-notifs).
CHATBOT_NOTIFICATION_VERSION = "1.0"
# Channel members run no AWS command through Chatbot: the guardrail caps whatever the channel role could do.
CHATBOT_GUARDRAIL_POLICY = "AWSDenyAll"


def alert_pattern(config: PipelineConfig) -> dict[str, Any]:
    """The rule's event pattern: modlake's flagged videos at or above alert_threshold, in alert_categories if set."""
    detail: dict[str, Any] = {
        "flagged": [True],
        "max_confidence": [{"numeric": [">=", config.alert_threshold]}],
    }
    if config.alert_categories:
        # "categories" is the list of the video's flagging categories: EventBridge matches when any one is listed.
        detail["categories"] = list(config.alert_categories)
    return {"source": [config.event_source], "detail-type": [EventBridgePublisher.DETAIL_TYPE], "detail": detail}


def email_template(stage: str) -> str:
    """The plain-text alert for email and SMS; its first line is the summary (SNS targets of EventBridge rules take
    no subject, so email clients show SNS's own subject and this line as the preview)."""
    return "\n".join(
        (
            f"modlake {stage}: flagged video <s3_uri>, max confidence <max_confidence>% at <first_flagged>",
            "",
            "Video: <s3_uri>",
            "Flagged categories: <categories>",
            "Max confidence: <max_confidence>%",
            "First flagged: <first_flagged> into the video",
            "S3 console: <console_url>",
            f"Stage: {stage}",
            "Rekognition job: <job_id>",
        )
    )


def chatbot_template(stage: str) -> dict[str, Any]:
    """The Slack alert as an AWS Chatbot custom notification.

    Values that may hold any character (the object's URI and link) are placed outside quotes, where EventBridge
    inserts them as JSON values (escaped); inside quotes go only the stage, the mm:ss and the confidence.
    """
    return {
        "version": CHATBOT_NOTIFICATION_VERSION,
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": f":rotating_light: modlake {stage}: flagged video, max confidence <max_confidence>% "
            "at <first_flagged>",
            "description": "<s3_uri>",
            "keywords": "<categories>",
            "nextSteps": ["<console_url>"],
        },
        "metadata": {"summary": f"modlake {stage}: flagged video", "additionalContext": {"job_id": "<job_id>"}},
    }


class TemplateInput(events.RuleTargetInput):
    """An InputTransformer with the template exactly as written (RuleTargetInput.from_text would put the whole
    message in JSON quotes, which email and SMS would show)."""

    def __init__(self, template: str, paths: Mapping[str, str]) -> None:
        super().__init__()
        self._template = template
        self._paths = dict(paths)

    def bind(self, rule: IRuleRef) -> events.RuleTargetInputProperties:
        """The template and the JSON paths of its placeholders."""
        return events.RuleTargetInputProperties(input_template=self._template, input_paths_map=self._paths)


class Alerts(Construct):
    """The alert rule on the stage's event bus, the alerts topic (email and SMS subscribers), the optional Slack
    channel, and the dead-letter queue of alerts EventBridge could not deliver."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        stage = config.stage
        self.dead_letter_queue = secure_queue(self, "DeliveryDeadLetterQueue")
        acknowledge(self.dead_letter_queue, {"AwsSolutions-SQS3": "this queue is the dead-letter queue of the alerts"})
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"modlake {stage}: flagged videos at or above {config.alert_threshold:g}% → alerts",
            event_bus=events.EventBus.from_event_bus_name(self, "EventBus", config.event_bus_name),
            event_pattern=self._pattern(config),
        )
        self.topic = self._topic(
            "Topic",
            purpose="the real-time alerts (email, SMS)",
            display_name=f"modlake {stage} alerts",
            config=config,
            emails=config.alert_emails,
            message=TemplateInput(email_template(stage), ALERT_FIELDS),
        )
        self.slack_channel: chatbot.SlackChannelConfiguration | None = None
        if config.slack_alerts:
            slack_topic = self._topic(
                "SlackTopic",
                purpose="the real-time alerts for Slack (AWS Chatbot)",
                display_name=f"modlake {stage} Slack alerts",
                config=config,
                message=events.RuleTargetInput.from_object(_with_fields(chatbot_template(stage))),
            )
            self.slack_channel = self._slack_channel(config, slack_topic)
        self.dead_letter_queues: dict[str, sqs.IQueue] = {"AlertDeliveryDeadLetterQueue": self.dead_letter_queue}

    def _pattern(self, config: PipelineConfig) -> events.EventPattern:
        pattern = alert_pattern(config)
        return events.EventPattern(
            source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
        )

    def _topic(
        self,
        construct_id: str,
        *,
        purpose: str,
        display_name: str,
        config: PipelineConfig,
        message: events.RuleTargetInput,
        emails: tuple[str, ...] = (),
    ) -> sns.Topic:
        """An encrypted topic the rule publishes to, with retries and the DLQ; only this rule may publish to it."""
        topic = encrypted_topic(
            self,
            construct_id,
            purpose=purpose,
            display_name=display_name,
            removal_policy=config.removal_policy,
            emails=emails,
        )
        # SNS asks KMS for the data key with the publisher's credentials: EventBridge must be allowed to use the key.
        # The key cannot name the rule (the rule names the topic, which names the key), so it names the account.
        key = topic.master_key
        if key is None:
            raise ValueError(f"{topic.node.path} has no KMS key")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[account_service(self, "events")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[
                    iam.ServicePrincipal(
                        "events.amazonaws.com",
                        conditions={
                            "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                            "ArnEquals": {"aws:SourceArn": self.rule.rule_arn},
                        },
                    )
                ],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
            )
        )
        # targets.SnsTopic would allow events.amazonaws.com on the topic and its key without any condition (a
        # confused deputy); given the topic by ARN it adds nothing, and the statements above are the grant.
        self.rule.add_target(
            targets.SnsTopic(
                sns.Topic.from_topic_arn(self, f"{construct_id}Target", topic.topic_arn),
                message=message,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=EVENT_DELIVERY_RETRIES,
                max_event_age=EVENT_MAX_AGE,
            )
        )
        return topic

    def _slack_channel(self, config: PipelineConfig, topic: sns.ITopic) -> chatbot.SlackChannelConfiguration:
        """The Slack channel AWS Chatbot posts the alerts to; its role holds no permission (posting an SNS
        notification needs none) and the guardrail denies every command."""
        role = iam.Role(
            self,
            "SlackChannelRole",
            description="AWS Chatbot's role for modlake's Slack alerts channel: no permissions, it only posts",
            # AWS Chatbot's documented trust policy has no condition; with no permission there is nothing to borrow.
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
        )
        return chatbot.SlackChannelConfiguration(
            self,
            "SlackChannel",
            slack_channel_configuration_name=f"modlake-{config.stage}-alerts",
            slack_workspace_id=config.alert_slack_workspace_id,
            slack_channel_id=config.alert_slack_channel_id,
            notification_topics=[topic],
            role=role,
            guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CHATBOT_GUARDRAIL_POLICY)],
            user_role_required=False,
            logging_level=chatbot.LoggingLevel.ERROR,
        )


def _with_fields(value: Any) -> Any:
    """Replace each `<name>` placeholder of a JSON template with the EventField CDK turns into it."""
    if isinstance(value, dict):
        return {k: _with_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_fields(v) for v in value]
    if isinstance(value, str):
        for name, path in ALERT_FIELDS.items():
            value = value.replace(f"<{name}>", events.EventField.from_path(path))
        return value
    return value

"""Deployment configuration: the one place that reads CDK context and the CDK_DEFAULT_* environment."""

from __future__ import annotations

import json
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Node

from functions.common.models import MAX_VIDEO_SECONDS
from functions.common.quarantine import QuarantineMode
from functions.common.taxonomy import TOP_LEVEL_CATEGORIES
from stacks.lambda_runtime import lambda_runtime

FALLBACK_REGION = "us-east-1"
AGGREGATE_BY_VALUES = ("TIMESTAMPS", "SEGMENTS")
EPHEMERAL_STAGE = "dev"  # the only stage whose data is deleted with the stack
# Athena refuses a per-query bytes-scanned cutoff below 10 MB.
MIN_BYTES_SCANNED_CUTOFF = 10_000_000
DAILY_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
# EventBridge Scheduler: rate(<n> minute|minutes|hour|hours|day|days) and six-field cron(...).
RATE_EXPRESSION = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)")
CRON_EXPRESSION = re.compile(r"cron\((?P<fields>[^()]+)\)")
QUICKSIGHT_PRINCIPAL = re.compile(r"arn:aws[a-z-]*:quicksight:[a-z0-9-]+:[0-9]{12}:(user|group)/\S+")
QUICKSIGHT_IMPORT_MODES = ("DIRECT_QUERY", "SPICE")
# Slack ids as AWS Chatbot takes them: a workspace (team) id and a public (C…) or private (G…) channel id.
SLACK_WORKSPACE_ID = re.compile(r"T[0-9A-Z]{8,}")
SLACK_CHANNEL_ID = re.compile(r"[CG][0-9A-Z]{8,}")
# An IAM role or user ARN (with an optional path), as aws:PrincipalArn carries it for the principal's requests.
IAM_PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+")

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION: Mapping[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

CONTEXT_KEYS = (
    "stage",
    "region",
    "video_suffixes",
    "key_prefix",
    "min_confidence",
    "flag_threshold",
    "category_thresholds",
    "ignored_categories",
    "aggregate_by",
    "alarm_emails",
    "log_retention_days",
    "event_bus_name",
    "event_source",
    "start_max_concurrency",
    "rekognition_job_limit",
    "max_video_minutes",
    "rekognition_price_per_minute",
    "pandas_layer_arn",
    "athena_results_retention_days",
    "athena_bytes_scanned_cutoff",
    "quicksight_principal_arn",
    "quicksight_import_mode",
    "quicksight_refresh_schedule",
    "digest_emails",
    "digest_schedule",
    "digest_timezone",
    "digest_sender",
    "digest_skip_empty",
    "alert_threshold",
    "alert_categories",
    "alert_emails",
    "alert_slack_workspace_id",
    "alert_slack_channel_id",
    "quarantine",
    "quarantine_exempt_principals",
)


@dataclass(frozen=True)
class PipelineConfig:
    """Every deploy-time choice of one modlake stage, validated before any construct is built."""

    stage: str
    account: str | None
    region: str
    video_suffixes: tuple[str, ...]
    key_prefix: str
    min_confidence: float
    flag_threshold: float
    category_thresholds: Mapping[str, float]
    ignored_categories: tuple[str, ...]
    aggregate_by: str
    alarm_emails: tuple[str, ...]
    log_retention_days: int
    event_bus_name: str
    event_source: str
    start_max_concurrency: int
    rekognition_job_limit: int
    max_video_minutes: float
    rekognition_price_per_minute: float
    pandas_layer_arn: str
    powertools_layer_parameter: str
    athena_results_retention_days: int
    athena_bytes_scanned_cutoff: int
    quicksight_principal_arn: str
    quicksight_import_mode: str
    quicksight_refresh_schedule: str
    digest_emails: tuple[str, ...]
    digest_schedule: str
    digest_timezone: str
    digest_sender: str
    digest_skip_empty: bool
    alert_threshold: float
    alert_categories: tuple[str, ...]
    alert_emails: tuple[str, ...]
    alert_slack_workspace_id: str
    alert_slack_channel_id: str
    quarantine: str
    quarantine_exempt_principals: tuple[str, ...]

    @classmethod
    def from_context(cls, node: Node, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        """Read the context keys (cdk.json defaults, `-c key=value` overrides) and validate them."""
        environ = os.environ if environ is None else environ
        raw = {key: node.try_get_context(key) for key in CONTEXT_KEYS}
        missing = [key for key, value in raw.items() if value is None]
        if missing:
            raise ValueError(
                f"missing CDK context {', '.join(missing)}: run through the CDK CLI (it reads the defaults "
                "in cdk.json) or pass -c <key>=<value>"
            )
        region = _text(raw, "region") or environ.get("CDK_DEFAULT_REGION") or FALLBACK_REGION
        runtime = lambda_runtime()
        pandas_layer_arn = _text(raw, "pandas_layer_arn").strip() or runtime.pandas_layer_arn(region)
        if not pandas_layer_arn:
            raise ValueError(
                f"the AWS SDK for pandas {runtime.pandas_version} layer table (stacks/lambda_layers.json) has no "
                f"row for region {region!r}: find its Python 3.13 Arm64 layer ARN in docs/source/layers.rst of "
                f"aws/aws-sdk-pandas at tag {runtime.pandas_version} and pass -c pandas_layer_arn=<arn>"
            )
        config = cls(
            stage=_text(raw, "stage"),
            account=environ.get("CDK_DEFAULT_ACCOUNT") or None,
            region=region,
            video_suffixes=tuple(dict.fromkeys(s.lower() for s in _strings(raw, "video_suffixes"))),
            key_prefix=_text(raw, "key_prefix"),
            min_confidence=_number(raw, "min_confidence"),
            flag_threshold=_number(raw, "flag_threshold"),
            category_thresholds={
                str(k): _float(v, f"category_thresholds[{k!r}]") for k, v in _object(raw, "category_thresholds").items()
            },
            ignored_categories=_strings(raw, "ignored_categories"),
            aggregate_by=_text(raw, "aggregate_by").upper(),
            alarm_emails=_strings(raw, "alarm_emails"),
            log_retention_days=_integer(raw, "log_retention_days"),
            event_bus_name=_text(raw, "event_bus_name"),
            event_source=_text(raw, "event_source"),
            start_max_concurrency=_integer(raw, "start_max_concurrency"),
            rekognition_job_limit=_integer(raw, "rekognition_job_limit"),
            max_video_minutes=_number(raw, "max_video_minutes"),
            rekognition_price_per_minute=_number(raw, "rekognition_price_per_minute"),
            pandas_layer_arn=pandas_layer_arn,
            powertools_layer_parameter=runtime.powertools_parameter,
            athena_results_retention_days=_integer(raw, "athena_results_retention_days"),
            athena_bytes_scanned_cutoff=_integer(raw, "athena_bytes_scanned_cutoff"),
            quicksight_principal_arn=_text(raw, "quicksight_principal_arn").strip(),
            quicksight_import_mode=_text(raw, "quicksight_import_mode").strip().upper(),
            quicksight_refresh_schedule=_text(raw, "quicksight_refresh_schedule").strip(),
            digest_emails=_strings(raw, "digest_emails"),
            digest_schedule=_text(raw, "digest_schedule").strip(),
            digest_timezone=_text(raw, "digest_timezone").strip(),
            digest_sender=_text(raw, "digest_sender").strip(),
            digest_skip_empty=_boolean(raw, "digest_skip_empty"),
            alert_threshold=_number(raw, "alert_threshold"),
            alert_categories=tuple(dict.fromkeys(_strings(raw, "alert_categories"))),
            alert_emails=_strings(raw, "alert_emails"),
            alert_slack_workspace_id=_text(raw, "alert_slack_workspace_id").strip(),
            alert_slack_channel_id=_text(raw, "alert_slack_channel_id").strip(),
            quarantine=_text(raw, "quarantine").strip().lower(),
            quarantine_exempt_principals=tuple(dict.fromkeys(_strings(raw, "quarantine_exempt_principals"))),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError naming the first invalid value and what would be valid."""
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", self.stage):
            raise ValueError(
                f"stage {self.stage!r}: use 1-20 lower-case letters, digits or hyphens, starting with a letter"
            )
        for name in ("min_confidence", "flag_threshold", "alert_threshold"):
            _check_percent(name, getattr(self, name))
        for category, threshold in self.category_thresholds.items():
            _check_category("category_thresholds", category)
            _check_percent(f"category_thresholds[{category!r}]", threshold)
        for name in ("ignored_categories", "alert_categories"):
            for category in getattr(self, name):
                _check_category(name, category)
        if self.aggregate_by not in AGGREGATE_BY_VALUES:
            raise ValueError(f"aggregate_by {self.aggregate_by!r}: use one of {', '.join(AGGREGATE_BY_VALUES)}")
        if not self.video_suffixes:
            raise ValueError('video_suffixes is empty: list at least one file suffix, e.g. ["mp4"]')
        for suffix in self.video_suffixes:
            if not suffix.isascii() or not suffix.isalnum():
                raise ValueError(f"video_suffixes entry {suffix!r}: use letters and digits only, without the dot")
        for name in ("alarm_emails", "digest_emails", "alert_emails"):
            for email in getattr(self, name):
                _check_email(f"{name} entry", email)
        if self.digest_sender:
            _check_email("digest_sender", self.digest_sender)
            if not self.digest_emails:
                raise ValueError("digest_sender is set but digest_emails is empty: SES needs recipients")
        if self.log_retention_days not in LOG_RETENTION:
            raise ValueError(
                f"log_retention_days {self.log_retention_days}: CloudWatch Logs accepts {sorted(LOG_RETENTION)}"
            )
        if not 2 <= self.start_max_concurrency <= 1000:
            raise ValueError(f"start_max_concurrency {self.start_max_concurrency}: SQS event sources accept 2-1000")
        if self.rekognition_job_limit < 1:
            raise ValueError(
                f"rekognition_job_limit {self.rekognition_job_limit}: use your account's quota of concurrent "
                "Rekognition Video jobs (20 by default)"
            )
        if not 0 <= self.max_video_minutes <= MAX_VIDEO_SECONDS / 60:
            raise ValueError(
                f"max_video_minutes {self.max_video_minutes:g}: use 0 (no policy) up to 360 (Rekognition's 6 hours)"
            )
        if self.rekognition_price_per_minute < 0:
            raise ValueError(
                f"rekognition_price_per_minute {self.rekognition_price_per_minute:g}: a price is not negative"
            )
        if not re.fullmatch(
            rf"arn:aws[a-z-]*:lambda:{re.escape(self.region)}:\d{{12}}:layer:[\w-]+:\d+", self.pandas_layer_arn
        ):
            raise ValueError(
                f"pandas_layer_arn {self.pandas_layer_arn!r}: use a layer version ARN in {self.region}, "
                "e.g. arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python313-Arm64:<n>"
            )
        for name in ("event_bus_name", "event_source"):
            if not getattr(self, name):
                raise ValueError(f"{name} is empty")
        if self.event_source.startswith("aws."):
            raise ValueError(f"event_source {self.event_source!r}: EventBridge reserves sources starting with 'aws.'")
        if self.athena_results_retention_days < 1:
            raise ValueError(
                f"athena_results_retention_days {self.athena_results_retention_days}: keep query results at least 1 day"
            )
        if self.athena_bytes_scanned_cutoff < MIN_BYTES_SCANNED_CUTOFF:
            raise ValueError(
                f"athena_bytes_scanned_cutoff {self.athena_bytes_scanned_cutoff}: Athena's smallest per-query cutoff "
                f"is 10 MB ({MIN_BYTES_SCANNED_CUTOFF} bytes)"
            )
        if self.quicksight_principal_arn and not QUICKSIGHT_PRINCIPAL.fullmatch(self.quicksight_principal_arn):
            raise ValueError(
                f"quicksight_principal_arn {self.quicksight_principal_arn!r}: use a QuickSight user or group ARN, "
                'e.g. arn:aws:quicksight:us-east-1:123456789012:user/default/alice, or "" for no QuickSight'
            )
        if self.quicksight_import_mode not in QUICKSIGHT_IMPORT_MODES:
            modes = ", ".join(QUICKSIGHT_IMPORT_MODES)
            raise ValueError(f"quicksight_import_mode {self.quicksight_import_mode!r}: use one of {modes}")
        if not DAILY_TIME.fullmatch(self.quicksight_refresh_schedule):
            raise ValueError(
                f"quicksight_refresh_schedule {self.quicksight_refresh_schedule!r}: use HH:MM, the time of day (UTC) "
                "of the daily SPICE refresh, e.g. 02:00"
            )
        schedule_expression(self.digest_schedule)
        self._validate_slack()
        self._validate_quarantine()
        if not _is_time_zone(self.digest_timezone):
            raise ValueError(
                f"digest_timezone {self.digest_timezone!r}: use an IANA time zone name such as UTC, Europe/Paris "
                "or Asia/Tokyo"
            )

    def _validate_slack(self) -> None:
        """The Slack workspace and channel of the alerts: both or neither, each shaped as Slack ids are."""
        workspace, channel = self.alert_slack_workspace_id, self.alert_slack_channel_id
        if bool(workspace) != bool(channel):
            raise ValueError(
                "alert_slack_workspace_id and alert_slack_channel_id go together: set both (Slack alerts) or neither"
            )
        if workspace and not SLACK_WORKSPACE_ID.fullmatch(workspace):
            raise ValueError(
                f"alert_slack_workspace_id {workspace!r}: use the workspace id the AWS Chatbot console shows once the "
                "workspace is authorized, e.g. T0123ABCD"
            )
        if channel and not SLACK_CHANNEL_ID.fullmatch(channel):
            raise ValueError(
                f"alert_slack_channel_id {channel!r}: use the channel id at the end of the channel's link, "
                "e.g. C0123ABCD (G… for a private channel)"
            )

    def _validate_quarantine(self) -> None:
        """The quarantine mode, and the principals its deny policy exempts: IAM role or user ARNs, with deny only."""
        modes = [mode.value for mode in QuarantineMode]
        if self.quarantine not in modes:
            raise ValueError(f"quarantine {self.quarantine!r}: use one of {', '.join(modes)}")
        if self.quarantine_exempt_principals and self.quarantine != QuarantineMode.DENY:
            raise ValueError(
                "quarantine_exempt_principals is set but quarantine is not deny: only the deny policy exempts anyone"
            )
        for arn in self.quarantine_exempt_principals:
            if not IAM_PRINCIPAL_ARN.fullmatch(arn):
                raise ValueError(
                    f"quarantine_exempt_principals entry {arn!r}: use an IAM role or user ARN, e.g. "
                    "arn:aws:iam::123456789012:role/trust-and-safety-reviewers"
                )

    @property
    def quarantine_mode(self) -> QuarantineMode:
        """quarantine as the functions' enum (off, tag or deny)."""
        return QuarantineMode(self.quarantine)

    @property
    def slack_alerts(self) -> bool:
        """Alerts also go to a Slack channel through AWS Chatbot."""
        return bool(self.alert_slack_workspace_id)

    @property
    def alerts_enabled(self) -> bool:
        """Real-time alerts are on when someone receives them: an email address or a Slack channel."""
        return bool(self.alert_emails) or self.slack_alerts

    @property
    def is_ephemeral(self) -> bool:
        """Only the dev stage may lose its data when the stack is deleted."""
        return self.stage == EPHEMERAL_STAGE

    @property
    def removal_policy(self) -> RemovalPolicy:
        """DESTROY for dev, RETAIN for every stage that holds real data."""
        return RemovalPolicy.DESTROY if self.is_ephemeral else RemovalPolicy.RETAIN

    @property
    def log_retention(self) -> logs.RetentionDays:
        """log_retention_days as the CDK enum."""
        return LOG_RETENTION[self.log_retention_days]

    @property
    def digest_schedule_expression(self) -> str:
        """digest_schedule as an EventBridge Scheduler expression."""
        return schedule_expression(self.digest_schedule)

    @property
    def quicksight_refresh_time(self) -> str:
        """quicksight_refresh_schedule as QuickSight's TimeOfTheDay: zero-padded HH:MM (UTC)."""
        daily = DAILY_TIME.fullmatch(self.quicksight_refresh_schedule)
        if daily is None:
            raise ValueError(f"quicksight_refresh_schedule {self.quicksight_refresh_schedule!r} is not HH:MM")
        return f"{int(daily.group(1)):02d}:{daily.group(2)}"

    @property
    def athena_workgroup_name(self) -> str:
        """The stage's Athena workgroup: modlake-<stage>."""
        return f"modlake-{self.stage}"

    @property
    def glue_database_name(self) -> str:
        """Glue names allow no hyphens: modlake_<stage>."""
        return f"modlake_{self.stage}".replace("-", "_")


def schedule_expression(schedule: str) -> str:
    """HH:MM → a daily cron at that local time; cron(...) and rate(...) pass through once checked."""
    daily = DAILY_TIME.fullmatch(schedule)
    if daily:
        return f"cron({int(daily.group(2))} {int(daily.group(1))} * * ? *)"
    if RATE_EXPRESSION.fullmatch(schedule) and _rate_unit_agrees(schedule):
        return schedule
    cron = CRON_EXPRESSION.fullmatch(schedule)
    if cron and _cron_fields_valid(cron.group("fields").split()):
        return schedule
    raise ValueError(
        f"digest_schedule {schedule!r}: use HH:MM (daily, in digest_timezone), "
        "cron(minutes hours day-of-month month day-of-week year) with ? in day-of-month or day-of-week, "
        "or rate(<n> minutes|hours|days)"
    )


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], key: str) -> float:
    return _float(raw[key], key)


def _integer(raw: Mapping[str, Any], key: str) -> int:
    value = _number(raw, key)
    if not value.is_integer():
        raise ValueError(f"{key} must be a whole number, got {raw[key]!r}")
    return int(value)


def _float(value: Any, name: str) -> float:
    """A number from JSON context or from a `-c key=60` string."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _boolean(raw: Mapping[str, Any], key: str) -> bool:
    """true/false from JSON context or from a `-c key=true` string."""
    value = raw[key]
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def _parsed(raw: Mapping[str, Any], key: str) -> Any:
    """Lists and objects arrive as JSON values from cdk.json and as strings from `-c key=...`."""
    value = raw[key]
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError as error:
            raise ValueError(f"{key} is not valid JSON: {error}") from None
    return value


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = _parsed(raw, key)
    if isinstance(value, str):  # `-c video_suffixes=mp4,mov`
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings, got {value!r}")
    return tuple(value)


def _object(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _parsed(raw, key)
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a JSON object, got {value!r}")
    return value


def _check_percent(name: str, value: float) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"{name} {value}: confidence thresholds are percentages, 0-100")


def _check_category(name: str, category: str) -> None:
    if category not in TOP_LEVEL_CATEGORIES:
        raise ValueError(
            f"{name}: {category!r} is not a top-level moderation category; use one of {', '.join(TOP_LEVEL_CATEGORIES)}"
        )


def _check_email(name: str, email: str) -> None:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ValueError(f"{name} {email!r} is not an email address")


def _is_time_zone(name: str) -> bool:
    """An IANA zone name this machine's time zone database knows (what Scheduler and the digest expect)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return name in zoneinfo.available_timezones()


def _rate_unit_agrees(expression: str) -> bool:
    """Scheduler wants the singular unit for 1 and the plural otherwise: rate(1 day), rate(2 days)."""
    match = RATE_EXPRESSION.fullmatch(expression)
    if match is None:
        return False
    return (match.group("value") == "1") != match.group("unit").endswith("s")


def _cron_fields_valid(fields: list[str]) -> bool:
    """Six fields, and exactly one of day-of-month and day-of-week is ?."""
    return len(fields) == 6 and (fields[2] == "?") != (fields[4] == "?")

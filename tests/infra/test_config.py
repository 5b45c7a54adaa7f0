"""PipelineConfig: cdk.json defaults, `-c` overrides, and a clear error for every invalid value."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy

from stacks.config import PipelineConfig
from tests.infra.synth import cdk_context


def _config(environ: dict[str, str] | None = None, **overrides: Any) -> PipelineConfig:
    return PipelineConfig.from_context(App(context=cdk_context(**overrides)).node, environ=environ or {})


def test_cdk_json_defaults_give_a_dev_config_in_the_fallback_region() -> None:
    # Given cdk.json's context and no CDK_DEFAULT_* variables
    # When the config is read
    config = _config()
    # Then it is the documented dev configuration in us-east-1 with both layers resolved for the region
    assert config.stage == "dev"
    assert config.region == "us-east-1"
    assert config.account is None
    assert config.video_suffixes == ("mp4", "mov")
    assert (config.min_confidence, config.flag_threshold) == (50, 80)
    assert config.aggregate_by == "TIMESTAMPS"
    assert config.start_max_concurrency == 2
    assert config.powertools_layer_parameter == "/aws/service/powertools/python/arm64/python3.13/3.37.0"
    assert config.pandas_layer_arn == "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python313-Arm64:14"
    assert config.removal_policy == RemovalPolicy.DESTROY
    assert config.glue_database_name == "modlake_dev"


def test_the_cdk_default_environment_fills_account_and_an_empty_region() -> None:
    # Given the CLI's CDK_DEFAULT_ACCOUNT/REGION and region "" in context
    # When the config is read
    config = _config({"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-north-1"})
    # Then the environment decides, and the pandas layer follows the region
    assert (config.account, config.region) == ("123456789012", "eu-north-1")
    assert config.pandas_layer_arn == "arn:aws:lambda:eu-north-1:336392948345:layer:AWSSDKPandas-Python313-Arm64:14"


def test_command_line_strings_are_converted() -> None:
    # Given values as `cdk synth -c key=value` passes them: all strings
    config = _config(
        stage="prod-eu",
        min_confidence="60",
        flag_threshold="90.5",
        video_suffixes="mp4, MOV",
        ignored_categories='["Alcohol"]',
        category_thresholds='{"Violence": 70}',
        start_max_concurrency="5",
        aggregate_by="segments",
    )
    # Then they become typed, normalized values
    assert (config.min_confidence, config.flag_threshold) == (60, 90.5)
    assert config.video_suffixes == ("mp4", "mov")
    assert config.ignored_categories == ("Alcohol",)
    assert config.category_thresholds == {"Violence": 70}
    assert config.start_max_concurrency == 5
    assert config.aggregate_by == "SEGMENTS"
    assert config.removal_policy == RemovalPolicy.RETAIN
    assert config.glue_database_name == "modlake_prod_eu"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_confidence": 101}, "min_confidence 101.0: confidence thresholds are percentages, 0-100"),
        ({"flag_threshold": -1}, "flag_threshold -1.0: confidence thresholds are percentages"),
        ({"flag_threshold": "high"}, "flag_threshold must be a number"),
        ({"category_thresholds": {"Violence": 150}}, "category_thresholds['Violence'] 150.0"),
        ({"category_thresholds": {"Nudity": 50}}, "'Nudity' is not a top-level moderation category; use one of"),
        ({"ignored_categories": ["Weapons"]}, "ignored_categories: 'Weapons' is not a top-level moderation category"),
        ({"aggregate_by": "FRAMES"}, "aggregate_by 'FRAMES': use one of TIMESTAMPS, SEGMENTS"),
        ({"video_suffixes": []}, "video_suffixes is empty"),
        ({"video_suffixes": [".mp4"]}, "video_suffixes entry '.mp4': use letters and digits only"),
        ({"video_suffixes": [""]}, "video_suffixes entry ''"),
        ({"alarm_emails": ["ops.example.com"]}, "alarm_emails entry 'ops.example.com' is not an email address"),
        ({"log_retention_days": 31}, "log_retention_days 31: CloudWatch Logs accepts"),
        ({"start_max_concurrency": 1}, "start_max_concurrency 1: SQS event sources accept 2-1000"),
        ({"stage": "Prod_1"}, "stage 'Prod_1'"),
        ({"event_source": "aws.s3"}, "EventBridge reserves sources starting with 'aws.'"),
        ({"log_retention_days": 30.5}, "log_retention_days must be a whole number"),
        ({"region": "mars-north-1"}, "layer table (stacks/lambda_layers.json) has no row for region 'mars-north-1'"),
        (
            {"pandas_layer_arn": "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python313-Arm64:14"},
            "pandas_layer_arn 'arn:aws:lambda:eu-west-1:",
        ),
        ({"pandas_layer_arn": "AWSSDKPandas-Python313-Arm64"}, "use a layer version ARN in us-east-1"),
        ({"digest_timezone": "Mars/Olympus_Mons"}, "digest_timezone 'Mars/Olympus_Mons': use an IANA time zone"),
        ({"digest_timezone": "utc"}, "digest_timezone 'utc': use an IANA time zone"),
        ({"digest_timezone": ""}, "digest_timezone '': use an IANA time zone"),
        ({"digest_schedule": "8am"}, "digest_schedule '8am': use HH:MM (daily, in digest_timezone)"),
        ({"digest_schedule": "24:00"}, "digest_schedule '24:00'"),
        ({"digest_schedule": "07:60"}, "digest_schedule '07:60'"),
        ({"digest_schedule": "cron(0 8 * * *)"}, "digest_schedule 'cron(0 8 * * *)'"),
        ({"digest_schedule": "cron(0 8 * * MON *)"}, "with ? in day-of-month or day-of-week"),
        ({"digest_schedule": "rate(1 days)"}, "digest_schedule 'rate(1 days)'"),
        ({"digest_schedule": "rate(0 hours)"}, "digest_schedule 'rate(0 hours)'"),
        ({"athena_bytes_scanned_cutoff": 9_999_999}, "athena_bytes_scanned_cutoff 9999999: Athena's smallest"),
        ({"athena_bytes_scanned_cutoff": "10 GB"}, "athena_bytes_scanned_cutoff must be a number"),
        ({"athena_results_retention_days": 0}, "athena_results_retention_days 0: keep query results at least 1 day"),
        ({"digest_emails": ["team"]}, "digest_emails entry 'team' is not an email address"),
        ({"digest_sender": "modlake"}, "digest_sender 'modlake' is not an email address"),
        ({"digest_sender": "digest@example.com"}, "digest_sender is set but digest_emails is empty"),
        ({"digest_skip_empty": "yes"}, "digest_skip_empty must be true or false"),
        ({"quicksight_principal_arn": "alice"}, "quicksight_principal_arn 'alice': use a QuickSight user or group ARN"),
        ({"quicksight_import_mode": "IMPORT"}, "quicksight_import_mode 'IMPORT': use one of DIRECT_QUERY, SPICE"),
        ({"quicksight_import_mode": 1}, "quicksight_import_mode must be a string"),
        ({"quicksight_refresh_schedule": "2am"}, "quicksight_refresh_schedule '2am': use HH:MM, the time of day (UTC)"),
        ({"quicksight_refresh_schedule": "24:00"}, "quicksight_refresh_schedule '24:00'"),
        ({"quicksight_refresh_schedule": "cron(0 2 * * ? *)"}, "quicksight_refresh_schedule 'cron(0 2 * * ? *)'"),
        ({"alert_threshold": 100.5}, "alert_threshold 100.5: confidence thresholds are percentages, 0-100"),
        ({"alert_threshold": "high"}, "alert_threshold must be a number"),
        ({"alert_categories": ["Weapons"]}, "alert_categories: 'Weapons' is not a top-level moderation category"),
        ({"alert_categories": "violence"}, "alert_categories: 'violence' is not a top-level moderation category"),
        ({"alert_emails": ["safety-team"]}, "alert_emails entry 'safety-team' is not an email address"),
        ({"alert_slack_workspace_id": "T0123ABCD"}, "alert_slack_workspace_id and alert_slack_channel_id go together"),
        ({"alert_slack_channel_id": "C0123ABCD"}, "alert_slack_workspace_id and alert_slack_channel_id go together"),
        (
            {"alert_slack_workspace_id": "myteam", "alert_slack_channel_id": "C0123ABCD"},
            "alert_slack_workspace_id 'myteam': use the workspace id the AWS Chatbot console shows",
        ),
        (
            {"alert_slack_workspace_id": "T0123ABCD", "alert_slack_channel_id": "#moderation"},
            "alert_slack_channel_id '#moderation': use the channel id at the end of the channel's link",
        ),
        (
            {"alert_slack_workspace_id": "C0123ABCD", "alert_slack_channel_id": "T0123ABCD"},
            "alert_slack_workspace_id 'C0123ABCD'",
        ),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(overrides: dict[str, Any], message: str) -> None:
    # Given one invalid value / When the config is read / Then ValueError says what is wrong
    with pytest.raises(ValueError) as error:
        _config(**overrides)
    assert message in str(error.value)


def test_digest_and_athena_defaults() -> None:
    # Given cdk.json's context / When the config is read
    config = _config()
    # Then the digest goes out daily at 08:00 UTC to nobody through SNS only, and Athena stops a query at 10 GiB
    assert (config.digest_schedule, config.digest_schedule_expression) == ("08:00", "cron(0 8 * * ? *)")
    assert config.digest_timezone == "UTC"
    assert (config.digest_emails, config.digest_sender, config.digest_skip_empty) == ((), "", False)
    assert config.athena_bytes_scanned_cutoff == 10 * 1024**3
    assert config.athena_results_retention_days == 30
    assert config.athena_workgroup_name == "modlake-dev"
    assert config.quicksight_principal_arn == ""
    assert (config.quicksight_import_mode, config.quicksight_refresh_time) == ("DIRECT_QUERY", "02:00")


def test_quicksight_spice_values_from_the_command_line_are_normalized() -> None:
    # Given SPICE in lower case and an unpadded time, as `-c key=value` might pass them
    config = _config(quicksight_import_mode="spice", quicksight_refresh_schedule="4:05")
    # Then the mode is QuickSight's spelling and the time is QuickSight's zero-padded TimeOfTheDay
    assert (config.quicksight_import_mode, config.quicksight_refresh_time) == ("SPICE", "04:05")


@pytest.mark.parametrize(
    ("schedule", "expression"),
    [
        ("07:30", "cron(30 7 * * ? *)"),
        ("7:05", "cron(5 7 * * ? *)"),
        ("00:00", "cron(0 0 * * ? *)"),
        ("23:59", "cron(59 23 * * ? *)"),
        ("cron(0 9 ? * MON-FRI *)", "cron(0 9 ? * MON-FRI *)"),
        ("rate(1 day)", "rate(1 day)"),
        ("rate(12 hours)", "rate(12 hours)"),
    ],
)
def test_digest_schedule_becomes_a_scheduler_expression(schedule: str, expression: str) -> None:
    # Given HH:MM, a cron or a rate / When the config is read / Then Scheduler gets the expression it expects
    assert _config(digest_schedule=schedule).digest_schedule_expression == expression


def test_digest_values_from_the_command_line_are_converted() -> None:
    # Given digest values as `cdk deploy -c key=value` passes them: all strings
    config = _config(
        digest_emails="a@example.com, b@example.com",
        digest_skip_empty="true",
        digest_timezone="Europe/Paris",
        athena_bytes_scanned_cutoff="10000000",
        quicksight_principal_arn="arn:aws:quicksight:us-east-1:123456789012:group/default/analysts",
    )
    # Then they are typed and accepted (10 MB is Athena's smallest cutoff)
    assert config.digest_emails == ("a@example.com", "b@example.com")
    assert config.digest_skip_empty is True
    assert config.digest_timezone == "Europe/Paris"
    assert config.athena_bytes_scanned_cutoff == 10_000_000
    assert config.quicksight_principal_arn.endswith(":group/default/analysts")


def test_a_region_without_a_table_row_is_told_where_to_find_its_layer() -> None:
    # Given a deploy region the AWS SDK for pandas layer table has no row for
    # When the config is read
    with pytest.raises(ValueError) as error:
        _config({"CDK_DEFAULT_REGION": "mx-central-1"})
    # Then the message names the release's layer list and the context key that takes the ARN
    assert "docs/source/layers.rst of aws/aws-sdk-pandas at tag 3.17.0" in str(error.value)
    assert "-c pandas_layer_arn=<arn>" in str(error.value)


def test_a_region_whose_layer_lives_in_another_account_gets_that_arn_and_an_override_wins() -> None:
    # Given regions whose rows differ from the common :14 (another version, another account)
    # Then each gets its own row, and a pandas_layer_arn in context replaces the table's
    assert _config({"CDK_DEFAULT_REGION": "af-south-1"}).pandas_layer_arn.endswith(
        ":336392948345:layer:AWSSDKPandas-Python313-Arm64:13"
    )
    assert _config({"CDK_DEFAULT_REGION": "eu-south-1"}).pandas_layer_arn.endswith(
        ":774444163449:layer:AWSSDKPandas-Python313-Arm64:11"
    )
    own = "arn:aws:lambda:us-east-1:123456789012:layer:my-pandas:3"
    assert _config(pandas_layer_arn=own).pandas_layer_arn == own


def test_missing_context_points_to_cdk_json() -> None:
    # Given an app without cdk.json's context (not run through the CDK CLI)
    # When the config is read
    with pytest.raises(ValueError, match="missing CDK context .*cdk.json"):
        PipelineConfig.from_context(App().node, environ={})


def test_alerts_are_off_by_default() -> None:
    # Given cdk.json's context / When the config is read
    config = _config()
    # Then alerts would fire at 80 % in any category, but nobody receives them, so there are none
    assert (config.alert_threshold, config.alert_categories, config.alert_emails) == (80, (), ())
    assert (config.alert_slack_workspace_id, config.alert_slack_channel_id) == ("", "")
    assert not config.alerts_enabled and not config.slack_alerts


@pytest.mark.parametrize(
    ("overrides", "slack"),
    [
        ({"alert_emails": "safety@example.com"}, False),
        ({"alert_slack_workspace_id": "T0123ABCD", "alert_slack_channel_id": "G0123ABCDE"}, True),
    ],
    ids=["emails", "slack"],
)
def test_alerts_are_on_with_an_email_address_or_a_slack_channel(overrides: dict[str, Any], slack: bool) -> None:
    # Given recipients as `-c key=value` passes them / When the config is read / Then alerts are on
    config = _config(**overrides)
    assert config.alerts_enabled and config.slack_alerts is slack


def test_alert_values_from_the_command_line_are_converted() -> None:
    # Given alert values as `cdk deploy -c key=value` passes them: all strings, a category twice
    config = _config(
        alert_threshold="92.5",
        alert_categories='["Violence", "Hate Symbols", "Violence"]',
        alert_emails="a@example.com, b@example.com",
        alert_slack_workspace_id=" T0123ABCD ",
        alert_slack_channel_id="C0123ABCD",
    )
    # Then they are typed, each category once, the ids trimmed
    assert config.alert_threshold == 92.5
    assert config.alert_categories == ("Violence", "Hate Symbols")
    assert config.alert_emails == ("a@example.com", "b@example.com")
    assert (config.alert_slack_workspace_id, config.alert_slack_channel_id) == ("T0123ABCD", "C0123ABCD")

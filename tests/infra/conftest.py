"""Synthesize each configuration once per session: the first synth costs seconds, queries cost nothing."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synth, synthesize

PREFIX = "uploads/in*box\\"  # a * and a \ that must be escaped in EventBridge wildcards
QUICKSIGHT_PRINCIPAL = "arn:aws:quicksight:eu-west-1:123456789012:user/default/analyst"
DIGEST_SENDER = "digest@mail.example.com"


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack as cdk.json configures it (stage dev, no key prefix), in us-east-1."""
    return synthesize(tmp_path_factory.mktemp("cdk-dev"), region="us-east-1")


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A retained stage with a key prefix, alarm emails, per-category thresholds, a Tokyo-time digest sent
    through SES too, QuickSight datasets and a tighter Athena cutoff and result retention."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-prod"),
        stage="prod",
        region="eu-west-1",
        key_prefix=PREFIX,
        video_suffixes=["mp4", "MOV", "m4v"],
        alarm_emails=["ops@example.com", "oncall@example.com"],
        category_thresholds={"Violence": 60, "Alcohol": 95.5},
        ignored_categories=["Swimwear or Underwear"],
        aggregate_by="SEGMENTS",
        digest_emails=["digest@example.com", "safety-team@example.com"],
        digest_sender=DIGEST_SENDER,
        digest_timezone="Asia/Tokyo",
        digest_schedule="07:30",
        digest_skip_empty=True,
        quicksight_principal_arn=QUICKSIGHT_PRINCIPAL,
        athena_bytes_scanned_cutoff=1_000_000_000,
        athena_results_retention_days=7,
        rekognition_job_limit=50,
        max_video_minutes=90,
        rekognition_price_per_minute=0.08,
    )


@pytest.fixture(scope="session")
def spice(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """QuickSight on SPICE: datasets imported and refreshed daily at an unpadded time of day, for a group."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-spice"),
        stage="analytics",
        region="us-west-2",
        quicksight_principal_arn="arn:aws:quicksight:us-west-2:123456789012:group/default/analysts",
        quicksight_import_mode="spice",
        quicksight_refresh_schedule="4:05",
    )


# Real-time alerts on, every way at once: email subscribers, a Slack channel, two categories and a 90 % threshold.
ALERT_EMAILS = ["safety@example.com", "oncall@example.com"]
ALERT_CATEGORIES = ["Violence", "Hate Symbols"]
ALERT_THRESHOLD = 90
SLACK_WORKSPACE_ID = "T0123ABCD"
SLACK_CHANNEL_ID = "C0123ABCD"


@pytest.fixture(scope="session")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The dev stack (same stage and region as `dev`, so the two templates compare) with real-time alerts on."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-alerts"),
        region="us-east-1",
        alert_emails=ALERT_EMAILS,
        alert_categories=ALERT_CATEGORIES,
        alert_threshold=ALERT_THRESHOLD,
        alert_slack_workspace_id=SLACK_WORKSPACE_ID,
        alert_slack_channel_id=SLACK_CHANNEL_ID,
    )


# Quarantine deny, exempting a reviewers' role and an auditor user from the read deny on flagged versions.
QUARANTINE_EXEMPT = [
    "arn:aws:iam::123456789012:role/trust-and-safety-reviewers",
    "arn:aws:iam::123456789012:user/auditor",
]


@pytest.fixture(scope="session")
def quarantine(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The dev stack (same stage and region as `dev`, so the two templates compare) with quarantine deny."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-quarantine"),
        region="us-east-1",
        quarantine="deny",
        quarantine_exempt_principals=QUARANTINE_EXEMPT,
    )

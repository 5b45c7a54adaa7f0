"""Lambda entry point: EventBridge Scheduler's daily invocation (or an operator's {"date", "force"})."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from functions.common.adapters.athena import AthenaQueryRunner
from functions.common.adapters.clients import client
from functions.common.adapters.notify import SesHtmlMailer, SnsDigestNotifier
from functions.common.adapters.once import IdempotentOnce, digest_persistence
from functions.common.adapters.s3 import S3LakeObjects
from functions.common.observability import entry_point, logger
from functions.common.settings import DigestSettings
from functions.send_digest.logic import DigestDeps, DigestRequest, send_digest

settings = DigestSettings.from_env()  # a missing variable fails the cold start, not a run
ZoneInfo(settings.digest_timezone)  # an unknown time zone fails the cold start too
once = IdempotentOnce(digest_persistence(settings.videos_table, client("dynamodb")))


def build_deps(settings: DigestSettings, time_left_ms: Any) -> DigestDeps:
    """Adapters for the real AWS services; the query runner watches this invocation's remaining time."""
    return DigestDeps(
        queries=AthenaQueryRunner(
            client("athena"),
            workgroup=settings.athena_workgroup,
            database=settings.glue_database,
            time_left_ms=time_left_ms,
        ),
        archive=S3LakeObjects(client("s3"), settings.analytics_bucket),
        notifier=SnsDigestNotifier(client("sns"), settings.digest_topic_arn),
        mailer=SesHtmlMailer(client("sesv2"), settings.digest_sender, settings.digest_emails)
        if settings.digest_sender
        else None,
        once=once,
        clock=lambda: datetime.now(UTC),
        stage=settings.stage,
        timezone=settings.digest_timezone,
        region=boto3.session.Session().region_name or "us-east-1",
        skip_empty=settings.digest_skip_empty,
    )


@entry_point
def handler(event: Any, context: Any) -> dict[str, Any]:
    """Send one day's digest; a bad request fails clearly, a failed run is retried by Lambda, then dead-lettered."""
    request = DigestRequest.from_event(event)
    once.config.register_lambda_context(context)  # an interrupted run's lock expires with the invocation
    result = send_digest(request, build_deps(settings, context.get_remaining_time_in_millis))
    logger.info("digest run finished", **result.as_dict())
    return result.as_dict()

"""Per-function settings, read from the Lambda environment once per cold start.

Each field's environment variable is its name in upper case; a missing variable fails at cold
start, not mid-batch. The CDK stack sets exactly these keys (an infrastructure test checks it). A field with a
default is a feature that is off unless its context key is set (quarantine): the stack sets its variable only
then, so a stack with the feature off has the same template as before the feature existed.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any, Self

from functions.common.models import QuarantineMode


class SettingsError(RuntimeError):
    """The environment does not hold valid settings for this function."""


def _convert(name: str, raw: str, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    try:
        if annotation is str:
            return raw
        if annotation is bool:
            if raw not in ("true", "false"):
                raise ValueError("expected true or false")
            return raw == "true"
        if annotation is int:
            return int(raw)
        if annotation is float:
            return float(raw)
        if isinstance(annotation, type) and issubclass(annotation, StrEnum):
            return annotation(raw)
        if origin is tuple:
            value = json.loads(raw)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a JSON list of strings")
            return tuple(value)
        if origin in (dict, Mapping):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return {str(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError) as error:
        raise SettingsError(f"{name.upper()}={raw!r}: {error}") from error
    raise SettingsError(f"{name}: unsupported settings type {annotation!r}")


class EnvSettings:
    """Mixin: build a frozen settings dataclass from environment variables."""

    @classmethod
    def env_keys(cls) -> tuple[str, ...]:
        """The environment variable names this function needs."""
        return tuple(f.name.upper() for f in fields(cls) if f.default is MISSING)  # type: ignore[arg-type]

    @classmethod
    def optional_env_keys(cls) -> tuple[str, ...]:
        """The variables of features that are off unless set (fields with a default)."""
        return tuple(f.name.upper() for f in fields(cls) if f.default is not MISSING)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read and convert every field; fail with the list of missing variables."""
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        missing = [key for key in cls.env_keys() if key not in environ]
        if missing:
            raise SettingsError(f"{cls.__name__}: missing environment variables {', '.join(missing)}")
        values = {
            f.name: _convert(f.name, environ[f.name.upper()], hints[f.name])
            for f in fields(cls)  # type: ignore[arg-type]
            if f.name.upper() in environ or f.default is MISSING
        }
        return cls(**values)


class DurationPolicy:
    """Mixin for settings with a max_video_minutes field (0: no policy beyond Rekognition's 6 hours)."""

    max_video_minutes: float

    @property
    def max_video_seconds(self) -> float | None:
        """The max_video_minutes policy in seconds; None when there is none."""
        return self.max_video_minutes * 60 if self.max_video_minutes > 0 else None


@dataclass(frozen=True)
class StartSettings(EnvSettings, DurationPolicy):
    """Settings of start_moderation."""

    videos_table: str
    media_bucket: str
    analytics_bucket: str
    start_queue_url: str
    rekognition_topic_arn: str
    rekognition_role_arn: str
    min_confidence: float
    video_suffixes: tuple[str, ...]
    key_prefix: str
    job_limit: int  # Rekognition's concurrent-job quota for the account (context rekognition_job_limit)
    max_video_minutes: float  # 0: no policy beyond Rekognition's 6 hours
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: skipped and failed-before-a-job outcomes are tagged


@dataclass(frozen=True)
class BackfillSettings(EnvSettings, DurationPolicy):
    """Settings of queue_backfill (the S3 Batch Operations function)."""

    videos_table: str
    media_bucket: str
    analytics_bucket: str
    video_suffixes: tuple[str, ...]
    key_prefix: str
    max_video_minutes: float
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: the outcomes of videos it skips are tagged


@dataclass(frozen=True)
class CollectSettings(EnvSettings):
    """Settings of collect_results."""

    videos_table: str
    analytics_bucket: str
    start_queue_url: str
    collect_queue_url: str
    event_bus_name: str
    event_source: str
    aggregate_by: str
    flag_threshold: float
    category_thresholds: dict[str, float]
    ignored_categories: tuple[str, ...]
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: flagged, clean and failed outcomes are tagged


@dataclass(frozen=True)
class DigestSettings(EnvSettings):
    """Settings of send_digest."""

    stage: str
    videos_table: str  # holds the once-per-day records (pk DIGEST)
    analytics_bucket: str  # the digest archive: digests/dt=<day>/
    glue_database: str
    athena_workgroup: str
    digest_topic_arn: str  # plain-text digest to the email subscribers
    digest_emails: tuple[str, ...]  # SES recipients
    digest_sender: str  # verified SES identity; "" sends no HTML email
    digest_timezone: str  # IANA zone whose previous calendar day the digest covers
    digest_skip_empty: bool


@dataclass(frozen=True)
class ReviewSettings(EnvSettings):
    """Settings of review_api (the lookup and verdict API behind the function URL)."""

    videos_table: str
    analytics_bucket: str  # moderation_verdicts/ rows
    quarantine: QuarantineMode = QuarantineMode.OFF  # tag or deny: an overturned verdict tags the version clean

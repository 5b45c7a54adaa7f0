"""boto3 clients with modlake's retry and user-agent settings, one per service per container."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config

USER_AGENT = "modlake"
LOCAL_SECRET_KEY = "local"  # any secret works on a local endpoint: it checks no signatures


@dataclass(frozen=True)
class RetryPolicy:
    """How one service's calls are retried: botocore's standard mode (exponential backoff with jitter, a retry
    quota) up to `total_attempts` requests, except the error codes in `answered_at_once`, which come back after
    the first request."""

    total_attempts: int
    why: str
    answered_at_once: frozenset[str] = frozenset()

    def config(self) -> Config:
        """The client Config of this policy."""
        retries: Any = {"mode": "standard", "total_max_attempts": self.total_attempts}
        return Config(retries=retries, user_agent_extra=USER_AGENT)


# Every service a function calls, with its policy (the README's "Retries" table is checked against this).
# A call that still fails raises; the queue the function consumes redelivers its message (DLQ after maxReceiveCount),
# so these numbers trade latency inside one invocation against a whole message retry, never against data.
RETRY_POLICIES: Mapping[str, RetryPolicy] = {
    "rekognition": RetryPolicy(
        3,
        "TPS throttles (ProvisionedThroughputExceededException, ThrottlingException) and 5xx; then start_moderation "
        "sends itself a delayed retry. LimitExceededException is the concurrent-job limit, not a transient fault: "
        "the scheduler queues the video at once",
        answered_at_once=frozenset({"LimitExceededException"}),
    ),
    "dynamodb": RetryPolicy(5, "ProvisionedThroughputExceededException, ThrottlingException and 5xx during bursts"),
    "s3": RetryPolicy(5, "SlowDown (503) and InternalError (500) on one prefix under load"),
    "sqs": RetryPolicy(5, "throttling and InternalFailure on sends that continue or retry work"),
    "sns": RetryPolicy(5, "Throttling and InternalFailure on the digest's publish"),
    "events": RetryPolicy(5, "ThrottlingException and InternalException on the Video Moderated event"),
    "athena": RetryPolicy(5, "TooManyRequestsException and ThrottlingException while the digest starts and polls"),
    "sesv2": RetryPolicy(3, "TooManyRequestsException and 5xx on the digest's one HTML email"),
}
# Services only the sandbox and tests call through these helpers: botocore's standard default.
OTHER_SERVICES = RetryPolicy(3, "botocore's standard default")


def retry_policy(service: str) -> RetryPolicy:
    """The retry policy of a service's clients."""
    return RETRY_POLICIES.get(service, OTHER_SERVICES)


def client_config(service: str, *, local: bool = False) -> Config:
    """A service's client Config: its retry policy, and path-style S3 on a local endpoint (one host, every bucket)."""
    config = retry_policy(service).config()
    return config.merge(Config(s3={"addressing_style": "path"})) if local else config


def apply_retry_policy(made: Any) -> Any:
    """Make a client answer its policy's `answered_at_once` codes after one request (botocore's Config cannot say so).

    botocore's standard mode counts LimitExceededException as throttling; a handler that runs before its retry
    handler raises the modeled error at once instead, as the client would after its last attempt.
    """
    policy = retry_policy(made.meta.service_model.service_name)
    if not policy.answered_at_once:
        return made
    service = made.meta.service_model.service_id.hyphenize()

    def answer_at_once(response: Any = None, operation: Any = None, **_: Any) -> None:
        if response is None or operation is None:
            return None  # no parsed answer (a connection error): the standard handler decides
        parsed = response[1]
        code = parsed.get("Error", {}).get("Code", "")
        if code in policy.answered_at_once:
            raise made.exceptions.from_code(code)(parsed, operation.name)
        return None

    made.meta.events.register_first(
        f"needs-retry.{service}", answer_at_once, unique_id=f"{USER_AGENT}-at-once-{service}"
    )
    return made


@cache
def client(service: str) -> Any:
    """A shared boto3 client (endpoint and region come from the standard AWS environment)."""
    return apply_retry_policy(boto3.client(service, config=client_config(service)))


def local_endpoint_client(service: str, endpoint_url: str, region: str, access_key: str) -> Any:
    """A boto3 client on a local endpoint with fixed credentials (a developer's AWS profile never applies there)."""
    made = boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        config=client_config(service, local=True),
    )
    if made.meta.service_model.service_name == "s3control":
        keep_endpoint_host(made, endpoint_url)
    return apply_retry_policy(made)


def keep_endpoint_host(s3control: Any, endpoint_url: str) -> None:
    """Send an S3 Control client's requests to the endpoint's own host, not to `<AccountId>.<host>`.

    S3 Control's endpoint rules put the account id in front of every host, a custom endpoint's too
    (`123456789012.127.0.0.1:4566`, which no resolver finds); `Config(inject_host_prefix=False)` does not change
    that, because the prefix comes from the rules, not from the operation's host prefix.
    """
    host = urlsplit(endpoint_url).netloc

    def restore_host(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        account, dot, rest = parts.netloc.partition(".")
        if dot and rest == host and account.isdigit():
            request.url = urlunsplit(parts._replace(netloc=rest))

    s3control.meta.events.register("before-sign.s3-control", restore_host)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))

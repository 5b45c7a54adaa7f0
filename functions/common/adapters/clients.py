"""boto3 clients with modlake's retry and user-agent settings, one per service per container."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, user_agent_extra="modlake")
# A local endpoint (the sandbox's) serves every bucket on one host, so S3 is addressed by path there.
LOCAL_ENDPOINT_CONFIG = CLIENT_CONFIG.merge(Config(s3={"addressing_style": "path"}))
LOCAL_SECRET_KEY = "local"  # any secret works on a local endpoint: it checks no signatures


@cache
def client(service: str) -> Any:
    """A shared boto3 client (endpoint and region come from the standard AWS environment)."""
    return boto3.client(service, config=CLIENT_CONFIG)


def local_endpoint_client(service: str, endpoint_url: str, region: str, access_key: str) -> Any:
    """A boto3 client on a local endpoint with fixed credentials (a developer's AWS profile never applies there)."""
    made = boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        config=LOCAL_ENDPOINT_CONFIG,
    )
    if made.meta.service_model.service_name == "s3control":
        keep_endpoint_host(made, endpoint_url)
    return made


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

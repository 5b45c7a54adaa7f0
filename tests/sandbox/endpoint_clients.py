"""boto3 clients pointed at a running local endpoint, exactly as a user's code would make them."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from sandbox.endpoint import LocalEndpoint


def endpoint_client(endpoint: LocalEndpoint, service: str, region: str = "us-east-1", access_key: str = "test") -> Any:
    """An unmodified boto3 client for `service` with dummy credentials (the access key names the caller) and one
    request per call, no retries (tests see every error as botocore parsed it)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint.url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )

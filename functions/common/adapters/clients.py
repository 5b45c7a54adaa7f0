"""boto3 clients with modlake's retry and user-agent settings, one per service per container."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, user_agent_extra="modlake")


@cache
def client(service: str) -> Any:
    """A shared boto3 client (endpoint and region come from the standard AWS environment)."""
    return boto3.client(service, config=_CONFIG)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))

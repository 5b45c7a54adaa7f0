"""boto3 clients pointed at a running local endpoint, exactly as a user's code would make them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
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


def signed_call(
    url: str, credentials: Any, region: str = "us-east-1", method: str = "GET", body: bytes = b""
) -> tuple[int, Any]:
    """(status, JSON body) of a request to a function URL, signed with botocore's SigV4Auth for `lambda` as an
    application signs it (credentials None: unsigned), sent with urllib."""
    request = AWSRequest(method=method, url=url, data=body)
    if credentials is not None:
        SigV4Auth(credentials, "lambda", region).add_auth(request)
    prepared = request.prepare()
    wire = urllib.request.Request(
        prepared.url, data=body or None, headers=dict(prepared.headers.items()), method=method
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(wire, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")

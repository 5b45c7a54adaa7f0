"""The review API's function URL on the whole local stack: the ReviewApiUrl output is the local URL, and only
signed requests from callers allowed lambda:InvokeFunctionUrl reach functions/review_api."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from cli.target import LOCAL_ACCESS_KEY
from functions.common.adapters.clients import LOCAL_SECRET_KEY
from sandbox.function_urls import FUNCTION_URL_PATH
from sandbox.stack.local_stack import LOCAL_REGION, LocalStack, SandboxSettings
from tests.sandbox.endpoint_clients import signed_call

OPERATOR = Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)  # the CLI's local key: the local operator


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    work: Path = tmp_path_factory.mktemp("review-url")
    with LocalStack(SandboxSettings(work_dir=work, check_responses=True)) as running:
        yield running


def get(url: str, credentials: Credentials | None) -> tuple[int, Any]:
    return signed_call(url, credentials, LOCAL_REGION)


def test_the_review_api_url_output_is_served_locally(stack: LocalStack) -> None:
    # Given the local stack / Then its ReviewApiUrl output is the endpoint's function URL for the review function
    url = stack.outputs["ReviewApiUrl"]
    assert url.startswith(stack.endpoint.url + FUNCTION_URL_PATH) and url.endswith("/")
    assert stack.deployment is not None
    (config,) = stack.deployment.function_urls.values()
    assert config.auth_type == "AWS_IAM" and config.function_name == stack.outputs["ReviewApiFunctionName"]


def test_the_operator_reads_the_review_queue_and_others_are_forbidden(stack: LocalStack) -> None:
    url = stack.outputs["ReviewApiUrl"] + "review-queue"
    # Given the operator's signed request / When it asks for the review queue / Then the function answers
    status, body = get(url, OPERATOR)
    assert status == 200, body
    # And unsigned, or signed by a user without lambda:InvokeFunctionUrl, it is AWS's 403
    assert get(url, None) == (403, {"Message": "Forbidden"})
    iam = stack.client("iam")
    name = f"no-access-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert get(url, Credentials(key["AccessKeyId"], key["SecretAccessKey"])) == (403, {"Message": "Forbidden"})

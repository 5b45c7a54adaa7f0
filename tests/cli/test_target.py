"""Target resolution (--stack, --local, neither) and the clients a Target hands out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from moto import mock_aws

import cli.target as target_module
from cli.announcement import RunningStack
from cli.application import CliState
from cli.errors import CliError, Unreachable
from cli.target import DEFAULT_STACK, LOCAL_ACCESS_KEY, Target, endpoint_healthy, resolve_target
from tests.cli.conftest import modlake

HEALTH_PATH = "/health"
LOCAL = RunningStack(
    endpoint_url="http://127.0.0.1:4566",
    health_url="http://127.0.0.1:4566/health",
    stack_name="modlake-local",
    region="us-east-1",
    outputs={"MediaBucketName": "local-media"},
    pid=1,
)


class Calls:
    """Fake lookups that record what resolution asked for."""

    def __init__(self, announced: RunningStack | None = None, healthy: bool = True) -> None:
        self.announced = announced
        self.is_healthy = healthy
        self.deployed_calls: list[tuple[str, str | None]] = []
        self.notes: list[str] = []

    def running(self) -> RunningStack | None:
        return self.announced

    def healthy(self, url: str) -> bool:
        return self.is_healthy

    def deployed(self, name: str, region: str | None) -> Target:
        self.deployed_calls.append((name, region))
        return Target(name, region or "eu-west-1", {})

    def resolve(self, **options: object) -> Target:
        return resolve_target(
            **options,  # type: ignore[arg-type]
            running=self.running,
            healthy=self.healthy,
            deployed=self.deployed,
            note=self.notes.append,
        )


def test_stack_option_goes_to_aws_even_when_a_local_stack_runs() -> None:
    # Given a healthy local stack
    calls = Calls(LOCAL)
    # When --stack names a deployed stack
    target = calls.resolve(stack="modlake-prod", local=False, region="eu-west-1")
    # Then that stack is described in that region
    assert calls.deployed_calls == [("modlake-prod", "eu-west-1")]
    assert target.endpoint_url is None


def test_local_option_uses_the_announced_stack() -> None:
    # Given a healthy local stack
    calls = Calls(LOCAL)
    # When --local is given
    target = calls.resolve(stack=None, local=True, region=None)
    # Then the target is the local one, with its outputs
    assert target == Target.local(LOCAL)
    assert target.outputs == {"MediaBucketName": "local-media"}
    assert calls.deployed_calls == []


def test_neither_option_prefers_a_running_local_stack() -> None:
    # Given a healthy local stack
    calls = Calls(LOCAL)
    # When no target option is given
    target = calls.resolve(stack=None, local=False, region=None)
    # Then the local stack wins
    assert target.endpoint_url == LOCAL.endpoint_url
    assert calls.deployed_calls == []


def test_neither_option_without_a_local_stack_is_the_default_aws_stack() -> None:
    # Given no local stack
    calls = Calls(None)
    # When no target option is given
    calls.resolve(stack=None, local=False, region="ap-south-1")
    # Then the default stack is described
    assert calls.deployed_calls == [(DEFAULT_STACK, "ap-south-1")]
    assert DEFAULT_STACK == "modlake-dev"


def test_neither_option_with_another_region_means_aws() -> None:
    # Given a healthy local stack in us-east-1
    calls = Calls(LOCAL)
    # When another region is named without a target option
    calls.resolve(stack=None, local=False, region="eu-west-1")
    # Then the default AWS stack in that region is used
    assert calls.deployed_calls == [(DEFAULT_STACK, "eu-west-1")]


def test_an_unhealthy_local_stack_falls_back_to_aws_with_a_note() -> None:
    # Given an announced local stack that does not answer
    calls = Calls(LOCAL, healthy=False)
    # When no target option is given
    calls.resolve(stack=None, local=False, region=None)
    # Then AWS is used, and the user is told why
    assert calls.deployed_calls == [(DEFAULT_STACK, None)]
    assert calls.notes == [f"the local stack at {LOCAL.endpoint_url} is not answering; using AWS stack modlake-dev"]


def test_local_option_refuses_an_unhealthy_stack_and_another_region() -> None:
    # Given an announced local stack
    # When it does not answer, or another region is asked for
    # Then resolution refuses
    with pytest.raises(Unreachable, match="is not answering"):
        Calls(LOCAL, healthy=False).resolve(stack=None, local=True, region=None)
    with pytest.raises(CliError, match="runs in us-east-1, not eu-west-1"):
        Calls(LOCAL).resolve(stack=None, local=True, region="eu-west-1")


def test_deployed_reads_the_stack_outputs_from_cloudformation() -> None:
    # Given a deployed stack with outputs
    template = (
        '{"Resources": {"Media": {"Type": "AWS::S3::Bucket"}},'
        ' "Outputs": {"MediaBucketName": {"Value": {"Ref": "Media"}}, "GlueDatabaseName": {"Value": "modlake_dev"}}}'
    )
    with mock_aws():
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="modlake-dev", TemplateBody=template
        )
        # When the target is built from it
        target = Target.deployed("modlake-dev", "eu-west-1")
    # Then it carries the outputs, the region and no endpoint
    assert target.outputs["GlueDatabaseName"] == "modlake_dev"
    assert target.outputs["MediaBucketName"].startswith("modlake-dev-media")
    assert (target.region, target.endpoint_url) == ("eu-west-1", None)


def test_aws_region_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given only AWS_REGION (botocore itself reads AWS_DEFAULT_REGION)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    # When a stack is described without --region
    # Then the lookup happens in that region
    with mock_aws(), pytest.raises(Unreachable, match="not found in ca-central-1"):
        Target.deployed("modlake-dev")


def test_local_clients_use_the_endpoint_fixed_credentials_and_path_style() -> None:
    # Given the local target
    target = Target.local(LOCAL)
    # When clients are asked for
    s3 = target.client("s3")
    # Then they point at the endpoint with the local key and path-style S3, and are reused
    assert s3.meta.endpoint_url == LOCAL.endpoint_url
    assert s3.meta.config.s3["addressing_style"] == "path"
    assert s3._request_signer._credentials.access_key == LOCAL_ACCESS_KEY
    assert s3.meta.region_name == "us-east-1"
    assert target.client("s3") is s3
    assert target.client("dynamodb") is not s3


def test_help_needs_no_target(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given target resolution that would fail loudly
    def explode(**_: object) -> Target:
        raise AssertionError("resolved")

    monkeypatch.setattr("cli.application.resolve_target", explode)
    # When help is asked for, at the top and for a command
    # Then no target is resolved
    assert modlake(None, "--help").exit_code == 0
    assert modlake(None, "status", "--help").exit_code == 0


def test_the_target_is_resolved_once_from_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a resolver that records what it was asked
    asked: list[dict[str, object]] = []

    def record(**options: object) -> Target:
        asked.append({k: options[k] for k in ("stack", "local", "region")})
        return Target("s", "eu-west-1", {})

    state = CliState(stack="modlake-prod", region="eu-west-1", resolver=record)
    # When the target is used twice
    first, second = state.target, state.target
    # Then resolution ran once, with the options
    assert first is second
    assert asked == [{"stack": "modlake-prod", "local": False, "region": "eu-west-1"}]


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback HTTP server answering 200 on the health path only."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200 if self.path == HEALTH_PATH else 404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_health_check_asks_the_announced_health_url(health_server: str) -> None:
    # Given an endpoint answering its health path (404 elsewhere), and a port where nothing listens
    # When each is checked
    # Then only the announced health URL of the answering one is healthy
    assert endpoint_healthy(health_server + HEALTH_PATH)
    assert not endpoint_healthy(health_server + "/")
    assert not endpoint_healthy("http://127.0.0.1:9" + HEALTH_PATH)


def test_running_stack_reads_the_announcement(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an announced stack
    monkeypatch.setattr(RunningStack, "read", classmethod(lambda cls: LOCAL))
    # When the CLI looks for one
    # Then it gets the announcement
    assert target_module.running_stack() is LOCAL

"""Which modlake stack a command talks to: a deployed CloudFormation stack or the running local stack."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError

from cli.announcement import RunningStack
from cli.errors import NO_REGION, CliError, Unreachable
from functions.common.adapters.clients import (
    LOCAL_SECRET_KEY,
    apply_retry_policy,
    client_config,
    error_code,
    keep_endpoint_host,
)

DEFAULT_STACK = "modlake-dev"
LOCAL_ACCESS_KEY = "modlake-cli"  # any key works locally; moto maps every unknown key to its default account
HEALTH_TIMEOUT_SECONDS = 2.0
NO_LOCAL_STACK = "no local stack is running: start one with `modlake up` (or `make demo`)"
_CLI_AGENT = Config(user_agent_extra="modlake-cli")


@dataclass(frozen=True)
class Target:
    """A stack's name, region and outputs, and boto3 clients pointed at it (endpoint_url None: real AWS)."""

    stack_name: str
    region: str
    outputs: dict[str, str]
    endpoint_url: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def local(cls, running: RunningStack) -> Target:
        """The target for a running local stack, as `modlake up` announces it (cli.announcement)."""
        return cls(
            stack_name=running.stack_name,
            region=running.region,
            outputs=dict(running.outputs),
            endpoint_url=running.endpoint_url,
        )

    @classmethod
    def deployed(cls, stack_name: str, region: str | None = None) -> Target:
        """The target for a deployed stack: its outputs from CloudFormation DescribeStacks."""
        # botocore reads AWS_DEFAULT_REGION only; AWS_REGION (what Lambda and many shells set) is honoured too.
        region = region or boto3.session.Session().region_name or os.environ.get("AWS_REGION")
        if not region:
            raise CliError(NO_REGION)
        session = boto3.session.Session(region_name=region)
        cloudformation = session.client("cloudformation", config=client_config("cloudformation").merge(_CLI_AGENT))
        try:
            stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as error:
            # CloudFormation has no dedicated code for a missing stack: it is a ValidationError saying so.
            if error_code(error) == "ValidationError" and "does not exist" in str(error):
                raise Unreachable(
                    f"stack {stack_name} not found in {region}: deploy it (`make deploy`), "
                    "name another with --stack, or use --local"
                ) from None
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        target = cls(stack_name=stack_name, region=region, outputs=outputs)
        target._cache["session"] = session  # its credentials are resolved and its models loaded already
        return target

    @property
    def is_local(self) -> bool:
        """True for the local stack (its endpoint), False for real AWS."""
        return self.endpoint_url is not None

    @property
    def description(self) -> str:
        """How to name this target in messages."""
        where = f"local stack at {self.endpoint_url}" if self.is_local else f"stack in {self.region}"
        return f"{self.stack_name} ({where})"

    def output(self, name: str) -> str:
        """One CloudFormation output; a missing one means the stack is not (fully) deployed."""
        try:
            return self.outputs[name]
        except KeyError:
            raise Unreachable(f"{self.description} has no output {name}: is it fully deployed?") from None

    def client(self, service: str, config: Config | None = None) -> Any:
        """A boto3 client for this target's region and endpoint, reused per service (and per `config`).

        `config`, a module-level constant, adjusts timeouts or retries for one purpose (a long synchronous invoke).
        """
        key = f"client:{service}:{id(config) if config else ''}"
        if key not in self._cache:
            base = client_config(service, local=self.is_local).merge(_CLI_AGENT)
            merged = base.merge(config) if config else base
            client = self._session().client(service, endpoint_url=self.endpoint_url, config=merged)
            if self.endpoint_url is not None and service == "s3control":
                keep_endpoint_host(client, self.endpoint_url)  # S3 Control puts the account id before any host
            apply_retry_policy(client)
            self._cache[key] = (config, client)  # holding `config` keeps its id from being reused
        return self._cache[key][1]

    def credentials(self) -> ReadOnlyCredentials | None:
        """The caller's credentials, as a SigV4 signer takes them (None: none are configured)."""
        found = self._session().get_credentials()
        return found.get_frozen_credentials() if found is not None else None

    def _session(self) -> boto3.session.Session:
        if "session" not in self._cache:
            if self.is_local:
                # Local credentials are fixed, so a developer's AWS profile never leaks into (or breaks) the sandbox.
                self._cache["session"] = boto3.session.Session(
                    aws_access_key_id=LOCAL_ACCESS_KEY,
                    aws_secret_access_key=LOCAL_SECRET_KEY,
                    region_name=self.region,
                )
            else:
                self._cache["session"] = boto3.session.Session(region_name=self.region)
        session: boto3.session.Session = self._cache["session"]
        return session


def running_stack() -> RunningStack | None:
    """The local stack announced in build/local-stack/state.json, if its process is alive."""
    return RunningStack.read()


def endpoint_healthy(health_url: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> bool:
    """True when the local endpoint answers its announced health check with HTTP 200 (a stale announcement does not)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(health_url, timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def resolve_target(
    *,
    stack: str | None,
    local: bool,
    region: str | None,
    running: Callable[[], RunningStack | None] | None = None,
    healthy: Callable[[str], bool] | None = None,
    deployed: Callable[[str, str | None], Target] | None = None,
    note: Callable[[str], None] = lambda _: None,
) -> Target:
    """--stack → that deployed stack; --local → the local stack; neither → the local stack if one runs, else AWS.

    With neither, a --region other than the local stack's means AWS.
    The lookups default to this module's functions, found at call time (so tests can replace them).
    """
    running = running or running_stack
    healthy = healthy or endpoint_healthy
    deployed = deployed or Target.deployed
    if stack and local:
        raise CliError("use either --stack or --local, not both")
    if stack:
        return deployed(stack, region)
    announced = running()
    if local:
        if announced is None:
            raise Unreachable(NO_LOCAL_STACK)
        if not healthy(announced.health_url):
            raise Unreachable(
                f"the local stack at {announced.endpoint_url} is not answering: restart it with `modlake up`"
            )
        if region and region != announced.region:
            raise CliError(f"the local stack runs in {announced.region}, not {region}: drop --region")
        return Target.local(announced)
    if announced is not None and region not in (None, announced.region):
        return deployed(DEFAULT_STACK, region)  # another region was asked for: that is not the local stack
    if announced is not None:
        if healthy(announced.health_url):
            return Target.local(announced)
        note(f"the local stack at {announced.endpoint_url} is not answering; using AWS stack {DEFAULT_STACK}")
    return deployed(DEFAULT_STACK, region)

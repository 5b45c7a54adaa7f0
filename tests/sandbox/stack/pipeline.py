"""Helpers for end-to-end runs: a LocalStack announced for `modlake --local`, and the CLI run as users run it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from cli import app
from cli.announcement import STATE_FILE_VARIABLE, RunningStack
from cli.sandbox_runs import announcement_of
from cli.target import Target
from sandbox.stack.calls import AwsCall
from sandbox.stack.local_stack import LocalStack, SandboxSettings
from sandbox.stack.provision import Deployment
from sandbox.stack.template import PROJECT_ROOT, readable_name
from tests.sandbox.stack.permissions import Denial, Grant, check_calls, role_grants, used_grants

_CDK_SINGLETON_ID = re.compile(r"[0-9a-f]{32}")  # the fixed uuid in the ids of CDK's singleton helper functions


@dataclass
class AnnouncedStack:
    """A started local stack that `modlake --local` finds, and a Target on it for direct reads."""

    stack: LocalStack
    target: Target

    def modlake(self, *args: str) -> Result:
        """`modlake --local ARGS` exactly as typed (the CLI resolves the stack from the announcement)."""
        result = CliRunner().invoke(app, ["--local", *args])
        return result

    def table_rows(self, prefix: str) -> list[dict[str, Any]]:
        """Every Parquet row under a prefix of the analytics bucket."""
        s3 = self.stack.client("s3")
        bucket = self.stack.outputs["AnalyticsBucketName"]
        rows: list[dict[str, Any]] = []
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            rows += pq.read_table(pa.BufferReader(body)).to_pylist()
        return rows

    def subscribe_queue(self, topic_arn: str, name: str) -> str:
        """An SQS queue subscribed (raw delivery) to a topic: where the test reads what the topic sent."""
        sqs = self.stack.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.stack.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
        )
        return str(url)

    def messages(self, queue_url: str) -> list[str]:
        found = self.stack.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        return [m["Body"] for m in found.get("Messages", [])]


@contextmanager
def announced_stack(work_dir: Path, settings: SandboxSettings | None = None) -> Iterator[AnnouncedStack]:
    """Start a local stack in work_dir and announce it where `modlake --local` looks (a file of this test's)."""
    settings = settings or SandboxSettings(work_dir=work_dir / "stack", check_responses=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STATE_FILE_VARIABLE, str(work_dir / "state.json"))
        with LocalStack(settings) as stack:
            running = announcement_of(stack)
            running.write()
            try:
                yield AnnouncedStack(stack, Target.local(running))
            finally:
                running.withdraw()


def json_output(result: Result) -> Any:
    """The stdout of a `--format json` command."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def partition_keys(stack: LocalStack) -> dict[str, str]:
    """Each DynamoDB table's partition key attribute (where the permission check finds dynamodb:LeadingKeys)."""
    assert stack.deployment is not None
    keys = {}
    for logical_id, resource in stack.deployment.template["Resources"].items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            (hash_key,) = [k["AttributeName"] for k in resource["Properties"]["KeySchema"] if k["KeyType"] == "HASH"]
            keys[stack.deployment.physical_id(logical_id)] = hash_key
    return keys


def calls_by_principal(stack: LocalStack) -> dict[str, list[AwsCall]]:
    """Every recorded call, by who made it: a function's logical id, or the role a service acted as."""
    calls: dict[str, list[AwsCall]] = defaultdict(list)
    for call in stack.calls():
        calls[call.caller].append(call)
    return dict(calls)


def topic_keys(stack: LocalStack) -> dict[str, str]:
    """Each KMS-encrypted topic's ARN → its key's ARN (a publisher needs the key too)."""
    assert stack.deployment is not None
    resolver = stack.deployment.resolver
    return {
        str(resolver.ref(logical_id)): str(resolver.resolve(resource["Properties"]["KmsMasterKeyId"]))
        for logical_id, resource in stack.deployment.template["Resources"].items()
        if resource["Type"] == "AWS::SNS::Topic" and "KmsMasterKeyId" in resource.get("Properties", {})
    }


def denied_calls(stack: LocalStack, calls: dict[str, list[AwsCall]]) -> list[Denial]:
    """The recorded calls the caller's IAM policy in the template would not allow (a function's: its role's)."""
    assert stack.deployment is not None
    roles = {logical_id: spec.role_logical_id for logical_id, spec in stack.deployment.functions.items()}
    keys, topics = partition_keys(stack), topic_keys(stack)
    denials: list[Denial] = []
    for principal, made in calls.items():
        statements = stack.deployment.policy_statements(roles.get(principal, principal))
        denials += check_calls(statements, made, keys, topics)
    return denials


def role_names(deployment: Deployment) -> dict[str, str]:
    """Role logical id → a name that survives re-synthesis: the folder of the modlake function that uses it, else the
    construct path's words (`moderation-rekognition-role`), never the logical id's hash."""
    names = {
        logical_id: readable_name(_CDK_SINGLETON_ID.sub("", logical_id))
        for logical_id, resource in deployment.template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    for spec in deployment.functions.values():
        if spec.handler.startswith("functions.") and spec.role_logical_id in names:
            names[spec.role_logical_id] = spec.handler.split(".")[1]
    return names


def stack_grants(stack: LocalStack) -> list[Grant]:
    """Every grant of every role in the template: its policies' and inline statements, and its managed policies."""
    assert stack.deployment is not None
    deployment = stack.deployment
    grants: list[Grant] = []
    for logical_id, name in role_names(deployment).items():
        properties = deployment.resolver.resolve(deployment.template["Resources"][logical_id]["Properties"])
        inline = [s for policy in properties.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
        statements = [*deployment.policy_statements(logical_id), *inline]
        grants += role_grants(name, statements, properties.get("ManagedPolicyArns", []))
    return grants


def calls_by_role(stack: LocalStack) -> dict[str, list[AwsCall]]:
    """Every recorded call by the name of the role it was made with (a function's calls: its role's)."""
    assert stack.deployment is not None
    names = role_names(stack.deployment)
    roles = {logical_id: spec.role_logical_id for logical_id, spec in stack.deployment.functions.items()}
    calls: dict[str, list[AwsCall]] = defaultdict(list)
    for principal, made in calls_by_principal(stack).items():
        role = roles.get(principal, principal)
        calls[names.get(role, role)] += made
    return dict(calls)


@dataclass
class GrantLedger:
    """The union of the runs' grants (role × action × resource pattern × conditions) and of those a call used."""

    runs: set[str] = field(default_factory=set)
    grants: set[Grant] = field(default_factory=set)
    used: set[Grant] = field(default_factory=set)

    def record(self, run: str, stack: LocalStack) -> None:
        """Add a run: its template's grants, and those its recorded calls (made with record_calls) needed."""
        assert stack.settings.record_calls, f"{run}: the ledger needs SandboxSettings(record_calls=True)"
        grants = stack_grants(stack)
        self.grants.update(grants)
        self.used |= used_grants(grants, calls_by_role(stack), partition_keys(stack), topic_keys(stack))
        self.runs.add(run)

    def unused(self) -> list[Grant]:
        """Every grant no run's calls used, sorted by role, action and resource."""
        return sorted(self.grants - self.used)


@dataclass
class UpProcess:
    """`modlake up` running in its own process, and the announcement it wrote."""

    process: subprocess.Popen[str]
    state: Path
    running: RunningStack


@contextmanager
def modlake_up(work: Path, *options: str, timeout: float = 90) -> Iterator[UpProcess]:
    """`modlake up` as a user starts it (free port, palette classifier, announcing itself in work/state.json), once
    it has announced itself; a process the test leaves running is killed."""
    state = work / "state.json"
    command = [sys.executable, "-c", "from cli import main; main()", "up", "--port", "0", "--classifier", "palette"]
    process = subprocess.Popen(
        [*command, "--work-dir", str(work / "stack"), *options],
        cwd=PROJECT_ROOT,
        env={**os.environ, STATE_FILE_VARIABLE: str(state)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while (running := RunningStack.read(state)) is None:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "modlake up never announced itself"
            time.sleep(0.2)
        yield UpProcess(process, state, running)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

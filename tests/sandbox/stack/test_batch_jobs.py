"""S3 Batch Operations jobs on the local stack: tasks run the stack's own functions, as the stack's batch role."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.stack.local_stack import LocalStack, SandboxSettings
from sandbox.stack.template import LOCAL_ACCOUNT
from tests.sandbox.stack.pipeline import GrantLedger

BUCKET = "batch-jobs-input"
BATCH_SERVICE = "batchoperations.s3.amazonaws.com"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, grant_ledger: GrantLedger) -> Iterator[LocalStack]:
    settings = SandboxSettings(
        work_dir=tmp_path_factory.mktemp("batch") / "stack", check_responses=True, record_calls=True
    )
    with LocalStack(settings) as started:
        started.client("s3").create_bucket(Bucket=BUCKET)
        yield started
        grant_ledger.record("batch_jobs", started)


def batch_role(stack: LocalStack) -> tuple[str, str]:
    """(logical id, ARN) of the template's role that S3 Batch Operations assumes."""
    assert stack.deployment is not None
    for logical_id, resource in stack.deployment.template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        statements = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if any(BATCH_SERVICE in json.dumps(s.get("Principal", {})) for s in statements):
            return logical_id, str(stack.deployment.resolver.get_att(logical_id, "Arn"))
    raise AssertionError("the stack has no role S3 Batch Operations can assume")


def create_job(stack: LocalStack, function: str, role_arn: str, **options: Any) -> str:
    s3 = stack.client("s3")
    s3.put_object(Bucket=BUCKET, Key="stored/a clip.mp4", Body=b"not a video")
    etag = s3.put_object(Bucket=BUCKET, Key="manifest.csv", Body=f"{BUCKET},stored/a%20clip.mp4\n".encode())["ETag"]
    job = stack.client("s3control").create_job(
        AccountId=LOCAL_ACCOUNT,
        Operation={"LambdaInvoke": {"FunctionArn": function, "InvocationSchemaVersion": "2.0"}},
        Manifest={
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": f"arn:aws:s3:::{BUCKET}/manifest.csv", "ETag": etag},
        },
        Report={"Bucket": f"arn:aws:s3:::{BUCKET}", "Format": "Report_CSV_20180820", "Enabled": True, "Prefix": "r"},
        Priority=1,
        RoleArn=role_arn,
        **{"ConfirmationRequired": False, **options},
    )
    return str(job["JobId"])


def report_rows(stack: LocalStack, job_id: str) -> list[list[str]]:
    s3 = stack.client("s3")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"r/job-{job_id}/manifest.json")["Body"].read())
    rows: list[list[str]] = []
    for result in manifest["Results"]:
        body = s3.get_object(Bucket=BUCKET, Key=result["Key"])["Body"].read().decode()
        rows += csv.reader(io.StringIO(body))
    return rows


def test_a_job_invokes_a_stack_function_by_arn_as_the_stacks_batch_role(stack: LocalStack) -> None:
    # Given a function of the stack that does not understand S3 Batch events (send_digest), and the batch role
    digest = next(h.spec for h in stack.runner.hosts.values() if h.spec.name.endswith("send-digest"))
    role_id, role_arn = batch_role(stack)
    before = len(stack.calls())
    # When a job runs it on one object and the stack settles
    job_id = create_job(stack, digest.arn, role_arn)
    assert stack.settle(timeout=60)
    # Then the stack ran the function in its worker (its own error is the task's), and reported it
    job = stack.client("s3control").describe_job(AccountId=LOCAL_ACCOUNT, JobId=job_id)["Job"]
    assert (job["Status"], job["ProgressSummary"]["NumberOfTasksFailed"]) == ("Complete", 1)
    [[bucket, key, _, status, http, code, message]] = report_rows(stack, job_id)
    assert (bucket, key, status, http, code) == (BUCKET, "stored/a%20clip.mp4", "failed", "200", "PermanentFailure")
    prefix = "Lambda returned function error: "
    assert message.startswith(prefix) and json.loads(message[len(prefix) :])["errorType"]
    # And the manifest read, the report writes and the invocation are the batch role's calls
    made = {(c.service, c.operation) for c in stack.calls()[before:] if c.caller == role_id}
    assert {("s3", "GetObject"), ("s3", "PutObject"), ("lambda", "Invoke")} <= made


def test_an_unknown_function_fails_its_tasks_as_lambda_refuses_it(stack: LocalStack) -> None:
    job_id = create_job(stack, "no-such-function", f"arn:aws:iam::{LOCAL_ACCOUNT}:role/outsider")
    assert stack.settle(timeout=60)
    assert report_rows(stack, job_id) == [
        [
            BUCKET,
            "stored/a%20clip.mp4",
            "",
            "failed",
            "404",
            "ResourceNotFoundException",
            "Function not found: no-such-function",
        ]
    ]


def test_settle_does_not_wait_for_a_job_awaiting_confirmation(stack: LocalStack) -> None:
    job_id = create_job(
        stack, "no-such-function", f"arn:aws:iam::{LOCAL_ACCOUNT}:role/outsider", ConfirmationRequired=True
    )
    assert stack.settle(timeout=30)
    job = stack.client("s3control").describe_job(AccountId=LOCAL_ACCOUNT, JobId=job_id)["Job"]
    assert job["Status"] == "Suspended" and not stack.batch_operations.busy()

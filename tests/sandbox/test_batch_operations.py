"""S3 Batch Operations (the s3control job APIs) through boto3 against a local endpoint, with a Python function."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from functions.common.adapters.clients import keep_endpoint_host, local_endpoint_client
from sandbox.batch_operations import BatchOperationsService, BatchSettings, serve_batch_operations
from sandbox.batch_operations.report import REPORT_SCHEMA
from sandbox.endpoint import LocalEndpoint
from sandbox.stack.calls import AwsCall
from sandbox.stack.template import LOCAL_ACCOUNT
from tests.sandbox.endpoint_clients import endpoint_client

ACCOUNT = LOCAL_ACCOUNT
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/modlake-batch"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:modlake-backfill"
MAX_ATTEMPTS = 3
# Keys S3 users really have: spaces, '+', '%', non-ASCII letters, deep prefixes.
AWKWARD_KEYS = ("uploads/a clip.mp4", "uploads/c++ talk.mp4", "uploads/100% real.mov", "uploads/été/ü/ß/x/y/z.mp4")


class ScriptedFunction:
    """The job's Lambda function: records every event and answers as each key's script says (default Succeeded).

    A script entry is a result code, "raise" for a function error, or "hold" to wait for `release` (then succeed);
    the last entry repeats.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.scripts: dict[str, list[str]] = {}
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, function_arn: str, event: dict[str, Any]) -> tuple[Any, Mapping[str, Any] | None]:
        [task] = event["tasks"]
        key = unquote(task["s3Key"])
        with self._lock:
            self.events.append((function_arn, event))
            script = self.scripts.get(key, ["Succeeded"])
            code = script.pop(0) if len(script) > 1 else script[0]
        if code == "raise":
            return None, {"errorType": "RuntimeError", "errorMessage": f"cannot read {key}"}
        if code == "hold":
            assert self.release.wait(10), "the test never released the function"
            code = "Succeeded"
        answer = {
            "invocationSchemaVersion": event["invocationSchemaVersion"],
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event["invocationId"],
            "results": [{"taskId": task["taskId"], "resultCode": code, "resultString": f"{code}: {key}"}],
        }
        return answer, None

    def keys(self) -> list[str]:
        return sorted(unquote(event["tasks"][0]["s3Key"]) for _, event in self.events)


class BatchSandbox:
    """A bucket with objects and manifests, an s3control client, and the service's jobs, on one endpoint."""

    def __init__(self, endpoint: LocalEndpoint, service: BatchOperationsService, function: ScriptedFunction) -> None:
        self.endpoint = endpoint
        self.service = service
        self.function = function
        self.s3 = endpoint_client(endpoint, "s3")
        self.s3control = endpoint_client(endpoint, "s3control")
        keep_endpoint_host(self.s3control, endpoint.url)  # what any S3 Control client needs on a local endpoint
        self.bucket = f"batch-{uuid.uuid4().hex[:12]}"  # moto's S3 is per process: each test its own bucket
        self.reports = f"{self.bucket}-reports"  # apart, so reports never become objects of a generated manifest
        for name in (self.bucket, self.reports):
            self.s3.create_bucket(Bucket=name)
        self.calls: list[AwsCall] = []
        endpoint.clients.on_call = self.calls.append

    def put(self, key: str, body: bytes = b"video") -> str:
        """Upload an object; its version id ("null" while the bucket is unversioned)."""
        return str(self.s3.put_object(Bucket=self.bucket, Key=key, Body=body).get("VersionId", "null"))

    def csv_manifest(
        self, rows: list[list[str]], fields: list[str], key: str = "manifests/tasks.csv"
    ) -> dict[str, Any]:
        """Write a CSV manifest and return the job's Manifest naming it (with its ETag)."""
        body = "".join(",".join(row) + "\n" for row in rows).encode()
        etag = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"]
        return {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": fields},
            "Location": {"ObjectArn": f"arn:aws:s3:::{self.bucket}/{key}", "ETag": etag},
        }

    def generator(self, **filters: Any) -> dict[str, Any]:
        source: dict[str, Any] = {"SourceBucket": f"arn:aws:s3:::{self.bucket}", "EnableManifestOutput": False}
        if filters:
            source["Filter"] = filters
        return {"S3JobManifestGenerator": source}

    def create(self, *, schema: str = "2.0", report: Mapping[str, Any] | None = None, **options: Any) -> str:
        """CreateJob for a LambdaInvoke job (options add or override request members); the JobId."""
        lambda_invoke: dict[str, Any] = {"FunctionArn": FUNCTION_ARN, "InvocationSchemaVersion": schema}
        if schema == "2.0":
            lambda_invoke["UserArguments"] = {"stage": "local"}
        request: dict[str, Any] = {
            "AccountId": ACCOUNT,
            "Operation": {"LambdaInvoke": lambda_invoke},
            "Report": report or self.report(),
            "Priority": 10,
            "RoleArn": ROLE_ARN,
            "ConfirmationRequired": False,
            **options,
        }
        return str(self.s3control.create_job(**request)["JobId"])

    def report(self, scope: str = "AllTasks", prefix: str = "reports") -> dict[str, Any]:
        return {
            "Bucket": f"arn:aws:s3:::{self.reports}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": prefix,
            "ReportScope": scope,
        }

    def finished(self, job_id: str) -> dict[str, Any]:
        """DescribeJob's Job once the service has nothing left to do."""
        assert self.service.wait_until_idle(10), "a batch job kept working"
        return self.describe(job_id)

    def describe(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.s3control.describe_job(AccountId=ACCOUNT, JobId=job_id)["Job"]
        return job

    def wait_for_status(self, job_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (job := self.describe(job_id))["Status"] != status:
            assert time.monotonic() < deadline, f"job {job_id} is {job['Status']}, never {status}"
            time.sleep(0.02)
        return job

    def completion_report(
        self, job_id: str, prefix: str = "reports"
    ) -> tuple[dict[str, Any], dict[str, list[list[str]]]]:
        """The report's manifest.json and its result rows by TaskExecutionStatus."""
        folder = f"{prefix}/job-{job_id}"
        manifest = json.loads(self.s3.get_object(Bucket=self.reports, Key=f"{folder}/manifest.json")["Body"].read())
        rows = {}
        for result in manifest["Results"]:
            assert result["Bucket"] == self.reports and result["Key"].startswith(f"{folder}/results/")
            body = self.s3.get_object(Bucket=self.reports, Key=result["Key"])["Body"].read()
            rows[result["TaskExecutionStatus"]] = list(csv.reader(io.StringIO(body.decode())))
        return manifest, rows


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    """One local endpoint for the module (responses checked against botocore's model); moto's S3 behind it."""
    with LocalEndpoint("127.0.0.1", 0, check_responses=True) as started:
        yield started


@pytest.fixture
def batch(endpoint: LocalEndpoint) -> Iterator[BatchSandbox]:
    """A fresh job service on the endpoint for each test, running its tasks with a Python function."""
    function = ScriptedFunction()
    settings = BatchSettings(task_workers=3, max_task_attempts=MAX_ATTEMPTS, retry_delay_seconds=0.01)
    service = serve_batch_operations(endpoint, function, settings)  # replaces the previous test's service
    try:
        yield BatchSandbox(endpoint, service, function)
    finally:
        service.close()
        endpoint.clients.on_call = None


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# --- the Lambda contract ------------------------------------------------------------------------------------------
def test_a_csv_manifest_job_invokes_the_function_once_per_task_with_s3s_exact_payload(batch: BatchSandbox) -> None:
    # Given a versioned bucket with awkward keys and a manifest listing them URL-encoded, with their versions
    batch.s3.put_bucket_versioning(Bucket=batch.bucket, VersioningConfiguration={"Status": "Enabled"})
    versions = {key: batch.put(key) for key in AWKWARD_KEYS}
    rows = [[batch.bucket, quote(key, safe="/"), versions[key]] for key in AWKWARD_KEYS]
    manifest = batch.csv_manifest(rows, ["Bucket", "Key", "VersionId"])
    # When a schema 2.0 job runs over it
    job_id = batch.create(Manifest=manifest, ClientRequestToken="csv-job-1")
    job = batch.finished(job_id)
    # Then the function got one event per object, exactly as S3 Batch Operations sends it
    assert job["Status"] == "Complete"
    assert len(batch.function.events) == len(AWKWARD_KEYS)
    events = {unquote(event["tasks"][0]["s3Key"]): (arn, event) for arn, event in batch.function.events}
    for key in AWKWARD_KEYS:
        arn, event = events[key]
        [task] = event["tasks"]
        assert arn == FUNCTION_ARN
        assert event == {
            "invocationSchemaVersion": "2.0",
            "invocationId": event["invocationId"],
            "job": {"id": job_id, "userArguments": {"stage": "local"}},
            "tasks": [
                {
                    "taskId": task["taskId"],
                    "s3Key": quote(key, safe="/"),
                    "s3VersionId": versions[key],
                    "s3Bucket": batch.bucket,
                }
            ],
        }
        assert list(event) == ["invocationSchemaVersion", "invocationId", "job", "tasks"]
        assert unquote_plus(task["s3Key"]) == key  # Powertools' decoding and AWS's example's agree
    assert events["uploads/a clip.mp4"][1]["tasks"][0]["s3Key"] == "uploads/a%20clip.mp4"
    assert events["uploads/c++ talk.mp4"][1]["tasks"][0]["s3Key"] == "uploads/c%2B%2B%20talk.mp4"
    assert events["uploads/100% real.mov"][1]["tasks"][0]["s3Key"] == "uploads/100%25%20real.mov"
    assert (
        events["uploads/été/ü/ß/x/y/z.mp4"][1]["tasks"][0]["s3Key"] == "uploads/%C3%A9t%C3%A9/%C3%BC/%C3%9F/x/y/z.mp4"
    )
    ids = [(event["invocationId"], event["tasks"][0]["taskId"]) for _, event in batch.function.events]
    assert len({i for i, _ in ids}) == len({t for _, t in ids}) == len(AWKWARD_KEYS)
    summary = job["ProgressSummary"]
    assert (summary["TotalNumberOfTasks"], summary["NumberOfTasksSucceeded"], summary["NumberOfTasksFailed"]) == (
        4,
        4,
        0,
    )
    assert summary["Timers"]["ElapsedTimeInActiveSeconds"] >= 0


def test_schema_1_0_names_the_bucket_by_arn_and_sends_no_user_arguments(batch: BatchSandbox) -> None:
    # Given an unversioned object in a manifest without versions
    batch.put("uploads/one.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "uploads/one.mp4"]], ["Bucket", "Key"])
    # When a schema 1.0 job runs
    job_id = batch.create(schema="1.0", Manifest=manifest)
    batch.finished(job_id)
    # Then the event is 1.0's: the bucket's ARN, a null version, and a job with only its id
    [(_, event)] = batch.function.events
    assert event == {
        "invocationSchemaVersion": "1.0",
        "invocationId": event["invocationId"],
        "job": {"id": job_id},
        "tasks": [
            {
                "taskId": event["tasks"][0]["taskId"],
                "s3Key": "uploads/one.mp4",
                "s3VersionId": None,
                "s3BucketArn": f"arn:aws:s3:::{batch.bucket}",
            }
        ],
    }


def test_temporary_failures_are_redriven_and_a_task_that_keeps_failing_fails(batch: BatchSandbox) -> None:
    # Given one key that fails temporarily twice, then succeeds, and one that always fails temporarily
    for key in ("uploads/flaky.mp4", "uploads/down.mp4"):
        batch.put(key)
    batch.function.scripts = {
        "uploads/flaky.mp4": ["TemporaryFailure", "TemporaryFailure", "Succeeded"],
        "uploads/down.mp4": ["TemporaryFailure"],
    }
    manifest = batch.csv_manifest(
        [[batch.bucket, "uploads/flaky.mp4"], [batch.bucket, "uploads/down.mp4"]], ["Bucket", "Key"]
    )
    # When the job runs
    job = batch.finished(batch.create(Manifest=manifest))
    # Then each was invoked until it succeeded or ran out of attempts, always as the same task
    assert batch.function.keys() == ["uploads/down.mp4"] * MAX_ATTEMPTS + ["uploads/flaky.mp4"] * 3
    flaky = [e for _, e in batch.function.events if e["tasks"][0]["s3Key"] == "uploads/flaky.mp4"]
    assert len({e["tasks"][0]["taskId"] for e in flaky}) == 1 and len({e["invocationId"] for e in flaky}) == 3
    assert (job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]) == ("Complete", 1)
    assert job["ProgressSummary"]["NumberOfTasksFailed"] == 1
    # And the report keeps the last TemporaryFailure's message for the task that ran out of attempts
    _, rows = batch.completion_report(job["JobId"])
    assert rows["succeeded"] == [
        [batch.bucket, "uploads/flaky.mp4", "", "succeeded", "200", "", "Succeeded: uploads/flaky.mp4"]
    ]
    assert rows["failed"] == [
        [
            batch.bucket,
            "uploads/down.mp4",
            "",
            "failed",
            "200",
            "TemporaryFailure",
            "TemporaryFailure: uploads/down.mp4",
        ]
    ]


# --- completion reports -------------------------------------------------------------------------------------------
def test_the_completion_report_has_aws_layout_with_permanent_failures_and_function_errors(batch: BatchSandbox) -> None:
    # Given objects the function succeeds on, fails permanently on, and raises on
    keys = ["in/ok one.mp4", "in/refused.mp4", "in/broken.mp4"]
    for key in keys:
        batch.put(key)
    batch.function.scripts = {"in/refused.mp4": ["PermanentFailure"], "in/broken.mp4": ["raise"]}
    manifest = batch.csv_manifest([[batch.bucket, quote(key)] for key in keys], ["Bucket", "Key"])
    # When the job runs with a report of all tasks
    job = batch.finished(batch.create(Manifest=manifest))
    # Then manifest.json lists a succeeded and a failed results file with their MD5s, in AWS's format
    assert job["Status"] == "Complete"
    manifest_json, rows = batch.completion_report(job["JobId"])
    assert manifest_json["Format"] == "Report_CSV_20180820" and manifest_json["ReportSchema"] == REPORT_SCHEMA
    created = datetime.strptime(manifest_json["ReportCreationDate"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 30
    assert [r["TaskExecutionStatus"] for r in manifest_json["Results"]] == ["succeeded", "failed"]
    assert all(len(r["Key"].rsplit("/", 1)[1]) == len("0" * 40 + ".csv") for r in manifest_json["Results"])
    # And the rows carry the function's resultString, or Lambda's function error, as AWS's example rows do
    assert rows["succeeded"] == [
        [batch.bucket, "in/ok%20one.mp4", "", "succeeded", "200", "", "Succeeded: in/ok one.mp4"]
    ]
    assert sorted(rows["failed"]) == [
        [
            batch.bucket,
            "in/broken.mp4",
            "",
            "failed",
            "200",
            "PermanentFailure",
            'Lambda returned function error: {"errorType":"RuntimeError","errorMessage":"cannot read in/broken.mp4"}',
        ],
        [batch.bucket, "in/refused.mp4", "", "failed", "200", "PermanentFailure", "PermanentFailure: in/refused.mp4"],
    ]
    assert (job["ProgressSummary"]["NumberOfTasksSucceeded"], job["ProgressSummary"]["NumberOfTasksFailed"]) == (1, 2)


def test_a_failed_tasks_only_report_leaves_the_successes_out(batch: BatchSandbox) -> None:
    # Given two objects, one of which the function refuses
    for key in ("a.mp4", "b.mp4"):
        batch.put(key)
    batch.function.scripts = {"b.mp4": ["PermanentFailure"]}
    manifest = batch.csv_manifest([[batch.bucket, "a.mp4"], [batch.bucket, "b.mp4"]], ["Bucket", "Key"])
    # When the job reports failed tasks only, under a prefix ending in "/"
    job = batch.finished(batch.create(Manifest=manifest, report=batch.report("FailedTasksOnly", prefix="only-failed/")))
    # Then the report has the failed file alone
    manifest_json, rows = batch.completion_report(job["JobId"], prefix="only-failed")
    assert [r["TaskExecutionStatus"] for r in manifest_json["Results"]] == ["failed"]
    assert rows == {
        "failed": [[batch.bucket, "b.mp4", "", "failed", "200", "PermanentFailure", "PermanentFailure: b.mp4"]]
    }


# --- manifests ----------------------------------------------------------------------------------------------------
def test_a_manifest_whose_etag_changed_fails_the_job_without_invoking_anything(batch: BatchSandbox) -> None:
    # Given a job naming a manifest's ETag, and the manifest rewritten since
    batch.put("x.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "x.mp4"]], ["Bucket", "Key"])
    batch.s3.put_object(Bucket=batch.bucket, Key="manifests/tasks.csv", Body=b"other,content\n")
    # When the job is prepared
    job = batch.finished(batch.create(Manifest=manifest))
    # Then it fails with the reason, runs no task and writes no report
    assert job["Status"] == "Failed" and "TerminationDate" in job
    [failure] = job["FailureReasons"]
    assert failure["FailureCode"] == "ManifestETagMismatch" and manifest["Location"]["ETag"] in failure["FailureReason"]
    assert batch.function.events == []
    listed = batch.s3.list_objects_v2(Bucket=batch.reports)
    assert listed["KeyCount"] == 0


def test_a_generated_manifest_lists_the_current_objects_that_pass_every_filter(batch: BatchSandbox) -> None:
    # Given objects written before and after a moment, of several sizes, prefixes and suffixes
    batch.s3.put_bucket_versioning(Bucket=batch.bucket, VersioningConfiguration={"Status": "Enabled"})
    batch.put("old/a.mp4", b"1")
    batch.put("old/b.mov", b"12345")
    batch.put("old/b.mov", b"123456789")  # a newer version: only the current one is a task
    moment = datetime.now(UTC)
    time.sleep(1.02 - moment.microsecond / 1e6)  # S3 lists LastModified in whole seconds: into the next one
    batch.put("new/c clip.mp4", b"12")
    batch.put("new/d.txt", b"123")
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["new/c clip.mp4", "new/d.txt", "old/a.mp4", "old/b.mov"]),
        ({"KeyNameConstraint": {"MatchAnyPrefix": ["new/"]}}, ["new/c clip.mp4", "new/d.txt"]),
        ({"KeyNameConstraint": {"MatchAnySuffix": [".mp4", ".mov"]}}, ["new/c clip.mp4", "old/a.mp4", "old/b.mov"]),
        ({"KeyNameConstraint": {"MatchAnySubstring": ["clip"]}}, ["new/c clip.mp4"]),
        ({"CreatedAfter": moment}, ["new/c clip.mp4", "new/d.txt"]),
        ({"CreatedBefore": moment}, ["old/a.mp4", "old/b.mov"]),
        ({"ObjectSizeGreaterThanBytes": 2, "ObjectSizeLessThanBytes": 9}, ["new/d.txt"]),
        ({"MatchAnyStorageClass": ["GLACIER"]}, []),
    ]
    for filters, expected in cases:
        batch.function.events.clear()
        # When a job generates its manifest with these filters
        job = batch.finished(batch.create(ManifestGenerator=batch.generator(**filters)))
        # Then exactly the matching current objects are tasks, keys URL-encoded, with their version ids
        assert (filters, batch.function.keys()) == (filters, expected)
        assert job["Status"] == "Complete" and job["ProgressSummary"]["TotalNumberOfTasks"] == len(expected)
        assert all(event["tasks"][0]["s3VersionId"] for _, event in batch.function.events)
    clip = batch.finished(
        batch.create(ManifestGenerator=batch.generator(KeyNameConstraint={"MatchAnySubstring": ["clip"]}))
    )
    assert clip["ManifestGenerator"]["S3JobManifestGenerator"]["Filter"] == {
        "KeyNameConstraint": {"MatchAnySubstring": ["clip"]}
    }
    assert batch.function.events[-1][1]["tasks"][0]["s3Key"] == "new/c%20clip.mp4"


# --- lifecycle ----------------------------------------------------------------------------------------------------
def test_a_job_that_requires_confirmation_waits_suspended_until_it_is_made_ready(batch: BatchSandbox) -> None:
    # Given a job that requires confirmation
    batch.put("wait.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "wait.mp4"]], ["Bucket", "Key"])
    job_id = batch.create(Manifest=manifest, ConfirmationRequired=True)
    # When it has been prepared
    suspended = batch.wait_for_status(job_id, "Suspended")
    # Then it waits, knowing its tasks, without invoking anything, and the service is not busy with it
    assert suspended["ProgressSummary"]["TotalNumberOfTasks"] == 1 and "SuspendedDate" in suspended
    assert batch.function.events == [] and not batch.service.busy()
    # When it is confirmed
    updated = batch.s3control.update_job_status(AccountId=ACCOUNT, JobId=job_id, RequestedJobStatus="Ready")
    # Then it runs to completion
    assert (updated["JobId"], updated["Status"]) == (job_id, "Ready")
    assert batch.finished(job_id)["Status"] == "Complete" and batch.function.keys() == ["wait.mp4"]
    # And a finished job can be neither confirmed nor cancelled again
    for requested in ("Ready", "Cancelled"):
        update = partial(batch.s3control.update_job_status, AccountId=ACCOUNT, JobId=job_id)
        code, message, status = error_of(partial(update, RequestedJobStatus=requested))
        assert (code, status) == ("JobStatusException", 400) and "Complete" in message


def test_a_suspended_job_can_be_cancelled_with_a_reason(batch: BatchSandbox) -> None:
    batch.put("never.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "never.mp4"]], ["Bucket", "Key"])
    job_id = batch.create(Manifest=manifest, ConfirmationRequired=True)
    batch.wait_for_status(job_id, "Suspended")
    answer = batch.s3control.update_job_status(
        AccountId=ACCOUNT, JobId=job_id, RequestedJobStatus="Cancelled", StatusUpdateReason="not needed"
    )
    assert (answer["Status"], answer["StatusUpdateReason"]) == ("Cancelled", "not needed")
    job = batch.finished(job_id)
    assert (job["Status"], job["StatusUpdateReason"]) == ("Cancelled", "not needed") and "TerminationDate" in job
    assert batch.function.events == []


def test_cancelling_an_active_job_lets_running_tasks_finish_and_starts_no_more(batch: BatchSandbox) -> None:
    # Given a job of five tasks whose first invocations (three run at once) are held by the function
    keys = [f"clip-{n}.mp4" for n in range(5)]
    for key in keys:
        batch.put(key)
    batch.function.scripts = {key: ["hold"] for key in keys}
    job_id = batch.create(Manifest=batch.csv_manifest([[batch.bucket, key] for key in keys], ["Bucket", "Key"]))
    batch.wait_for_status(job_id, "Active")
    deadline = time.monotonic() + 10
    while len(batch.function.events) < 3:
        assert time.monotonic() < deadline, "the held invocations never started"
        time.sleep(0.01)
    # When it is cancelled while they run, and then they finish
    answer = batch.s3control.update_job_status(AccountId=ACCOUNT, JobId=job_id, RequestedJobStatus="Cancelled")
    assert answer["Status"] == "Cancelling" and batch.service.busy()
    batch.function.release.set()
    job = batch.finished(job_id)
    # Then the job is Cancelled, the other two tasks never ran, and the report has the three that did
    assert job["Status"] == "Cancelled" and len(batch.function.events) == 3
    assert (job["ProgressSummary"]["TotalNumberOfTasks"], job["ProgressSummary"]["NumberOfTasksSucceeded"]) == (5, 3)
    _, rows = batch.completion_report(job_id)
    assert sorted(row[1] for row in rows["succeeded"]) == batch.function.keys()


def test_a_client_request_token_returns_the_same_job_and_creates_nothing_more(batch: BatchSandbox) -> None:
    # Given a job created with a token
    batch.put("once.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "once.mp4"]], ["Bucket", "Key"])
    first = batch.create(Manifest=manifest, ClientRequestToken="token-1")
    batch.finished(first)
    # When the same request is sent again, then with other parameters
    again = batch.create(Manifest=manifest, ClientRequestToken="token-1")
    code, message, status = error_of(lambda: batch.create(Manifest=manifest, ClientRequestToken="token-1", Priority=99))
    # Then the same JobId comes back, nothing runs twice, and other parameters are refused
    assert again == first
    batch.finished(first)
    assert batch.function.keys() == ["once.mp4"]
    assert [j["JobId"] for j in batch.s3control.list_jobs(AccountId=ACCOUNT)["Jobs"]] == [first]
    assert (code, status) == ("IdempotencyException", 400) and "token-1" in message


def test_list_jobs_filters_by_status_and_pages(batch: BatchSandbox) -> None:
    # Given a complete job, a failed one and a suspended one
    batch.put("a.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "a.mp4"]], ["Bucket", "Key"])
    complete = batch.create(Manifest=manifest, Description="complete")
    broken = dict(manifest, Location=dict(manifest["Location"], ETag='"0000"'))
    failed = batch.create(Manifest=broken, Description="failed")
    suspended = batch.create(Manifest=manifest, ConfirmationRequired=True, Description="suspended")
    batch.wait_for_status(suspended, "Suspended")
    batch.finished(failed)
    # When jobs are listed by status, and a page at a time
    by_status = {
        status: [j["JobId"] for j in batch.s3control.list_jobs(AccountId=ACCOUNT, JobStatuses=[status])["Jobs"]]
        for status in ("Complete", "Failed", "Suspended", "Active")
    }
    first = batch.s3control.list_jobs(AccountId=ACCOUNT, MaxResults=2)
    second = batch.s3control.list_jobs(AccountId=ACCOUNT, MaxResults=2, NextToken=first["NextToken"])
    # Then each filter finds its job, and the pages hold every job once, newest first
    assert by_status == {"Complete": [complete], "Failed": [failed], "Suspended": [suspended], "Active": []}
    assert [j["JobId"] for j in first["Jobs"] + second["Jobs"]] == [suspended, failed, complete]
    assert "NextToken" not in second
    [listed] = [j for j in first["Jobs"] + second["Jobs"] if j["JobId"] == complete]
    assert (listed["Operation"], listed["Description"], listed["Priority"]) == ("LambdaInvoke", "complete", 10)
    assert listed["ProgressSummary"]["NumberOfTasksSucceeded"] == 1 and "TerminationDate" in listed
    code, _, status = error_of(lambda: batch.s3control.list_jobs(AccountId=ACCOUNT, NextToken="forged"))
    assert (code, status) == ("InvalidNextTokenException", 400)


def test_update_job_priority_and_describe_job_echo_the_request(batch: BatchSandbox) -> None:
    batch.put("a.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "a.mp4"]], ["Bucket", "Key"])
    job_id = batch.create(Manifest=manifest, Description="echo", ConfirmationRequired=True)
    batch.wait_for_status(job_id, "Suspended")
    assert batch.s3control.update_job_priority(AccountId=ACCOUNT, JobId=job_id, Priority=42)["Priority"] == 42
    job = batch.describe(job_id)
    assert job["Priority"] == 42 and job["Description"] == "echo" and job["RoleArn"] == ROLE_ARN
    assert job["JobArn"] == f"arn:aws:s3:us-east-1:{ACCOUNT}:job/{job_id}"
    assert job["Manifest"] == manifest and job["Report"] == batch.report()
    assert job["Operation"]["LambdaInvoke"]["UserArguments"] == {"stage": "local"}
    code, message, status = error_of(lambda: batch.s3control.describe_job(AccountId=ACCOUNT, JobId="no-such-job"))
    assert (code, message, status) == ("NotFoundException", "The specified job does not exist", 404)


# --- validation, identity, wire -----------------------------------------------------------------------------------
def test_requests_are_validated_like_aws_with_s3s_invalid_request(batch: BatchSandbox) -> None:
    # Given requests botocore sends (it checks no maximum, pattern or enum) and one it would refuse itself
    manifest = batch.csv_manifest([[batch.bucket, "a.mp4"]], ["Bucket", "Key"])
    unvalidated = unvalidated_s3control(batch.endpoint)
    generator = batch.generator()
    generator["S3JobManifestGenerator"]["EnableManifestOutput"] = True
    only_1_0 = {"FunctionArn": FUNCTION_ARN, "InvocationSchemaVersion": "1.0", "UserArguments": {"a": "b"}}
    cases: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: batch.create(Manifest=manifest, Priority=2147483648),
            "Value '2147483648' at 'priority' failed to satisfy constraint: "
            "Member must have value less than or equal to 2147483647",
        ),
        (
            lambda: batch.create(Manifest=manifest, ClientRequestToken="t" * 65),
            "at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 64",
        ),
        (
            lambda: unvalidated.create_job(
                AccountId=ACCOUNT,
                Operation={"LambdaInvoke": {"FunctionArn": FUNCTION_ARN}},
                Manifest=manifest,
                Priority=1,
                RoleArn=ROLE_ARN,
                ClientRequestToken="no-report",
            ),
            "Value null at 'report' failed to satisfy constraint: Member must not be null",
        ),
        (
            lambda: batch.create(Manifest=manifest, RoleArn="arn:aws:iam::1:user/me"),
            "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern",
        ),
        (
            lambda: batch.create(Manifest=manifest, Operation={"S3PutObjectTagging": {"TagSet": []}}),
            "runs LambdaInvoke jobs only; S3PutObjectTagging is not supported here",
        ),
        (
            lambda: batch.create(Manifest=manifest, Operation={"LambdaInvoke": only_1_0}),
            "UserArguments need InvocationSchemaVersion 2.0",
        ),
        (lambda: batch.create(schema="3.0", Manifest=manifest), "InvocationSchemaVersion must be 1.0 or 2.0"),
        (lambda: batch.create(), "exactly one of Manifest and ManifestGenerator"),
        (lambda: batch.create(ManifestGenerator=generator), "does not write generated manifests"),
    ]
    for call, expected in cases:
        # When each is sent
        code, message, status = error_of(call)
        # Then S3 Control refuses it with InvalidRequest, saying why
        assert (code, status) == ("InvalidRequest", 400), message
        assert expected in message
    assert batch.function.events == [] and batch.s3control.list_jobs(AccountId=ACCOUNT)["Jobs"] == []


def test_the_job_reads_writes_and_invokes_as_its_role(batch: BatchSandbox) -> None:
    # Given a job over one object, with every call the service makes on the job's behalf recorded
    batch.put("a.mp4")
    manifest = batch.csv_manifest([[batch.bucket, "a.mp4"]], ["Bucket", "Key"])
    batch.finished(batch.create(Manifest=manifest))
    # Then the manifest read, the report writes and the invocation were all the role's
    made = [(c.service, c.operation, c.caller) for c in batch.calls]
    role = f"role:{ROLE_ARN}"
    assert ("s3", "GetObject", role) in made and ("lambda", "Invoke", role) in made
    assert made.count(("s3", "PutObject", role)) == 2  # the succeeded results file and manifest.json
    assert {caller for _, _, caller in made} == {role}
    [invoke] = [c for c in batch.calls if c.operation == "Invoke"]
    assert invoke.params["FunctionName"] == FUNCTION_ARN and (invoke.region, invoke.account) == ("us-east-1", ACCOUNT)


def test_local_clients_reach_the_endpoint_and_other_s3_control_apis_stay_motos(batch: BatchSandbox) -> None:
    # Given S3 Control's endpoint rules, which put the account id in front of any endpoint's host
    plain = endpoint_client(batch.endpoint, "s3control")
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.url)
        raise RuntimeError("captured")

    plain.meta.events.register("before-send.s3-control", capture)
    with pytest.raises(RuntimeError):
        plain.list_jobs(AccountId=ACCOUNT)
    # Then a plain client would ask a host no resolver knows, while the local client asks the endpoint
    assert sent == [batch.endpoint.url.replace("//", f"//{ACCOUNT}.") + "/v20180820/jobs"]
    local = local_endpoint_client("s3control", batch.endpoint.url, "us-east-1", "operator")
    assert local.list_jobs(AccountId=ACCOUNT)["Jobs"] == []
    # And S3 Control APIs that are not Batch Operations' still go to moto
    block = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    local.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=block)
    assert local.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"] == block
    code, _, status = error_of(lambda: local.get_job_tagging(AccountId=ACCOUNT, JobId="abcde"))
    assert (code, status) == ("NotImplemented", 501)


def unvalidated_s3control(endpoint: LocalEndpoint) -> Any:
    """An S3 Control client that sends what botocore would refuse (to see what the endpoint answers)."""
    client = boto3.session.Session().client(
        "s3control",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )
    keep_endpoint_host(client, endpoint.url)
    return client

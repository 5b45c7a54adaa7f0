"""What S3 Batch Operations sends a LambdaInvoke job's function for one task, and how it reads the answer.

The request, one task per invocation (AWS: "Amazon S3 invokes the Lambda function synchronously for each object in
the manifest"), in AWS's field order:

- schema 1.0 (https://docs.aws.amazon.com/lambda/latest/dg/services-s3-batch.html,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html)::

    {"invocationSchemaVersion": "1.0", "invocationId": "…", "job": {"id": "…"},
     "tasks": [{"taskId": "…", "s3Key": "<URL-encoded>", "s3VersionId": "…" | null,
                "s3BucketArn": "arn:aws:s3:::bucket"}]}

- schema 2.0 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_LambdaInvokeOperation.html: "uses bucket
  name rather than bucket ARN", `UserArguments` "are passed in the payload"; the field names as Powertools' docs
  print AWS's 2.0 event)::

    {"invocationSchemaVersion": "2.0", "invocationId": "…", "job": {"id": "…", "userArguments": {…}},
     "tasks": [{"taskId": "…", "s3Key": "<URL-encoded>", "s3VersionId": "…" | null, "s3Bucket": "bucket"}]}

  (`userArguments` is {} for a 2.0 job without UserArguments; a task's taskId stays the same across its redrives,
  each invocation has a new invocationId.)

Keys are URL-encoded ("keys from S3 Batch Operations are URL encoded … URL decode the key", batch-ops-invoke-lambda):
a CSV manifest's Key field, which AWS requires URL-encoded, is passed on as written; a generated manifest's keys are
encoded here with `encode_key` (space → %20, + → %2B, % → %25, UTF-8 bytes → %XX, "/" kept), which both
`urllib.parse.unquote` (AWS's example function) and `unquote_plus` (Powertools) decode back to the key.

The answer: `{"invocationSchemaVersion", "treatMissingKeysAs", "invocationId", "results": [{"taskId", "resultCode",
"resultString"}]}`. `Succeeded` and `PermanentFailure` are final; `TemporaryFailure` "will be redriven before the job
completes" and, "if this is the final redrive, the error message is included in the final report". A function error
(the invocation failed) fails the task: the completion-report example shows a timed-out function as
`…,failed,200,PermanentFailure,"Lambda returned function error: {""errorMessage"":…}"`
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html), and a response S3 cannot
read is "Invalid JSON returned in Lambda payload" (batch-ops-invoke-lambda).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

SCHEMA_VERSIONS = ("1.0", "2.0")
SUCCEEDED = "Succeeded"
TEMPORARY_FAILURE = "TemporaryFailure"
PERMANENT_FAILURE = "PermanentFailure"
RESULT_CODES = (SUCCEEDED, TEMPORARY_FAILURE, PERMANENT_FAILURE)
INVALID_RESPONSE = "Invalid JSON returned in Lambda payload"
FUNCTION_ERROR = "Lambda returned function error: "
LAMBDA_OK = 200  # the HTTP status of an Invoke that reached the function (a function error is reported with it)


@dataclass(frozen=True)
class Task:
    """One object of a job's manifest: its bucket, its key URL-encoded as S3 sends it, and its version (if named)."""

    bucket: str
    encoded_key: str
    version_id: str | None


@dataclass(frozen=True)
class Outcome:
    """One invocation's result for its task, as the completion report records it.

    `status` is the report's TaskStatus ("succeeded" | "failed"); a TemporaryFailure is "failed" too, but `retry`
    says the task is redriven while attempts remain.
    """

    status: Literal["succeeded", "failed"]
    http_status: int
    error_code: str
    message: str
    retry: bool = False


def encode_key(key: str) -> str:
    """An object key URL-encoded as a task carries it: everything but unreserved characters and "/" as %XX."""
    return quote(key, safe="/")


def new_id() -> str:
    """An opaque invocation or task id, shaped like AWS's (unpadded base64 text)."""
    return base64.b64encode(secrets.token_bytes(36)).decode("ascii")


def payload(
    schema: str,
    invocation_id: str,
    job_id: str,
    task_id: str,
    task: Task,
    user_arguments: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The event S3 Batch Operations invokes the function with for one task (see the module docstring)."""
    job: dict[str, Any] = {"id": job_id}
    entry: dict[str, Any] = {"taskId": task_id, "s3Key": task.encoded_key, "s3VersionId": task.version_id}
    if schema == "2.0":
        job["userArguments"] = dict(user_arguments or {})
        entry["s3Bucket"] = task.bucket
    else:
        entry["s3BucketArn"] = f"arn:aws:s3:::{task.bucket}"
    return {"invocationSchemaVersion": schema, "invocationId": invocation_id, "job": job, "tasks": [entry]}


def outcome(task_id: str, result: Any, error: Mapping[str, Any] | None) -> Outcome:
    """What one invocation means for its task.

    `error` is Lambda's error payload when the function failed ({"errorType", "errorMessage", …}); an error that
    carries a `statusCode` is the Invoke API refusing the call (no function ran, e.g. 404 ResourceNotFoundException
    for an unknown function): the task fails with that status, code and message, and a 5xx or 429 is redriven.
    """
    if error is not None:
        return _invoke_failure(error)
    if not isinstance(result, Mapping) or not isinstance(result.get("results"), list):
        return Outcome("failed", LAMBDA_OK, PERMANENT_FAILURE, INVALID_RESPONSE)
    entry = next((r for r in result["results"] if isinstance(r, Mapping) and r.get("taskId") == task_id), None)
    if entry is None:
        missing = result.get("treatMissingKeysAs")
        code = missing if missing in RESULT_CODES else PERMANENT_FAILURE
        return _coded(code, "")
    code, text = entry.get("resultCode"), entry.get("resultString")
    message = "" if text is None else str(text)
    if code not in RESULT_CODES:
        return Outcome("failed", LAMBDA_OK, PERMANENT_FAILURE, INVALID_RESPONSE)
    return _coded(str(code), message)


def _coded(code: str, message: str) -> Outcome:
    if code == SUCCEEDED:
        return Outcome("succeeded", LAMBDA_OK, "", message)
    return Outcome("failed", LAMBDA_OK, code, message, retry=code == TEMPORARY_FAILURE)


def _invoke_failure(error: Mapping[str, Any]) -> Outcome:
    status = error.get("statusCode")
    if isinstance(status, int) and not isinstance(status, bool):
        code = str(error.get("errorType") or "ServiceException")
        return Outcome("failed", status, code, str(error.get("errorMessage", "")), retry=status >= 500 or status == 429)
    body = {name: value for name, value in error.items() if name != "statusCode"}
    return Outcome("failed", LAMBDA_OK, PERMANENT_FAILURE, FUNCTION_ERROR + json.dumps(body, separators=(",", ":")))


def function_name(function_arn: str) -> str:
    """The function a LambdaInvoke FunctionArn names: a full or partial ARN, maybe qualified, or a bare name."""
    return function_arn.rsplit(":function:", 1)[-1].split(":")[0]

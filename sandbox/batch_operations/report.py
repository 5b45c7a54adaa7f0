"""A job's completion report, in the layout and format S3 Batch Operations writes.

From https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-examples-reports.html:

- `<Prefix>/job-<JobId>/manifest.json`: `{"Format": "Report_CSV_20180820", "ReportCreationDate":
  "2019-04-05T17:48:39.725Z", "Results": [{"TaskExecutionStatus": "succeeded" | "failed", "Bucket", "MD5Checksum",
  "Key"}], "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}`, listing
  "each succeeded report and (if the job had any failures) the location of failed reports";
- `<Prefix>/job-<JobId>/results/<40 hex digits>.csv`: one file of succeeded and one of failed tasks, no header row.

The rows follow AWS's example rows, which put the HTTP status before the error code even though ReportSchema names
them the other way round: `bucket,key,,succeeded,200,,<resultString>` and
`bucket,key,,failed,200,PermanentFailure,"Lambda returned function error: …"` (CSV-quoted where needed).
FailedTasksOnly reports leave the succeeded file out. Keys are written as the tasks carried them (URL-encoded).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.batch_operations.invocation import Outcome, Task

REPORT_FORMAT = "Report_CSV_20180820"
REPORT_SCHEMA = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
ALL_TASKS = "AllTasks"
FAILED_TASKS_ONLY = "FailedTasksOnly"
_STATUSES = ("succeeded", "failed")  # the order of AWS's example manifest


@dataclass(frozen=True)
class TaskResult:
    """A task and its final outcome."""

    task: Task
    outcome: Outcome


def job_folder(prefix: str | None, job_id: str) -> str:
    """`<Prefix>/job-<JobId>` (just `job-<JobId>` without a prefix; a trailing "/" of the prefix is not doubled)."""
    folder = f"job-{job_id}"
    return f"{prefix.rstrip('/')}/{folder}" if prefix and prefix.rstrip("/") else folder


def report_objects(
    bucket: str, prefix: str | None, scope: str, job_id: str, results: Sequence[TaskResult], now: datetime
) -> list[tuple[str, bytes]]:
    """(key, body) of every object of the report, the results files first and manifest.json last."""
    folder = job_folder(prefix, job_id)
    statuses = ("failed",) if scope == FAILED_TASKS_ONLY else _STATUSES
    objects: list[tuple[str, bytes]] = []
    entries = []
    for status in statuses:
        rows = [result for result in results if result.outcome.status == status]
        if not rows:
            continue
        body = _csv(rows)
        name = hashlib.sha1(f"{job_id}/{status}".encode(), usedforsecurity=False).hexdigest()
        key = f"{folder}/results/{name}.csv"
        objects.append((key, body))
        entries.append(
            {
                "TaskExecutionStatus": status,
                "Bucket": bucket,
                "MD5Checksum": hashlib.md5(body, usedforsecurity=False).hexdigest(),
                "Key": key,
            }
        )
    manifest = {
        "Format": REPORT_FORMAT,
        "ReportCreationDate": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "Results": entries,
        "ReportSchema": REPORT_SCHEMA,
    }
    objects.append((f"{folder}/manifest.json", json.dumps(manifest, indent=4).encode()))
    return objects


def _csv(results: Sequence[TaskResult]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for result in results:
        task, outcome = result.task, result.outcome
        writer.writerow(
            [
                task.bucket,
                task.encoded_key,
                task.version_id or "",
                outcome.status,
                outcome.http_status,
                outcome.error_code,
                outcome.message,
            ]
        )
    return buffer.getvalue().encode()

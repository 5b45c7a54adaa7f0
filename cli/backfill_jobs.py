"""`modlake backfill`'s S3 Batch Operations side: the stack's batch outputs, creating and finding modlake jobs, and
`--status`: a job's progress and, once it is done, the failed tasks from its completion report."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError
from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cli.errors import CliError, Unreachable
from cli.output import moment, plain
from cli.target import Target
from functions.common.adapters.clients import error_code
from functions.common.backfill import DEFAULT_REKOGNITION_PRICE_PER_MINUTE, JOB_DESCRIPTION_PREFIX, REPORT_PREFIX

BACKFILL_OUTPUTS = ("BackfillFunctionArn", "BatchOperationsRoleArn")
PRICE_OUTPUT = "RekognitionPricePerMinute"
JOB_PRIORITY = 10
INVOCATION_SCHEMA_VERSION = "2.0"
MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
MANIFEST_FIELDS = ["Bucket", "Key", "VersionId"]
REPORT_FORMAT = "Report_CSV_20180820"
# Jobs that may still run tasks: a second job on the same selection would moderate the same videos twice.
UNFINISHED_STATUSES = ("New", "Preparing", "Suspended", "Ready", "Active", "Pausing", "Paused", "Completing")
FINISHED_STATUSES = frozenset({"Complete", "Failed", "Cancelled"})
WATCH_INTERVAL_SECONDS = 10.0
FAILURES_SHOWN = 100
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>\d{12}):role/.+$")  # the model's RoleArn pattern
_JOB_ID = re.compile(r"^[a-zA-Z0-9\-_]{5,36}$")  # the model's JobId pattern and lengths
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_STATUS_STYLE = {"Complete": "green", "Failed": "red", "Cancelled": "dim", "Active": "cyan"}


@dataclass(frozen=True)
class BatchStack:
    """What S3 Batch Operations needs from the stack: the batch function, the role it assumes, where reports go."""

    function_arn: str
    role_arn: str
    analytics_bucket: str

    @property
    def account_id(self) -> str:
        """The account that owns the jobs (CreateJob's AccountId): the role's."""
        return _role_parts(self.role_arn)["account"]

    @property
    def partition(self) -> str:
        """aws, aws-cn, aws-us-gov: the partition in the bucket and object ARNs."""
        return _role_parts(self.role_arn)["partition"]

    def s3_arn(self, bucket: str, key: str | None = None) -> str:
        """An S3 bucket or object ARN in the stack's partition."""
        return f"arn:{self.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _role_parts(role_arn: str) -> dict[str, str]:
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise CliError(f"the stack's BatchOperationsRoleArn {role_arn!r} is not an IAM role ARN")
    return match.groupdict()


def missing_backfill_outputs(target: Target) -> list[str]:
    """The batch outputs a stack deployed before backfill existed lacks."""
    return [name for name in BACKFILL_OUTPUTS if name not in target.outputs]


def predates_backfill(target: Target, missing: list[str]) -> str:
    """The message for a stack without the batch outputs."""
    redeploy = "restart it with `modlake up`" if target.is_local else "redeploy it (`make deploy`)"
    return f"{target.description} predates backfill (no output {', '.join(missing)}): {redeploy}"


def batch_stack(target: Target) -> BatchStack:
    """The stack's batch outputs, or the one-line error that the stack predates backfill."""
    missing = missing_backfill_outputs(target)
    if missing:
        raise Unreachable(predates_backfill(target, missing))
    stack = BatchStack(
        function_arn=target.output("BackfillFunctionArn"),
        role_arn=target.output("BatchOperationsRoleArn"),
        analytics_bucket=target.output("AnalyticsBucketName"),
    )
    _role_parts(stack.role_arn)  # a malformed role fails here, before anything is listed or written
    return stack


def price_per_minute(target: Target) -> float:
    """The stack's Rekognition price per video minute (an output), else the first-tier default."""
    text = target.outputs.get(PRICE_OUTPUT)
    if text is None:
        return DEFAULT_REKOGNITION_PRICE_PER_MINUTE
    try:
        price = float(text)
    except ValueError:
        raise CliError(f"the stack's {PRICE_OUTPUT} output {text!r} is not a number") from None
    if price < 0 or price != price:  # NaN is not a price either
        raise CliError(f"the stack's {PRICE_OUTPUT} output {text!r} is not a price")
    return price


def print_json(data: Any, console: Console) -> None:
    """Data as indented JSON on the console's stream, untouched by rich (no wrapping, markup or highlighting)."""
    console.file.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# --- jobs ----------------------------------------------------------------------------------------
def modlake_jobs(s3control: Any, account_id: str, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every modlake backfill job in the account (ListJobs has no paginator: NextToken by hand), newest first."""
    jobs: list[dict[str, Any]] = []
    args: dict[str, Any] = {"AccountId": account_id, "MaxResults": 1000}
    if statuses:
        args["JobStatuses"] = list(statuses)
    while True:
        page = s3control.list_jobs(**args)
        jobs += [job for job in page.get("Jobs", []) if job.get("Description", "").startswith(JOB_DESCRIPTION_PREFIX)]
        if not page.get("NextToken"):
            break
        args["NextToken"] = page["NextToken"]
    jobs.sort(key=lambda job: job.get("CreationTime") or datetime.min, reverse=True)
    return jobs


def unfinished_job(s3control: Any, account_id: str, description: str) -> dict[str, Any] | None:
    """The newest modlake job on exactly this selection that may still run tasks, if any."""
    for job in modlake_jobs(s3control, account_id, UNFINISHED_STATUSES):
        if job.get("Description") == description:
            return job
    return None


def create_job(
    s3control: Any, stack: BatchStack, *, manifest_key: str, manifest_etag: str, token: str, description: str
) -> str:
    """CreateJob: the batch function on every manifest row, a report of all tasks, no confirmation; its JobId."""
    response = s3control.create_job(
        AccountId=stack.account_id,
        ConfirmationRequired=False,
        Operation={
            "LambdaInvoke": {"FunctionArn": stack.function_arn, "InvocationSchemaVersion": INVOCATION_SCHEMA_VERSION}
        },
        Manifest={
            "Spec": {"Format": MANIFEST_FORMAT, "Fields": list(MANIFEST_FIELDS)},
            "Location": {"ObjectArn": stack.s3_arn(stack.analytics_bucket, manifest_key), "ETag": manifest_etag},
        },
        Report={
            "Bucket": stack.s3_arn(stack.analytics_bucket),
            "Prefix": REPORT_PREFIX,
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "ReportScope": "AllTasks",
        },
        Priority=JOB_PRIORITY,
        RoleArn=stack.role_arn,
        ClientRequestToken=token,
        Description=description,
    )
    return str(response["JobId"])


def check_job_id(job_id: str) -> str:
    """A JOB argument as DescribeJob takes it (5–36 letters, digits, '-', '_'), else a one-line error."""
    if not _JOB_ID.match(job_id):
        raise CliError(f"{job_id!r} is not an S3 Batch Operations job id (5–36 letters, digits, '-' or '_')")
    return job_id


def describe_job(s3control: Any, account_id: str, job_id: str) -> dict[str, Any]:
    """DescribeJob's Job; an unknown id is a one-line error."""
    try:
        job: dict[str, Any] = s3control.describe_job(AccountId=account_id, JobId=job_id)["Job"]
    except ClientError as error:
        if error_code(error) in {"NoSuchJob", "NotFoundException", "NoSuchJobException"}:
            raise CliError(f"no S3 Batch Operations job {job_id} in account {account_id}") from None
        raise
    return job


# --- completion reports --------------------------------------------------------------------------
@dataclass(frozen=True)
class FailedTask:
    """One failed task of a completion report: the object (key decoded) and why it failed."""

    bucket: str
    key: str
    version_id: str | None
    error_code: str
    http_status: str
    reason: str


@dataclass(frozen=True)
class CompletionReport:
    """Where a job's report is, whether S3 has written it, and its failed tasks."""

    uri: str
    written: bool
    failures: list[FailedTask]


def report_manifest_key(prefix: str, job_id: str) -> str:
    """S3 Batch Operations writes `<prefix>/job-<id>/manifest.json` (no prefix: `job-<id>/manifest.json`)."""
    folder = prefix.strip("/")
    return f"{folder}/job-{job_id}/manifest.json" if folder else f"job-{job_id}/manifest.json"


def parse_report_rows(text: str) -> list[FailedTask]:
    """Result CSV rows Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage.

    AWS's published schema puts ErrorCode before HTTPStatusCode while its example rows put the HTTP status first
    (`…,failed,200,PermanentFailure,"Lambda returned …"`): the column that is a number is the HTTP status.
    """
    failures = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 4 or row[3].lower() != "failed":
            continue
        row = row + [""] * (7 - len(row))
        first, second = row[4], row[5]
        http_status, code = (first, second) if first.isdigit() or not second.isdigit() else (second, first)
        failures.append(
            FailedTask(
                bucket=row[0],
                key=unquote_plus(row[1]),  # report keys are URL-encoded, as in the manifest
                version_id=row[2] or None,
                error_code=code,
                http_status=http_status,
                reason=",".join(row[6:]).strip(),
            )
        )
    return failures


def read_report(s3: Any, job: dict[str, Any]) -> CompletionReport | None:
    """The job's completion report (None when the job asked for none): manifest.json, then each failed-task CSV."""
    report = job.get("Report") or {}
    if not report.get("Enabled") or not report.get("Bucket"):
        return None
    bucket = str(report["Bucket"]).split(":::", 1)[-1]
    key = report_manifest_key(str(report.get("Prefix", "")), str(job["JobId"]))
    uri = f"s3://{bucket}/{key}"
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return CompletionReport(uri, written=False, failures=[])
        raise
    failures: list[FailedTask] = []
    for result in manifest.get("Results", []):
        if str(result.get("TaskExecutionStatus", "")).lower() != "failed":
            continue
        body = s3.get_object(Bucket=result.get("Bucket", bucket), Key=result["Key"])["Body"].read()
        failures += parse_report_rows(body.decode("utf-8"))
    return CompletionReport(uri, written=True, failures=failures)


# --- --status ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobView:
    """A job as DescribeJob tells it, with its completion report once it is finished."""

    job: dict[str, Any]
    report: CompletionReport | None = None

    @property
    def status(self) -> str:
        return str(self.job.get("Status", ""))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def tasks(self) -> tuple[int, int, int]:
        """(succeeded, failed, total)."""
        summary = self.job.get("ProgressSummary") or {}
        return (
            int(summary.get("NumberOfTasksSucceeded", 0)),
            int(summary.get("NumberOfTasksFailed", 0)),
            int(summary.get("TotalNumberOfTasks", 0)),
        )

    @property
    def percent(self) -> float:
        """How much of the job's tasks are done (succeeded or failed); 100 once a finished job ran none."""
        succeeded, failed, total = self.tasks
        if total == 0:
            return 100.0 if self.finished else 0.0
        return 100.0 * (succeeded + failed) / total

    def to_json(self) -> dict[str, Any]:
        succeeded, failed, total = self.tasks
        created = self.job.get("CreationTime")
        return {
            "job_id": self.job.get("JobId"),
            "description": self.job.get("Description"),
            "status": self.status,
            "created": created.isoformat() if isinstance(created, datetime) else created,
            "tasks_succeeded": succeeded,
            "tasks_failed": failed,
            "tasks_total": total,
            "percent": self.percent,
            "failure_reasons": self.job.get("FailureReasons", []),
            "report": None
            if self.report is None
            else {
                "uri": self.report.uri,
                "written": self.report.written,
                "failed_tasks": [asdict(task) for task in self.report.failures],
            },
        }


def job_view(target: Target, job_id: str | None) -> JobView:
    """DescribeJob of JOB (default: the newest modlake job), with the failed tasks once it is finished."""
    stack = batch_stack(target)
    s3control = target.client("s3control")
    if job_id is None:
        jobs = modlake_jobs(s3control, stack.account_id)
        if not jobs:
            raise CliError("no modlake backfill job yet: see what one would cost with `modlake backfill`")
        job_id = str(jobs[0]["JobId"])
    job = describe_job(s3control, stack.account_id, check_job_id(job_id))
    return finished_view(target, job)


def finished_view(target: Target, job: dict[str, Any]) -> JobView:
    """The view of a described job, reading its report when the job is finished."""
    view = JobView(job)
    if view.finished:
        return JobView(job, read_report(target.client("s3"), job))
    return view


def watch_job(
    target: Target,
    job_id: str | None,
    console: Console,
    *,
    interval: float = WATCH_INTERVAL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> JobView:
    """Poll DescribeJob until the job is finished, redrawing its progress on a terminal; then the final view."""
    view = job_view(target, job_id)
    stack = batch_stack(target)
    with Live(console=console, transient=True, auto_refresh=False) as live:
        while not view.finished:
            live.update(job_summary(view), refresh=True)
            sleep(interval)
            view = finished_view(target, describe_job(target.client("s3control"), stack.account_id, job_id_of(view)))
    return view


def job_id_of(view: JobView) -> str:
    return str(view.job["JobId"])


def progress_line(view: JobView) -> Table:
    """The job's bar, percent and task counts on one line."""
    succeeded, failed, total = view.tasks
    done = succeeded + failed
    line = Table.grid(padding=(0, 1))
    line.add_row(
        ProgressBar(total=max(total, 1), completed=done if total else (1 if view.finished else 0), width=40),
        Text(f"{view.percent:.0f}%"),
        Text(f"{succeeded} succeeded, {failed} failed of {total} tasks"),
    )
    return line


def job_summary(view: JobView) -> Table:
    """The job's id, selection, status, times and progress."""
    job = view.job
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("job", plain(job.get("JobId")))
    table.add_row("selection", plain(job.get("Description")))
    table.add_row("status", Text(view.status, style=_STATUS_STYLE.get(view.status, "")))
    if job.get("StatusUpdateReason"):
        table.add_row("reason", plain(job["StatusUpdateReason"]))
    table.add_row("created", moment(job.get("CreationTime")))
    if job.get("TerminationDate"):
        table.add_row("finished", moment(job["TerminationDate"]))
    table.add_row("tasks", progress_line(view))
    for failure in job.get("FailureReasons", []):
        table.add_row("job failure", plain(f"{failure.get('FailureCode', '')}: {failure.get('FailureReason', '')}"))
    return table


def render_job(view: JobView, console: Console, *, as_json: bool = False) -> None:
    """The job summary, then (finished) the failed tasks from its completion report; or all of it as JSON."""
    if as_json:
        print_json(view.to_json(), console)
        return
    parts: list[RenderableType] = [job_summary(view)]
    report = view.report
    if view.finished and report is None:
        parts.append(Text("the job wrote no completion report"))
    elif report is not None and not report.written:
        parts.append(plain(f"no completion report at {report.uri}"))
    elif report is not None and not report.failures:
        parts.append(plain(f"no failed tasks (report: {report.uri})"))
    elif report is not None:
        parts += [Text(""), plain(f"{len(report.failures)} failed tasks (report: {report.uri})")]
        failures = Table("failed object", "version", "error", "reason")
        for task in report.failures[:FAILURES_SHOWN]:
            failures.add_row(plain(task.key), plain(task.version_id), plain(task.error_code), plain(task.reason))
        parts.append(failures)
        if len(report.failures) > FAILURES_SHOWN:
            parts.append(Text(f"… and {len(report.failures) - FAILURES_SHOWN} more (all of them: --json)"))
    for part in parts:
        console.print(part, soft_wrap=isinstance(part, Text))  # a long report URI stays on one line

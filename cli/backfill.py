"""`modlake backfill`: moderate what is already in the media bucket through one S3 Batch Operations job, after a
dry run that lists the current versions, leaves out what the pipeline already holds, and reads each remaining
video's movie header (a few ranged GETs, no download) to estimate the Rekognition minutes and their cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cli.backfill_jobs import (
    BatchStack,
    batch_stack,
    create_job,
    missing_backfill_outputs,
    predates_backfill,
    price_per_minute,
    print_json,
    unfinished_job,
)
from cli.backfill_plan import (
    BackfillPlan,
    HeaderReading,
    Selection,
    StoredObject,
    duration_limit_seconds,
    job_description,
    manifest_body,
    manifest_key,
    parse_selection,
    select_candidates,
    sort_candidates,
)
from cli.errors import CliError
from cli.output import file_size, plain
from cli.target import Target
from cli.upload import upload_rules
from functions.common.adapters.clients import error_code
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.adapters.s3 import S3MediaObjects
from functions.common.containers import NotAMovie, read_movie_header
from functions.common.errors import ReadIncomplete

HEADER_READERS = 16  # concurrent header reads: each is one or two small ranged GETs
UNREADABLE_SHOWN = 10


@dataclass(frozen=True)
class BackfillRequest:
    """The command line's selection, resolved against the stack (bucket, its key prefix and suffixes)."""

    selection: Selection
    suffixes: tuple[str, ...]
    rules_from_stack: bool
    max_video_minutes: float = 0.0


def backfill_request(target: Target, uri: str | None, since: date | None, until: date | None) -> BackfillRequest:
    """The selection within the media bucket and the stack's own prefix, with the suffixes the stack moderates."""
    rules = upload_rules(target)  # the start function's KEY_PREFIX and VIDEO_SUFFIXES where visible
    selection = parse_selection(
        uri, media_bucket=target.output("MediaBucketName"), stack_prefix=rules.key_prefix, since=since, until=until
    )
    return BackfillRequest(selection, tuple(rules.video_suffixes), rules.from_stack, rules.max_video_minutes)


# --- listing -------------------------------------------------------------------------------------
def current_objects(s3: Any, selection: Selection) -> Iterator[StoredObject]:
    """The current version of every object under the prefix (delete markers and older versions skipped).

    ListObjectVersions works on unversioned buckets too (every version is "null" and latest).
    """
    args = {"Bucket": selection.bucket} | ({"Prefix": selection.prefix} if selection.prefix else {})
    for page in s3.get_paginator("list_object_versions").paginate(**args):
        for version in page.get("Versions", []):
            if not version.get("IsLatest"):
                continue
            version_id = version.get("VersionId")
            yield StoredObject(
                bucket=selection.bucket,
                key=version["Key"],
                version_id=None if version_id in (None, "null") else version_id,
                etag=str(version.get("ETag", "")).strip('"'),
                size=int(version.get("Size", 0)),
                last_modified=version["LastModified"].astimezone(UTC),
            )


def summary_statuses(
    dynamodb: Any, table: str, video_ids: Sequence[str], sleep: Callable[[float], None] = time.sleep
) -> dict[str, str]:
    """The summary status of each video id that has one (the store's BatchGetItem read)."""
    try:
        return DynamoVideoStore(dynamodb, table, sleep=sleep).statuses(video_ids)
    except ReadIncomplete as error:
        raise CliError(f"DynamoDB left {error}: retry") from None


# --- movie headers -------------------------------------------------------------------------------
class _Counter:
    """A thread-safe count of ranged GETs."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


def read_header(media: S3MediaObjects, obj: StoredObject, gets: _Counter) -> HeaderReading:
    """The movie header of one exact version, by ranged GETs of that version only."""
    video = obj.video

    def read(offset: int, length: int) -> bytes:
        gets.add()
        return media.read_range(video, offset, length)

    try:
        header = read_movie_header(read, obj.size)
    except NotAMovie as not_a_movie:
        return HeaderReading(problem=str(not_a_movie))
    return HeaderReading(seconds=header.seconds)


def read_headers(
    s3: Any, objects: Sequence[StoredObject], on_read: Callable[[], None] = lambda: None
) -> tuple[dict[tuple[str, str], HeaderReading], int]:
    """Each object's header, read concurrently; and how many ranged GETs that took."""
    media = S3MediaObjects(s3)
    gets = _Counter()
    readings: dict[tuple[str, str], HeaderReading] = {}
    pool = ThreadPoolExecutor(max_workers=HEADER_READERS, thread_name_prefix="modlake-header")
    try:
        futures: dict[Future[HeaderReading], StoredObject] = {
            pool.submit(read_header, media, obj, gets): obj for obj in objects
        }
        for future in as_completed(futures):
            readings[futures[future].identity] = future.result()  # an S3 error (access denied) stops the dry run
            on_read()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return readings, gets.value


# --- the plan ------------------------------------------------------------------------------------
def plan_backfill(target: Target, request: BackfillRequest, *, progress_console: Console | None = None) -> BackfillPlan:
    """List, leave out what the pipeline holds, read the rest's headers: the dry run's numbers."""
    selection = request.selection
    s3 = target.client("s3")
    with _progress(progress_console) as progress:
        listing = progress.add_task(f"listing {selection.uri}", total=None)
        listed: list[StoredObject] = []
        for obj in current_objects(s3, selection):
            listed.append(obj)
            progress.advance(listing)
        progress.update(listing, total=len(listed), completed=len(listed))
        candidates = select_candidates(listed, selection, request.suffixes)
        ids = [obj.video.video_id for obj in candidates if obj.size > 0]
        statuses = summary_statuses(target.client("dynamodb"), target.output("VideosTableName"), ids)
        split = sort_candidates(candidates, statuses)
        wanted = split.needing_header
        reading: TaskID = progress.add_task("reading movie headers", total=len(wanted))
        headers, gets = read_headers(s3, wanted, on_read=lambda: progress.advance(reading))
    return BackfillPlan(
        selection=selection,
        candidates=candidates,
        sorted=split,
        headers=headers,
        price_per_minute=price_per_minute(target),
        ranged_gets=gets,
        max_video_seconds=duration_limit_seconds(request.max_video_minutes),
    )


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=console is None or not console.is_terminal,  # progress is for people watching, not for logs
    )


def minutes_over(plan: BackfillPlan, max_minutes: float | None) -> str | None:
    """Why --max-minutes refuses this plan, or None."""
    if max_minutes is None or plan.video_minutes <= max_minutes:
        return None
    return f"{plan.video_minutes:.2f} video minutes exceed --max-minutes {max_minutes:g}"


def dollars(amount: float) -> str:
    """$12.34; an amount under a cent but above zero reads as <$0.01 instead of $0.00."""
    return "<$0.01" if 0 < amount < 0.005 else f"${amount:,.2f}"


def render_plan(plan: BackfillPlan, console: Console) -> None:
    """The dry run's table, then what it leaves out without minutes and why."""
    table = Table(show_header=False, box=None, pad_edge=False, title_justify="left")
    table.title = Text(f"backfill {plan.selection.uri} (uploaded {plan.selection.days}, UTC)", style="bold")
    table.add_column(style="dim")
    table.add_column(justify="right")
    table.add_column(style="dim")
    rows: list[tuple[str, str, str]] = [
        ("candidates", str(len(plan.candidates)), "current versions with a video suffix"),
        ("empty (left out)", str(len(plan.sorted.empty)), "0 bytes: nothing to moderate"),
        ("already moderated", str(len(plan.sorted.moderated)), "an outcome for that exact version"),
        ("already waiting or running", str(len(plan.sorted.waiting)), "QUEUED or IN_PROGRESS"),
        ("to moderate", str(len(plan.to_moderate)), "the job's manifest"),
        ("  of which unreadable headers", str(len(plan.unreadable)), "sent anyway, reported as failures; no minutes"),
        ("  of which duration unknown", str(len(plan.unknown_duration)), "sent; no minutes counted"),
        (
            f"  of which over {plan.duration_limit}",
            str(len(plan.over_time_limit)),
            "the pipeline skips them; no minutes",
        ),
        ("  of which over 10 GB", str(len(plan.over_size_limit)), "the pipeline skips them; no minutes"),
        ("total bytes", f"{plan.total_bytes:,}", file_size(plan.total_bytes)),
        ("video minutes", f"{plan.video_minutes:,.2f}", f"{plan.video_seconds:,.1f} s"),
        (
            "estimated Rekognition cost",
            dollars(plan.rekognition_cost),
            f"(estimate at {dollars(plan.price_per_minute)} per minute)",
        ),
        (
            "S3 Batch Operations cost",
            dollars(plan.s3_batch_cost),
            "one job" if plan.to_moderate else "no job needed",
        ),
        ("ranged GETs made", str(plan.ranged_gets), "to read the movie headers"),
    ]
    for label, value, note in rows:
        table.add_row(label, value, note)
    console.print(table)
    for obj, reason in plan.unreadable[:UNREADABLE_SHOWN]:
        console.print(plain(f"not a movie: {obj.key} ({obj.version_id or 'unversioned'}): {reason}"), soft_wrap=True)
    if len(plan.unreadable) > UNREADABLE_SHOWN:
        console.print(f"… and {len(plan.unreadable) - UNREADABLE_SHOWN} more that are not movies (all of them: --json)")


def dry_run_notes(target: Target, request: BackfillRequest) -> list[str]:
    """What the operator should know before --yes: an old stack, or suffixes/prefix not read from the stack."""
    notes = []
    missing = missing_backfill_outputs(target)
    if missing:
        notes.append(predates_backfill(target, missing) + " before --yes")
    if not request.rules_from_stack:
        notes.append(
            f"the stack's suffixes and key prefix are not visible here: counted {', '.join(request.suffixes)} "
            "anywhere in the bucket"
        )
    return notes


# --- --yes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submission:
    """What --yes did: created (or was given back) a job, found one still running on the selection, or nothing."""

    outcome: str  # "created" | "running" | "nothing"
    job_id: str | None = None
    job_status: str | None = None
    manifest_uri: str | None = None
    objects: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "job_id": self.job_id,
            "job_status": self.job_status,
            "manifest": self.manifest_uri,
            "objects": self.objects,
        }


def running_job(target: Target, selection: Selection) -> Submission | None:
    """A modlake job on exactly this selection that may still run tasks (checked before anything is read)."""
    stack = batch_stack(target)
    job = unfinished_job(target.client("s3control"), stack.account_id, job_description(selection))
    if job is None:
        return None
    return Submission("running", job_id=str(job["JobId"]), job_status=str(job.get("Status", "")))


def submit_backfill(target: Target, plan: BackfillPlan) -> Submission:
    """Write the manifest (never over an existing one) and create the job; nothing when nothing needs moderating."""
    if not plan.to_moderate:
        return Submission("nothing")
    stack = batch_stack(target)
    key = manifest_key(plan.token)
    etag = write_manifest(target.client("s3"), stack, key, manifest_body(plan.to_moderate))
    job_id = create_job(
        target.client("s3control"),
        stack,
        manifest_key=key,
        manifest_etag=etag,
        token=plan.token,
        description=job_description(plan.selection),
    )
    return Submission(
        "created", job_id=job_id, manifest_uri=f"s3://{stack.analytics_bucket}/{key}", objects=len(plan.to_moderate)
    )


def write_manifest(s3: Any, stack: BatchStack, key: str, body: bytes) -> str:
    """PutObject only if the key is free; an existing manifest (same token: same selection) is kept. Its ETag."""
    try:
        response = s3.put_object(
            Bucket=stack.analytics_bucket, Key=key, Body=body, ContentType="text/csv", IfNoneMatch="*"
        )
    except ClientError as error:
        if error_code(error) not in {"PreconditionFailed", "412"}:
            raise
        response = s3.head_object(Bucket=stack.analytics_bucket, Key=key)
    return str(response["ETag"]).strip('"')


@dataclass(frozen=True)
class BackfillOutcome:
    """What one `modlake backfill` did: the plan (None when a running job made it moot), the job, and what to say."""

    plan: BackfillPlan | None
    submission: Submission | None = None
    notes: tuple[str, ...] = ()
    warning: str | None = None  # the dry run's --max-minutes excess
    refused: str | None = None  # --yes over --max-minutes: the error, printed after the numbers

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json() if self.plan else None,
            "job": self.submission.to_json() if self.submission else None,
        }


def run_backfill(
    target: Target,
    request: BackfillRequest,
    *,
    yes: bool,
    max_minutes: float | None,
    progress_console: Console | None = None,
) -> BackfillOutcome:
    """The dry run; with --yes, the job too, unless one runs on the selection or the minutes exceed --max-minutes."""
    if yes:
        batch_stack(target)  # a stack from before backfill fails before anything is listed
        running = running_job(target, request.selection)
        if running is not None:
            return BackfillOutcome(plan=None, submission=running)
    plan = plan_backfill(target, request, progress_console=progress_console)
    too_long = minutes_over(plan, max_minutes)
    if not yes:
        notes = tuple(dry_run_notes(target, request))
        return BackfillOutcome(plan, notes=notes, warning=f"{too_long}: --yes would refuse" if too_long else None)
    if too_long:
        return BackfillOutcome(
            plan, refused=f"{too_long}: no job created (narrow the selection or raise --max-minutes)"
        )
    return BackfillOutcome(plan, submission=submit_backfill(target, plan))


def render_backfill(outcome: BackfillOutcome, out: Console, err: Console, *, as_json: bool = False) -> None:
    """The numbers (table or JSON) and what --yes did on stdout; notes and warnings as `modlake:` lines on stderr."""
    if as_json:
        print_json(outcome.to_json(), out)
    else:
        if outcome.plan is not None:
            render_plan(outcome.plan, out)
            if outcome.submission is None and outcome.refused is None and outcome.plan.to_moderate:
                out.print("a dry run: add --yes to start the job", style="dim")
        if outcome.submission is not None:
            render_submission(outcome.submission, outcome.plan, out)
    for note in outcome.notes:
        err.print(f"modlake: note: {note}", markup=False, highlight=False, soft_wrap=True)
    if outcome.warning:
        err.print(f"modlake: warning: {outcome.warning}", markup=False, highlight=False, soft_wrap=True)


def render_submission(submission: Submission, plan: BackfillPlan | None, console: Console) -> None:
    """What --yes did, and how to follow the job."""
    if submission.outcome == "nothing":
        uri = plan.selection.uri if plan else "the selection"
        lines = [f"nothing to moderate in {uri}: no job created"]
    elif submission.outcome == "running":
        lines = [f"job {submission.job_id} is already {submission.job_status} on this selection: no new job created"]
    else:
        lines = [
            f"created S3 Batch Operations job {submission.job_id} for {submission.objects} videos "
            f"(manifest {submission.manifest_uri})"
        ]
    if submission.job_id:
        lines.append(f"follow it: modlake backfill --status {submission.job_id}")
        lines.append(
            "each video then waits for a free Rekognition slot (new uploads go first): modlake status shows them"
        )
    for line in lines:
        console.print(plain(line), soft_wrap=True)

"""What `modlake demo` and `modlake up` do, on the sandbox's LocalStack.

Only cli.sandbox_commands imports this module, and only inside those two commands: it loads the sandbox (moto,
DuckDB, PyAV, the CDK), which no other command needs.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from cli.announcement import RunningStack
from cli.application import CliState
from cli.dashboard import render_written, write_dashboard
from cli.digest import invoke_digest, render_digest_result
from cli.errors import CliError
from cli.labels import render_labels, video_labels
from cli.query import OutputFormat, athena_runner, render_query, run_query
from cli.target import Target
from cli.upload import check_video_files, planned_keys, render_uploads, upload_rules, upload_videos
from cli.videos import list_videos, render_video_table
from functions.common.models import VideoStatus
from sandbox.clips import write_sample_clips
from sandbox.faults import FaultPlan, FaultPlanError
from sandbox.rekognition.service import RekognitionSettings
from sandbox.stack.local_stack import LocalStack, SandboxSettings

DEMO_PREFIX = "demo/"
DEMO_DASHBOARD_DAYS = 7  # the demo's lake has today only: a week shows it as the end of a trend, not a lone bar
FINAL_STATUSES = frozenset({VideoStatus.SUCCEEDED, VideoStatus.FAILED, VideoStatus.SKIPPED, VideoStatus.DELETED})


def announcement_of(stack: LocalStack) -> RunningStack:
    """How another process reaches this stack (what `modlake up` announces, and the demo talks to)."""
    plan = stack.settings.faults
    return RunningStack(
        endpoint_url=stack.endpoint.url,
        health_url=stack.health_url,
        stack_name=stack.stack_name,
        region=stack.region,
        outputs=dict(stack.outputs),
        pid=os.getpid(),
        faults={service: rate for service, rate in plan.rates.items() if rate > 0},
        fault_seed=plan.seed,
    )


def fault_plan(faults: str, seed: int) -> FaultPlan:
    """`--faults` and `--fault-seed` as a plan; a bad one is one line naming the item (before anything starts)."""
    try:
        return FaultPlan.parse(faults, seed=seed)
    except FaultPlanError as error:
        raise CliError(f"--faults: {error}") from None


def quiet_request_logs() -> None:
    """The endpoint's per-request lines (werkzeug) would bury the output; warnings and errors still show."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def wait_for_outcomes(stack: LocalStack, target: Target, count: int, console: Console, timeout: float) -> None:
    """Wait until `count` videos reached a final status and the pipeline is quiet, showing progress."""
    deadline = time.monotonic() + timeout
    with console.status("moderating…") as status:
        while True:
            records = list_videos(target, limit=1000)
            states = Counter(str(record.status) for record in records)
            done = sum(states[str(s)] for s in FINAL_STATUSES)
            status.update(
                f"moderating: {done}/{count} done ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))})"
            )
            if done >= count and stack.settle(timeout=max(1.0, deadline - time.monotonic())):
                return
            if time.monotonic() > deadline:
                raise CliError(
                    f"the pipeline did not finish within {timeout:.0f} s ({done}/{count} videos done): "
                    f"raise --timeout for long videos, or see the function logs in {stack.settings.work_dir / 'logs'}"
                )
            time.sleep(0.5)


def export_lake(stack: LocalStack, folder: Path) -> list[Path]:
    """Copy the Parquet lake (and the archived digests) out of the in-memory S3 into `folder`."""
    s3 = stack.client("s3")
    bucket = stack.outputs["AnalyticsBucketName"]
    shutil.rmtree(folder, ignore_errors=True)  # only this run's objects
    written = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            path = folder / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
            written.append(path)
    return written


def run_demo(state: CliState, videos: Sequence[Path], classifier: str, out: Path, timeout: float) -> None:
    """`modlake demo`: start a local stack, upload, wait, and show every stage's output; stop the stack."""
    console, err = state.out, state.err
    started = time.monotonic()
    quiet_request_logs()
    files = check_video_files(list(videos)) if videos else write_sample_clips(out / "samples")
    settings = SandboxSettings(work_dir=out / "stack", classifier=classifier)
    with err.status("starting the local stack…") as status:
        stack = LocalStack(settings, progress=lambda message: status.update(message + "…"))
        stack.start()
    try:
        target = Target.local(announcement_of(stack))
        err.print(
            f"local stack up in {time.monotonic() - started:.0f} s ({stack.endpoint.url}, classifier {classifier})"
        )
        keys = planned_keys(files, DEMO_PREFIX, upload_rules(target))
        console.rule("1. upload → S3 → EventBridge → start queue")
        render_uploads(upload_videos(target, files, keys, progress_console=err), console)
        console.rule("2. start_moderation → Rekognition → SNS → collect_results → DynamoDB + Parquet")
        wait_for_outcomes(stack, target, len(files), err, timeout)
        records = list_videos(target, limit=len(files))
        render_video_table(records, console)
        for record in records:
            if record.status is VideoStatus.SUCCEEDED and record.summary and record.summary.label_count:
                console.print()
                render_labels(video_labels(target, record.video.key, record.video.version_id), console)
        console.rule("3. Athena over the Parquet lake (named query daily_volume)")
        today = datetime.now(UTC).date().isoformat()
        volume = run_query(target, "daily_volume", {"day_from": today, "day_to": today})
        render_query(volume, OutputFormat.TABLE, console)
        console.rule("4. send_digest: today's digest email (SNS topic; SES too when a sender is configured)")
        result = invoke_digest(target, datetime.now(UTC).date())
        render_digest_result(result, console)
        lake = export_lake(stack, out / "lake")
        archive = result.get("archive", {})
        text = out / "lake" / archive["text"] if "text" in archive else None
        if text is not None and text.is_file():
            console.print(text.read_text(encoding="utf-8"), markup=False, highlight=False, soft_wrap=True)
        console.rule("5. the dashboard: the views QuickSight charts, through Athena, as one HTML page")
        dashboard = write_dashboard(
            athena_runner(target), out / "dashboard.html", stack=target.description, days=DEMO_DASHBOARD_DAYS
        )
        render_written(dashboard, console, err)
        console.rule("where things are")
        parquet = [p for p in lake if p.suffix == ".parquet"]
        example = f", e.g. {parquet[0].relative_to(out)}" if parquet else ""
        console.print(f"Parquet lake: {out / 'lake'} ({len(parquet)} files{example})")
        if "html" in archive:
            console.print(f"Digest HTML:  {out / 'lake' / archive['html']}")
        console.print(f"Dashboard:    {dashboard.path}", markup=False, soft_wrap=True)
        console.print(f"Function logs: {settings.work_dir / 'logs'}")
        console.print(
            f"done in {time.monotonic() - started:.0f} s. Next: `make up` (the local stack stays up), then "
            "`.venv/bin/modlake --local upload|status|labels|review|query|digest|dashboard|backfill` "
            "in another terminal"
        )
    finally:
        stack.stop()


def run_up(
    state: CliState,
    port: int,
    classifier: str,
    max_concurrent_jobs: int | None,
    work_dir: Path,
    faults: str = "",
    fault_seed: int = 0,
) -> None:
    """`modlake up`: serve a local stack and announce it until SIGINT or SIGTERM."""
    plan = fault_plan(faults, fault_seed)
    quiet_request_logs()
    rekognition = RekognitionSettings()
    if max_concurrent_jobs is not None:
        rekognition = RekognitionSettings(max_concurrent_jobs=max_concurrent_jobs)
    settings = SandboxSettings(
        work_dir=work_dir, port=port, classifier=classifier, rekognition=rekognition, faults=plan
    )
    with state.err.status("starting the local stack…") as status:
        try:
            stack = LocalStack(settings, progress=lambda message: status.update(message + "…")).start()
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise CliError(f"cannot listen on 127.0.0.1:{port}: it is in use (try --port 0)") from None
    running = announcement_of(stack)
    running.write()
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, _stopper(stopping)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _print_running(running, state.out)
        stopping.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        RunningStack.withdraw()
        stack.stop()
        state.err.print("local stack stopped")


def _stopper(stopping: threading.Event) -> Any:
    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    return stop


def command_name() -> str:
    """How the user runs modlake: `modlake` when it is on PATH, else the virtualenv's path to it."""
    installed = Path(sys.executable).parent / "modlake"
    on_path = shutil.which("modlake")
    if on_path is None or Path(on_path).resolve() != installed.resolve():
        return os.path.relpath(installed) if installed.exists() else "modlake"
    return "modlake"


def _print_running(running: RunningStack, console: Console) -> None:
    console.print(f"[bold]modlake local stack[/bold] on {running.endpoint_url} (Ctrl-C stops it)")
    if running.faults:
        shares = ", ".join(f"{service} {rate:.0%}" for service, rate in sorted(running.faults.items()))
        console.print(
            f"[bold]faults on[/bold]: {shares} of the functions' calls get that service's throttling or 5xx error "
            f"(seed {running.fault_seed}); the CLI's and your own calls are not faulted"
        )
    for name in ("MediaBucketName", "VideosTableName", "GlueDatabaseName", "AthenaWorkGroupName"):
        console.print(f"  {name:<22} {running.outputs[name]}", markup=False)
    console.print("In another terminal:", style="bold")
    modlake = command_name()
    today = datetime.now(UTC).date().isoformat()
    for line in (
        f"{modlake} upload clip.mp4",
        f"{modlake} status",
        f"{modlake} labels <key>",
        f"{modlake} query daily_volume --param day_from={today} --param day_to={today}",
        f"{modlake} digest --preview",
        f"{modlake} dashboard --open",
        f"AWS_ENDPOINT_URL={running.endpoint_url} aws s3 ls   # any AWS CLI or SDK, dummy credentials",
    ):
        console.print(f"  {line}", markup=False)

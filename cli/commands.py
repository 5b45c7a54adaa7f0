"""The day-to-day commands: each parses its options, calls one plain function with the Target, and renders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.application import app, cli_state
from cli.backfill import backfill_request, render_backfill, run_backfill
from cli.backfill_jobs import job_view, render_job, watch_job
from cli.backfill_plan import backfill_day
from cli.dashboard import DEFAULT_DAYS, DEFAULT_OUT, check_days, open_in_browser, render_written, write_dashboard
from cli.digest import (
    DEFAULT_PREVIEW_DIR,
    invoke_digest,
    parse_day,
    preview_digest,
    render_digest_preview,
    render_digest_result,
)
from cli.errors import CliError
from cli.labels import render_labels, video_labels
from cli.query import (
    DEFAULT_TIMEOUT_SECONDS,
    OutputFormat,
    athena_runner,
    parse_params,
    render_query,
    run_query,
)
from cli.review import (
    DEFAULT_QUEUE_LIMIT,
    choose_verdict,
    record_verdict,
    render_queue,
    render_verdict,
    review_queue,
    reviewed_video,
)
from cli.upload import check_video_files, planned_keys, render_uploads, upload_rules, upload_videos
from cli.videos import DEFAULT_LIMIT, find_videos, list_videos, render_video_details, render_video_table
from queries import named_queries

VideoKey = Annotated[str, typer.Argument(metavar="KEY", help="An object key in the media bucket, or a video id.")]


@app.command()
def upload(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Video files (MP4 or MOV).")],
    prefix: Annotated[
        str | None, typer.Option("--prefix", metavar="P", help="Key prefix (default: the stack's, when known).")
    ] = None,
) -> None:
    """Upload videos to the media bucket; each upload starts its moderation."""
    state = cli_state(ctx)
    files = check_video_files(paths)  # before reaching the stack: a typo fails fast, even offline
    target = state.target
    rules = upload_rules(target)
    keys = planned_keys(files, rules.key_prefix if prefix is None else prefix, rules)
    uploaded = upload_videos(target, files, keys, progress_console=state.err)
    render_uploads(uploaded, state.out)


@app.command()
def status(
    ctx: typer.Context,
    key: Annotated[
        str | None, typer.Argument(metavar="[KEY]", help="An object key in the media bucket, or a video id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many videos to list without KEY.")] = DEFAULT_LIMIT,
) -> None:
    """Without KEY: the latest videos and their state. With KEY: every version of that video in detail."""
    state = cli_state(ctx)
    if key is None:
        render_video_table(list_videos(state.target, limit), state.out)
    else:
        render_video_details(find_videos(state.target, key), state.out)


@app.command()
def labels(
    ctx: typer.Context,
    key: VideoKey,
    version: Annotated[str | None, typer.Option("--version", help="S3 version id (default: the newest).")] = None,
) -> None:
    """A video's moderation labels as a timeline."""
    state = cli_state(ctx)
    render_labels(video_labels(state.target, key, version), state.out)


@app.command(epilog="Named queries: " + ", ".join(q.name for q in named_queries()))
def query(
    ctx: typer.Context,
    name_or_sql: Annotated[str, typer.Argument(metavar="NAME|SQL", help="A named query from queries/, or SQL.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", metavar="NAME=VALUE", help="A query parameter (repeatable).")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="How to print the rows.")] = OutputFormat.TABLE,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds before the query is stopped.")
    ] = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Run a named query or SQL in the stack's Athena workgroup (raw SQL takes --param values in order)."""
    state = cli_state(ctx)
    params = parse_params(param or [])
    render_query(run_query(state.target, name_or_sql, params, timeout_seconds=timeout), output, state.out)


@app.command()
def digest(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--date", metavar="YYYY-MM-DD", help="Digest day (default: yesterday).")
    ] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Build and print it here; send nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Send even if this day's digest went out.")] = False,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="With --preview: whose yesterday is the default (UTC).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="With --preview: the HTML's folder.")] = DEFAULT_PREVIEW_DIR,
) -> None:
    """Send the daily digest through the stack's function (yesterday in its time zone), or preview it."""
    state = cli_state(ctx)
    chosen = parse_day(day) if day else None
    if not preview:
        if timezone:
            raise CliError("--timezone applies to --preview only: the function uses its own DIGEST_TIMEZONE")
        render_digest_result(invoke_digest(state.target, chosen, force), state.out)
        return
    if force:
        raise CliError("--force has no effect with --preview (a preview sends nothing)")
    render_digest_preview(preview_digest(state.target, chosen, timezone or "UTC", out), state.out)


@app.command()
def backfill(
    ctx: typer.Context,
    where: Annotated[
        str | None,
        typer.Argument(
            metavar="s3://BUCKET[/PREFIX] | JOB",
            help="What to moderate (default: the whole media bucket); with --status, a job id (default: the newest).",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="YYYY-MM-DD", help="Objects uploaded on or after this day (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="YYYY-MM-DD", help="Objects uploaded on or before this day (UTC).")
    ] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", metavar="N", min=0, help="Refuse to start when the videos last longer."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Start the S3 Batch Operations job (default: a dry run).")] = False,
    status: Annotated[bool, typer.Option("--status", help="Show a backfill job's progress and failed tasks.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="With --status: poll until the job is finished.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Moderate videos already in the media bucket: a dry run with a cost estimate, then one job with --yes."""
    state = cli_state(ctx)
    if status:
        if since or until or max_minutes is not None or yes:
            raise CliError("--status takes only a job id (and --watch, --json)")
        view = watch_job(state.target, where, state.err) if watch else job_view(state.target, where)
        render_job(view, state.out, as_json=as_json)
        return
    if watch:
        raise CliError("--watch applies to --status only")
    request = backfill_request(state.target, where, backfill_day(since, "--since"), backfill_day(until, "--until"))
    outcome = run_backfill(state.target, request, yes=yes, max_minutes=max_minutes, progress_console=state.err)
    render_backfill(outcome, state.out, state.err, as_json=as_json)
    if outcome.refused:
        raise CliError(outcome.refused)


@app.command()
def dashboard(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", metavar="N", help="The last N days (UTC), today included.")] = (
        DEFAULT_DAYS
    ),
    out: Annotated[Path, typer.Option("--out", metavar="PATH", help="The HTML file to write.")] = DEFAULT_OUT,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in the browser.")] = False,
) -> None:
    """Write the moderation dashboard (the QuickSight one's sheets) as one self-contained HTML file from Athena."""
    state = cli_state(ctx)
    check_days(days)  # before reaching the stack: a typo fails fast, even offline
    target = state.target
    with state.err.status(f"querying {target.stack_name}'s views…"):
        written = write_dashboard(athena_runner(target), out, stack=target.description, days=days)
    render_written(written, state.out, state.err)
    if open_page:
        open_in_browser(written.path)


@app.command()
def review(
    ctx: typer.Context,
    key: Annotated[
        str | None, typer.Argument(metavar="[KEY]", help="An object key in the media bucket, or a video id.")
    ] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="The flag was right.")] = False,
    overturn: Annotated[bool, typer.Option("--overturn", help="The flag was wrong.")] = False,
    category: Annotated[
        str | None, typer.Option("--category", metavar="C", help="The top-level category the verdict is about.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", metavar="TEXT", help="Why, for whoever reads it next.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="S3 version id (default: the newest).")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=500, help="How many queued videos to list without KEY.")
    ] = DEFAULT_QUEUE_LIMIT,
) -> None:
    """Without KEY: the review queue (flagged, no verdict yet, oldest first). With KEY: record your verdict."""
    state = cli_state(ctx)
    verdict = choose_verdict(confirm, overturn)
    if key is None:
        if verdict or category or note or version:
            raise CliError("--confirm, --overturn, --category, --note and --version need a KEY")
        render_queue(review_queue(state.target, limit), state.out)
        return
    if verdict is None:
        raise CliError(f"say --confirm or --overturn for {key} (without KEY: the review queue)")
    record = reviewed_video(state.target, key, version)
    render_verdict(record_verdict(state.target, record, verdict, category=category, note=note), state.out)

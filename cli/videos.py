"""`modlake status`: the videos modlake knows, from their DynamoDB summary items (read by the project's adapter)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cli.errors import CliError
from cli.output import age_of, file_size, moment, percent, plain
from cli.target import Target
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.display import video_time
from functions.common.models import VideoRecord, VideoStatus, utc_now

DEFAULT_LIMIT = 50
_VIDEO_ID = re.compile(r"^[0-9a-f]{32}$")
_STATUS_STYLE = {
    VideoStatus.SUCCEEDED: "green",
    VideoStatus.IN_PROGRESS: "cyan",
    VideoStatus.QUEUED: "yellow",
    VideoStatus.FAILED: "red",
    VideoStatus.SKIPPED: "magenta",
    VideoStatus.DELETED: "dim",
}


def video_store(target: Target) -> DynamoVideoStore:
    """The project's DynamoDB adapter on the target's videos table."""
    return DynamoVideoStore(target.client("dynamodb"), target.output("VideosTableName"))


def list_videos(target: Target, limit: int = DEFAULT_LIMIT) -> list[VideoRecord]:
    """The `limit` videos whose status changed most recently, newest first.

    The by_status index holds every summary item (sorted by status_since), so `limit` newest per status,
    merged, are exactly the newest overall: one short Query per status instead of a Scan over label chunks.
    """
    store = video_store(target)
    records: list[VideoRecord] = []
    for status in VideoStatus:
        records += store.newest_in_status(status, limit)
    records.sort(key=lambda record: record.status_since, reverse=True)
    return records[:limit]


def find_videos(target: Target, key: str) -> list[VideoRecord]:
    """Every version of the object `key` in the media bucket (newest upload first), or the video with that id."""
    store = video_store(target)
    bucket = target.output("MediaBucketName")
    records = store.find_by_object(bucket, key)
    if not records and _VIDEO_ID.match(key):
        by_id = store.get(key)
        records = [by_id] if by_id else []
    if not records:
        raise CliError(f"no video with key {key!r} in s3://{bucket} (see `modlake status` for the known keys)")
    return records


def _status_text(status: VideoStatus) -> Text:
    return Text(str(status), style=_STATUS_STYLE.get(status, ""))


def _flagged(record: VideoRecord) -> str:
    if record.summary is None:
        return "–"
    return "yes" if record.summary.flagged else "no"


def render_video_table(records: Sequence[VideoRecord], console: Console, now: datetime | None = None) -> None:
    """The status table: key, version, state, flagged, max confidence and how long ago the state began."""
    now = now or utc_now()
    if not records:
        console.print("no videos yet: upload one with `modlake upload`")
        return
    table = Table("key", "version", "state", "flagged", "max conf.", "age", title_justify="left")
    for record in records:
        summary = record.summary
        table.add_row(
            plain(record.video.key),
            plain(_short(record.video.version_id)),
            _status_text(record.status),
            _flagged(record),
            percent(summary.max_confidence if summary else None),
            age_of(record.status_since, now),
        )
    console.print(table)


def _short(version_id: str | None, width: int = 12) -> str | None:
    if version_id is None or len(version_id) <= width:
        return version_id
    return version_id[: width - 1] + "…"


def video_details(record: VideoRecord, now: datetime | None = None) -> list[tuple[str, str]]:
    """Every stored attribute of a video that a person needs, as (label, value) pairs in reading order."""
    now = now or utc_now()
    video, summary, metadata = record.video, record.summary, record.metadata
    rows = [
        ("video id", record.video_id),
        ("object", video.s3_uri),
        ("source", "backfill (modlake backfill)" if video.source == "backfill" else "upload (its S3 event)"),
        ("version", video.version_id or "– (bucket not versioned)"),
        ("etag", video.etag or "–"),
        ("size", file_size(video.size)),
        ("status", f"{record.status} for {age_of(record.status_since, now)} (since {moment(record.status_since)})"),
    ]
    if record.status_reason:
        rows.append(("reason", record.status_reason))
    rows += [("job id", record.job_id or "–"), ("attempts", str(record.attempts))]
    if record.min_confidence is not None:
        rows.append(("min confidence", percent(record.min_confidence)))
    if summary is not None:
        rows += [
            ("flagged", "yes" if summary.flagged else "no"),
            ("max confidence", percent(summary.max_confidence)),
            ("labels", f"{summary.label_count} ({summary.flagged_label_count} flagging)"),
            ("categories", ", ".join(sorted(summary.categories)) or "–"),
            ("flagged categories", ", ".join(sorted(summary.flagged_categories)) or "–"),
        ]
        if summary.first_flagged_ms is not None:
            rows.append(("first flagged at", video_time(summary.first_flagged_ms)))
    if metadata is not None:
        frame = f"{metadata.frame_width}×{metadata.frame_height}" if metadata.frame_width else "–"
        rate = f"{metadata.frame_rate:g} fps" if metadata.frame_rate else "– fps"
        rows += [
            ("duration", video_time(metadata.duration_ms) if metadata.duration_ms is not None else "–"),
            ("stream", f"{metadata.codec or '–'} in {metadata.format or '–'}, {frame}, {rate}"),
        ]
    if record.model_version:
        rows.append(("model version", record.model_version))
    if record.checkpoint is not None:
        rows.append(("collecting", f"{record.checkpoint.detections_done} detections so far (resumes in chunks)"))
    rows += [
        ("uploaded", moment(video.uploaded_at)),
        ("completed", moment(record.completed_at)),
        ("updated", moment(record.updated_at)),
    ]
    if record.deleted_at:
        rows.append(("deleted", moment(record.deleted_at)))
    return rows


def render_video_details(records: Sequence[VideoRecord], console: Console, now: datetime | None = None) -> None:
    """Each version of a video in detail, newest first."""
    panels: list[Table | Text] = []
    for number, record in enumerate(records, start=1):
        if panels:
            panels.append(Text(""))
        title = record.video.key
        if len(records) > 1:
            title += f"  (newest of {len(records)} versions)" if number == 1 else f"  (older version {number})"
        table = Table(show_header=False, box=None, title=Text(title, style="bold"), title_justify="left")
        table.add_column(style="dim")
        table.add_column()
        for label, value in video_details(record, now):
            table.add_row(label, plain(value))
        panels.append(table)
    console.print(Group(*panels))

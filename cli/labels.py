"""`modlake labels`: a video's detections as a timeline, from DynamoDB when it holds them all, else from Athena."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.errors import CliError
from cli.output import percent, plain
from cli.query import athena_runner
from cli.target import Target
from cli.videos import find_videos, video_store
from functions.common.display import video_time
from functions.common.models import VideoRecord, VideoStatus, partition_date
from functions.common.ports import QueryRunner
from queries import SqlFile, execution_parameter, named_query

_RESULTS_KEPT = (VideoStatus.SUCCEEDED, VideoStatus.DELETED)  # a video deleted after moderation keeps its results


@dataclass(frozen=True)
class LabelRow:
    """One detection on the timeline."""

    timestamp_ms: int
    label: str
    parent: str
    category: str
    confidence: float
    flagged: bool

    @property
    def time(self) -> str:
        """Where in the video: mm:ss (h:mm:ss past the first hour)."""
        return video_time(self.timestamp_ms)

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> LabelRow:
        """From a detection's fields, as DynamoDB label chunks and the moderation_labels table both name them."""
        return cls(
            timestamp_ms=int(data["timestamp_ms"]),
            label=str(data["label_name"]),
            parent=str(data.get("parent_name") or ""),
            category=str(data.get("top_category") or ""),
            confidence=float(data["confidence"]),
            flagged=bool(data.get("flagged")),
        )


@dataclass(frozen=True)
class LabelTimeline:
    """A video's detections in time order and where they were read ("dynamodb", "athena", or "none" yet)."""

    record: VideoRecord
    rows: tuple[LabelRow, ...]
    source: str
    other_versions: int = 0


def labels_query() -> SqlFile:
    """queries/video_labels.sql: one video's detections (also a named query in the stack's workgroup)."""
    return named_query("video_labels")


def pick_version(records: Sequence[VideoRecord], version_id: str | None) -> VideoRecord:
    """The requested version of a video, or its newest upload."""
    if version_id is None:
        return records[0]
    for record in records:
        if record.video.version_id == version_id:
            return record
    known = ", ".join(r.video.version_id or "null" for r in records)
    raise CliError(f"{records[0].video.key!r} has no version {version_id!r} (known: {known})")


def video_labels(
    target: Target, key: str, version_id: str | None = None, *, runner: QueryRunner | None = None
) -> LabelTimeline:
    """The detections of one video version (default: the newest upload of `key`) in time order."""
    records = find_videos(target, key)
    record = pick_version(records, version_id)
    others = len(records) - 1
    summary = record.summary
    if record.status not in _RESULTS_KEPT or record.completed_at is None or summary is None:
        return LabelTimeline(record, (), "none", others)
    stored = video_store(target).labels(record.video_id)
    if len(stored) == summary.label_count:
        rows = sorted((LabelRow.from_fields(label) for label in stored), key=lambda row: row.timestamp_ms)
        return LabelTimeline(record, tuple(rows), "dynamodb", others)
    runner = runner or athena_runner(target)
    parameters = [execution_parameter(partition_date(record.completed_at)), execution_parameter(record.video_id)]
    (found,) = runner.run_all([(labels_query(), parameters)])
    return LabelTimeline(record, tuple(LabelRow.from_fields(row) for row in found), "athena", others)


def per_second(rows: Sequence[LabelRow]) -> list[LabelRow]:
    """One row per label per displayed second (the most confident): frames sampled every 500 ms would otherwise
    show each label twice under the same mm:ss."""
    kept: dict[tuple[str, str, str], LabelRow] = {}
    for row in rows:
        key = (row.time, row.label, row.parent)
        if key not in kept or row.confidence > kept[key].confidence:
            kept[key] = row
    return list(kept.values())


def render_labels(timeline: LabelTimeline, console: Console) -> None:
    """The timeline: video time, label, parent, top-level category, confidence (flagging rows marked)."""
    record = timeline.record
    heading = Text(f"{record.video.key}", style="bold")
    heading.append(f"  version {record.video.version_id or 'null'}, {record.status}", style="dim")
    console.print(heading)
    if not timeline.rows:
        reason = record.status_reason or "no results collected yet"
        state = "no labels" if timeline.source != "none" else f"no labels ({record.status}: {reason})"
        console.print(state, markup=False)
    else:
        table = Table("time", "label", "parent", "category", "confidence", "flag")
        for row in per_second(timeline.rows):
            table.add_row(
                row.time,
                plain(row.label),
                plain(row.parent or "–"),
                plain(row.category or "–"),
                percent(row.confidence),
                Text("●", style="red") if row.flagged else "",
            )
        console.print(table)
        console.print(
            f"{len(timeline.rows)} detections, read from {timeline.source} (one row per label and second shown)",
            style="dim",
        )
    if timeline.other_versions:
        versions = "version" if timeline.other_versions == 1 else "versions"
        console.print(
            f"{timeline.other_versions} older {versions}: `modlake status {record.video.key}` lists them",
            style="dim",
            markup=False,
        )

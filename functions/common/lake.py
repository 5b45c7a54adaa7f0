"""Parquet objects for the analytics lake, with Arrow schemas derived from glue/ (one schema)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from functions.common.models import (
    Detection,
    VideoMetadata,
    VideoRecord,
    VideoStatus,
    VideoSummary,
    partition_date,
)
from functions.common.ports import LakeObjects
from functions.common.verdicts import Verdict
from glue import LABELS, VERDICTS, VIDEOS, TableSpec
from glue.arrow import arrow_schema
from glue.schema import STAGING_PREFIX

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
STAGING_COLLECT_PREFIX = f"{STAGING_PREFIX}collect/"


def _naive_utc(ts: datetime | None) -> datetime | None:
    """The same instant as a naive UTC time (Parquet timestamp columns here carry no zone)."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts and ts.tzinfo else ts


def table_from_rows(spec: TableSpec, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Arrow table in the spec's exact schema (a missing or extra column is an error)."""
    names = set(spec.column_names)
    for row in rows:
        if set(row) != names:
            raise ValueError(f"{spec.name}: row columns differ from the schema: {sorted(set(row) ^ names)}")
    return pa.Table.from_pylist(list(rows), schema=arrow_schema(spec))


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def read_parquet(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


def label_rows(
    record: VideoRecord, job_id: str, detections: Sequence[Detection], model_version: str | None, completed_at: datetime
) -> list[dict[str, Any]]:
    """One moderation_labels row per detection."""
    common = record.video.identity_fields() | {"job_id": job_id}
    done = {"model_version": model_version, "completed_at": _naive_utc(completed_at)}
    return [common | d.fields() | done for d in detections]


def video_row(
    record: VideoRecord,
    status: VideoStatus,
    *,
    reason: str | None,
    job_id: str | None,
    summary: VideoSummary | None,
    metadata: VideoMetadata | None,
    model_version: str | None,
    completed_at: datetime,
) -> dict[str, Any]:
    """The moderation_videos row of a processed, failed or skipped video; one without results has empty columns."""
    video = record.video
    return (
        video.identity_fields()
        | {
            "etag": video.etag,
            "size_bytes": video.size,
            "status": str(status),
            "status_reason": reason,
            "job_id": job_id,
        }
        | (summary or VideoSummary()).columns()
        | (metadata or VideoMetadata()).columns()
        | {
            "model_version": model_version,
            "min_confidence": record.min_confidence,
            "uploaded_at": _naive_utc(video.uploaded_at),
            "completed_at": _naive_utc(completed_at),
        }
    )


def verdict_row(verdict: Verdict, record: VideoRecord) -> dict[str, Any]:
    """The moderation_verdicts row of one verdict on a video."""
    return (
        {"verdict_id": verdict.verdict_id}
        | record.video.identity_fields()
        | {
            "verdict": str(verdict.verdict),
            "category": verdict.category,
            "note": verdict.note,
            "reviewer": verdict.reviewer,
            "recorded_at": _naive_utc(verdict.recorded_at),
            "top_category": verdict.top_category,
            "max_confidence": verdict.max_confidence,
        }
    )


class LakeWriter:
    """Writes one deterministic Parquet object per job (or skipped video) and table."""

    def __init__(self, objects: LakeObjects) -> None:
        self.objects = objects

    def write(self, spec: TableSpec, dt: str, object_name: str, rows: Sequence[dict[str, Any]]) -> str:
        """Write rows as one object; returns its key."""
        return self._put(spec, dt, object_name, table_from_rows(spec, rows))

    def write_video(self, dt: str, object_name: str, row: dict[str, Any]) -> str:
        return self.write(VIDEOS, dt, object_name, [row])

    def write_verdict(self, verdict: Verdict, record: VideoRecord) -> str:
        """One object per verdict, named by its id under its recording day: a retried write overwrites it."""
        return self.write(
            VERDICTS, partition_date(verdict.recorded_at), verdict.verdict_id, [verdict_row(verdict, record)]
        )

    def write_labels(self, dt: str, job_id: str, rows: Sequence[dict[str, Any]], staged_chunks: int = 0) -> str:
        """A job's labels as one object: the chunks staged by earlier invocations, then these rows."""
        staged = [read_parquet(self.objects.get(staging_key(job_id, chunk))) for chunk in range(staged_chunks)]
        return self._put(LABELS, dt, job_id, pa.concat_tables([*staged, table_from_rows(LABELS, rows)]))

    def stage(self, job_id: str, chunk: int, rows: Sequence[dict[str, Any]]) -> str:
        """Park a long job's label rows until its last chunk is collected."""
        key = staging_key(job_id, chunk)
        self.objects.put(key, parquet_bytes(table_from_rows(LABELS, rows)), PARQUET_CONTENT_TYPE)
        return key

    def discard_staged(self, job_id: str, chunks: int) -> None:
        """Remove a job's staged chunks (after its final object is written, or to collect it again)."""
        if chunks:
            self.objects.delete([staging_key(job_id, chunk) for chunk in range(chunks)])

    def _put(self, spec: TableSpec, dt: str, object_name: str, table: pa.Table) -> str:
        key = spec.object_key(dt, object_name)
        self.objects.put(key, parquet_bytes(table), PARQUET_CONTENT_TYPE)
        return key


def staging_key(job_id: str, chunk: int) -> str:
    return f"{STAGING_COLLECT_PREFIX}{job_id}/chunk-{chunk:05d}.parquet"

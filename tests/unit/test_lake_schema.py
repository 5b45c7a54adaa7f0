"""The one schema: Arrow types from Glue types, Parquet written by the collector read back with it and through the
Glue table's own definition (columns, partition key, projected partitions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest

from functions.collect_results.logic import CollectOutcome
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.lake import LakeWriter, label_rows, read_parquet, table_from_rows, verdict_row, video_row
from functions.common.models import ContentType, VerdictKind, VideoMetadata, VideoRecord, VideoStatus, VideoSummary
from functions.common.verdicts import Verdict, VerdictRequest
from functions.review_api.logic import ReviewDeps, record_verdict
from glue import LABELS, TABLES, VERDICTS, VIDEOS, Column, TableSpec
from glue.arrow import arrow_schema, arrow_type, catalog_arrow_schema
from glue.catalog import table_input
from sandbox.athena.projection import projection_of
from tests.fakes import InMemoryObjects, collect_finished_job, fake_collect_deps
from tests.helpers import NOW, detection, flagged_run, video

LAKE = "modlake-lake-test"
# Values a lossy column type would change: sub-second times, a size beyond 32 bits, fractions in every double.
UPLOADED = datetime(2026, 11, 20, 10, 15, 30, 250_000, tzinfo=UTC)
COMPLETED = datetime(2026, 11, 20, 10, 30, 5, 123_000, tzinfo=UTC)


def test_glue_types_map_to_arrow() -> None:
    assert arrow_type("bigint") == pa.int64()
    assert arrow_type("array<string>") == pa.list_(pa.string())
    assert arrow_type("array<struct<name:string,confidence:double>>") == pa.list_(
        pa.struct([pa.field("name", pa.string()), pa.field("confidence", pa.float64())])
    )
    with pytest.raises(ValueError, match="no Arrow mapping"):
        arrow_type("decimal(10,2)")


def test_rows_with_missing_or_extra_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="differ from the schema"):
        table_from_rows(VIDEOS, [{"video_id": "x"}])


def _record() -> VideoRecord:
    clip = video("teams/t&s/Überwachung 1.MOV", size=5 * 1024**3 + 7, uploaded_at=UPLOADED)
    return VideoRecord(clip, VideoStatus.IN_PROGRESS, UPLOADED, UPLOADED, job_id="job-9", min_confidence=52.5)


def _label_rows() -> list[dict[str, Any]]:
    raws = [
        detection(
            1_500,
            "Blood & Gore",
            "Graphic Violence",
            3,
            confidence=87.123456,
            start_timestamp_ms=1_000,
            end_timestamp_ms=2_033,
            duration_ms=1_033,
            content_types=(ContentType("Animated", 81.5), ContentType("Illustrated", 12.25)),
        ),
        detection(2_033, "Alcoholic Beverages", "Alcohol", 2, confidence=55.5),  # no segment, no content types
    ]
    detections = DetectionClassifier(FlagPolicy()).classify(raws, VideoSummary())
    return label_rows(_record(), "job-9", detections, "7.0", COMPLETED)


def _succeeded_video_row() -> dict[str, Any]:
    summary = VideoSummary()
    DetectionClassifier(FlagPolicy()).classify(flagged_run(5, start_ms=1_250), summary)
    metadata = VideoMetadata("h264", "QuickTime / MOV", 8_008, 29.97, 3840, 2160, "LIMITED")
    return video_row(
        _record(),
        VideoStatus.SUCCEEDED,
        reason=None,
        job_id="job-9",
        summary=summary,
        metadata=metadata,
        model_version="7.0",
        completed_at=COMPLETED,
    )


def _skipped_video_row() -> dict[str, Any]:
    return video_row(
        _record(),
        VideoStatus.SKIPPED,
        reason="the object is empty",
        job_id=None,
        summary=None,
        metadata=None,
        model_version=None,
        completed_at=COMPLETED,
    )


def _verdict_rows() -> list[dict[str, Any]]:
    record = _record()
    summary = VideoSummary()
    DetectionClassifier(FlagPolicy()).classify(
        [detection(1_000, "Weapons", "Violence", 2, confidence=91.123456)], summary
    )
    record.summary = summary
    note = "Kitchen knife in a cooking video — not a weapon threat. ✓"
    request = VerdictRequest(VerdictKind.OVERTURNED, "Violence", note, "req-0001-abcd")
    reviewer = "arn:aws:sts::123456789012:assumed-role/Reviewers/ana"
    overturned = Verdict.of(record, request, reviewer, COMPLETED)
    confirmed = Verdict.of(record, VerdictRequest(VerdictKind.CONFIRMED), reviewer, COMPLETED)  # no category, no note
    return [verdict_row(overturned, record), verdict_row(confirmed, record)]


@pytest.mark.parametrize(
    ("spec", "build"),
    [
        (LABELS, _label_rows),
        (VIDEOS, lambda: [_succeeded_video_row()]),
        (VIDEOS, lambda: [_skipped_video_row()]),
        (VERDICTS, _verdict_rows),
    ],
    ids=["labels", "succeeded-video", "skipped-video", "verdicts"],
)
def test_rows_the_collector_builds_read_back_from_parquet_unchanged(
    spec: TableSpec, build: Callable[[], list[dict[str, Any]]]
) -> None:
    # Given rows made by the real row builders, with values a wrong Glue type or struct field name would change
    # (pyarrow silently truncates 29.97 into an int, drops sub-second times into a seconds timestamp and fills a
    # struct field whose name the row does not use with null)
    rows = build()
    lake = InMemoryObjects()
    # When the lake writer writes them as the table's object and the object is read back
    key = LakeWriter(lake).write(spec, "2026-11-20", "job-9", rows)
    read = read_parquet(lake.get(key)).to_pylist()
    # Then every value is exactly the one the builder made
    assert read == rows


def _catalog_columns(glue_columns: list[dict[str, str]]) -> list[Column]:
    return [Column(c["Name"], c["Type"], c.get("Comment", "")) for c in glue_columns]


def _pipeline_objects() -> InMemoryObjects:
    """The lake after the collector wrote a flagged job completed at NOW and a reviewer recorded a verdict at NOW."""
    lake = InMemoryObjects()
    deps = fake_collect_deps(lake)
    clip = video()
    outcome = collect_finished_job(
        deps, clip, "job-9", [*flagged_run(7), detection(4_000, "Violence", confidence=95)], NOW
    )
    assert outcome is CollectOutcome.SUCCEEDED
    context = {"authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:user/reviewer"}}}
    review = ReviewDeps(store=deps.store, lake=deps.lake, clock=lambda: NOW)
    assert record_verdict(clip.video_id, '{"verdict": "confirmed"}', context, review).status == 201
    return lake


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.name)
def test_the_glue_table_reads_the_collectors_objects_column_for_column(spec: TableSpec) -> None:
    # Given the objects the collector (and, for verdicts, the review API) wrote at NOW, and the Glue table the stack
    # deploys
    lake = _pipeline_objects()
    [key] = lake.keys(spec.prefix)
    table = table_input(spec, LAKE)
    columns = _catalog_columns(table["StorageDescriptor"]["Columns"])
    partitions = _catalog_columns(table["PartitionKeys"])
    # When the table is read as Athena reads it: columns typed as Glue declares them, partitions projected
    expected = catalog_arrow_schema(columns)
    projection = projection_of(spec.name, table["StorageDescriptor"]["Location"], partitions, table["Parameters"], NOW)

    # Then the reader expects exactly the file's columns and types
    assert expected.equals(read_parquet(lake.get(key)).schema, check_metadata=False)
    # And the partition key lives only in the path: no column shares its name, nor do two columns share one
    names = [c.name for c in (*columns, *partitions)]
    assert len(set(names)) == len(names)
    # And the object sits in a partition the projection reads: under the location template, at a dt value the date
    # projection (format, range, interval) produces, naming the job's UTC completion day
    assert projection is not None
    [rule] = projection.keys
    before, _, after = projection.template.partition(f"${{{rule.name}}}")
    uri = f"s3://{LAKE}/{key}"
    assert uri.startswith(before)
    value = uri[len(before) :].split("/")[0]
    assert uri.startswith(before + value + after)
    assert projection.accepts({rule.name: value})
    assert datetime.strptime(value, rule.strftime).date() == NOW.date()


def test_collector_parquet_round_trips_with_the_glue_schema() -> None:
    # Given the collector has written a job's objects
    lake = InMemoryObjects()
    deps = fake_collect_deps(lake)
    assert collect_finished_job(deps, video("a/b c.mp4"), "job-9", flagged_run(40), NOW) is CollectOutcome.SUCCEEDED
    # When each object is read back
    for spec in (LABELS, VIDEOS):
        [key] = lake.keys(spec.prefix)
        table = read_parquet(lake.get(key))
        # Then its schema is exactly the one derived from glue/
        assert table.schema.equals(arrow_schema(spec), check_metadata=False), spec.name
    labels = read_parquet(lake.get(lake.keys(LABELS.prefix)[0]))
    assert labels.num_rows == 40 and set(labels.column("object_key").to_pylist()) == {"a/b c.mp4"}


def test_times_with_another_offset_are_written_as_the_same_utc_instant() -> None:
    # Given a video uploaded at 12:00 in UTC+2 (10:00 UTC), completed at 10:30 UTC
    clip = video("clip.mp4", uploaded_at=datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    record = VideoRecord(clip, VideoStatus.IN_PROGRESS, NOW, NOW, job_id="job-1")
    # When its moderation_videos row is built
    row = video_row(
        record, VideoStatus.SUCCEEDED, reason=None, job_id="job-1", summary=None, metadata=None,
        model_version=None, completed_at=datetime(2026, 11, 20, 10, 30, tzinfo=UTC),
    )  # fmt: skip
    # Then the upload time is 10:00 UTC, not 12:00 with the offset dropped
    assert row["uploaded_at"] == datetime(2026, 11, 20, 10, 0)
    assert row["completed_at"] == datetime(2026, 11, 20, 10, 30)

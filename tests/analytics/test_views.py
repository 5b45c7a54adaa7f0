"""The QuickSight-ready views of queries/views/ on the sample lake: one day's rows (an uploads-only day and the
backfill's day), each with its source, and dt pruning through them."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest

from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import SampleLake
from tests.analytics.conftest import END_DAY
from tests.analytics.helpers import LABELS_TABLE, VIDEOS_TABLE, by_source, flagged, moderated, naive

DAY = END_DAY - timedelta(days=1)  # uploads only
DAYS = [DAY, END_DAY]  # END_DAY: its uploads and the backfill


def rows_of(engine: LakeQueryEngine, view: str, order_by: str, day: date = DAY) -> list[dict[str, Any]]:
    return engine.execute(f"SELECT * FROM {view} WHERE dt = ? ORDER BY {order_by}", [f"'{day}'"]).dicts()


@pytest.mark.parametrize("day", DAYS)
def test_v_detections_has_one_friendly_row_per_detection(
    engine: LakeQueryEngine, sample_lake: SampleLake, day: date
) -> None:
    # Given the day's detections, in each job's result order
    expected = [
        (video, index, d)
        for video in sorted(sample_lake.videos_on(day), key=lambda v: v.video_id)
        for index, d in enumerate(video.detections)
    ]
    assert len(expected) > 20
    # When the view is read for that day
    rows = rows_of(engine, "v_detections", "video_id, detection_index", day)
    # Then each detection has its video (and the video's source), label, taxonomy, confidence, flag and offset
    assert len(rows) == len(expected)
    assert {r["source"] for r in rows} == {str(v.source) for v, _, _ in expected}
    for row, (video, index, d) in zip(rows, expected, strict=True):
        assert row["video_id"] == video.video_id and row["detection_index"] == index
        assert (row["video_uri"], row["source"]) == (video.s3_uri, video.source)
        assert (row["label"], row["parent_label"], row["top_category"]) == (d.label, d.parent or None, d.top_category)
        assert (row["taxonomy_level"], row["confidence"], row["is_flagged"]) == (d.level, d.confidence, d.flagged)
        assert row["offset_seconds"] == d.timestamp_ms / 1000
        assert row["content_types"] == ", ".join(d.content_types)
        assert row["processed_at"] == naive(video.completed_at)
        assert row["processed_date"] == day and row["dt"] == day.isoformat()
        assert row["segment_start_seconds"] is None  # AggregateBy TIMESTAMPS reports no segments


@pytest.mark.parametrize("day", DAYS)
def test_v_flagged_videos_lists_the_days_flagged_videos(
    engine: LakeQueryEngine, sample_lake: SampleLake, day: date
) -> None:
    # Given the day's flagged videos
    expected = sorted(flagged(sample_lake.videos_on(day)), key=lambda v: v.video_id)
    assert expected
    # When the view is read for that day
    rows = rows_of(engine, "v_flagged_videos", "video_id", day)
    # Then each has its URI, source, severity, categories as text and duration in seconds
    assert [r["video_id"] for r in rows] == [v.video_id for v in expected]
    for row, video in zip(rows, expected, strict=True):
        assert (row["video_uri"], row["source"]) == (video.s3_uri, video.source)
        assert row["max_confidence"] == video.max_confidence
        assert row["first_flagged_seconds"] == (video.first_flagged_ms or 0) / 1000
        assert row["flagged_categories"] == ", ".join(video.flagged_categories)
        assert row["detected_categories"] == ", ".join(video.categories)
        assert row["flagged_category_count"] == len(video.flagged_categories)
        assert (row["flagged_label_count"], row["label_count"]) == (video.flagged_label_count, video.label_count)
        assert row["duration_seconds"] == (video.duration_ms or 0) / 1000
        assert row["processed_at"] == naive(video.completed_at)


@pytest.mark.parametrize("day", DAYS)
def test_v_daily_summary_has_the_days_counts_per_source(
    engine: LakeQueryEngine, sample_lake: SampleLake, day: date
) -> None:
    # Given the day's videos, per source (END_DAY: uploads and backfill; the day before: uploads only)
    expected = sorted(by_source(sample_lake.videos_on(day)).items(), key=lambda item: item[0] != "upload")
    assert [source for source, _ in expected] == (["upload", "backfill"] if day == END_DAY else ["upload"])
    # When the view is read for that day
    rows = rows_of(engine, "v_daily_summary", "source DESC", day)
    # Then it has one row of counts per source
    assert [r["source"] for r in rows] == [source for source, _ in expected]
    for row, (_, videos) in zip(rows, expected, strict=True):
        done = moderated(videos)
        assert row["processed_date"] == day
        assert (row["videos"], row["moderated"], row["flagged"], row["failed"], row["skipped"]) == (
            len(videos),
            len(done),
            len(flagged(videos)),
            sum(v.status == "FAILED" for v in videos),
            sum(v.status == "SKIPPED" for v in videos),
        )
        assert math.isclose(row["moderated_hours"], sum(v.duration_ms or 0 for v in done) / 3_600_000)
        assert row["received_bytes"] == sum(v.size_bytes for v in videos)
        assert row["detections"] == sum(v.label_count for v in videos)
        assert row["flagged_detections"] == sum(v.flagged_label_count for v in videos)
        assert row["max_confidence"] == max(v.max_confidence or 0.0 for v in videos)


@pytest.mark.parametrize("day", DAYS)
def test_v_category_daily_has_one_row_per_source_and_category(
    engine: LakeQueryEngine, sample_lake: SampleLake, day: date
) -> None:
    # Given the day's detections grouped by source and top-level category
    per_category: dict[tuple[str, str], list[tuple[str, float, bool]]] = defaultdict(list)
    for video in sample_lake.videos_on(day):
        for d in video.detections:
            per_category[(str(video.source), d.top_category)].append((video.video_id, d.confidence, d.flagged))
    # When the view is read for that day
    rows = rows_of(engine, "v_category_daily", "source DESC, top_category", day)
    # Then each source's categories have their detections, flagged detections, videos and confidences
    assert [(r["source"], r["top_category"]) for r in rows] == sorted(
        per_category, key=lambda k: (k[0] != "upload", k[1])
    )
    for row in rows:
        items = per_category[(row["source"], row["top_category"])]
        assert row["detections"] == len(items)
        assert row["flagged_detections"] == sum(f for _, _, f in items)
        assert row["videos"] == len({v for v, _, _ in items})
        assert row["flagged_videos"] == len({v for v, _, f in items if f})
        assert row["max_confidence"] == max(c for _, c, _ in items)
        assert math.isclose(row["avg_confidence"], sum(c for _, c, _ in items) / len(items))


@pytest.mark.parametrize("day", DAYS)
def test_v_unmoderated_videos_lists_the_days_failed_and_skipped_videos_with_their_reason(
    engine: LakeQueryEngine, sample_lake: SampleLake, day: date
) -> None:
    # Given the day's videos that failed or were skipped (END_DAY: uploads and backfill)
    expected = sorted((v for v in sample_lake.videos_on(day) if v.status != "SUCCEEDED"), key=lambda v: v.video_id)
    assert expected and {v.status for v in expected} <= {"FAILED", "SKIPPED"}
    # When the view is read for that day
    rows = rows_of(engine, "v_unmoderated_videos", "video_id", day)
    # Then each has its status, reason, S3 location, source and times; no moderated video is among them
    assert [r["video_id"] for r in rows] == [v.video_id for v in expected]
    for row, video in zip(rows, expected, strict=True):
        assert (row["status"], row["reason"]) == (video.status, video.status_reason)
        assert (row["video_uri"], row["object_key"], row["source"]) == (video.s3_uri, video.key, video.source)
        assert (row["job_id"], row["size_bytes"]) == (video.job_id, video.size_bytes)
        assert row["uploaded_at"] == naive(video.uploaded_at) and row["processed_at"] == naive(video.completed_at)
        assert row["processed_date"] == day and row["dt"] == day.isoformat()
    if day == END_DAY:
        assert {(r["source"], r["status"]) for r in rows} >= {("backfill", "FAILED"), ("backfill", "SKIPPED")}


def _order_statistics_around(values: list[float], q: float) -> tuple[float, float]:
    """The two sorted values a q-quantile lies between (equal when q*(n-1) is a whole rank)."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    return ordered[math.floor(rank)], ordered[math.ceil(rank)]


@pytest.mark.parametrize("day", DAYS)
def test_v_time_to_outcome_has_the_days_upload_to_outcome_percentiles_per_source(
    engine: LakeQueryEngine, sample_lake: SampleLake, day: date
) -> None:
    # Given the seconds from upload to outcome of each of the day's videos, per source
    expected = {
        source: [(v.completed_at - v.uploaded_at).total_seconds() for v in videos]
        for source, videos in by_source(sample_lake.videos_on(day)).items()
    }
    # When the view is read for that day
    rows = rows_of(engine, "v_time_to_outcome", "source DESC", day)
    # Then each source has its video count and longest wait exactly, and p50 <= p95 between the order
    # statistics each percentile falls between (approx_percentile may pick either, or a point between them)
    assert [r["source"] for r in rows] == sorted(expected, key=lambda s: s != "upload")
    for row in rows:
        seconds = expected[row["source"]]
        assert row["processed_date"] == day
        assert (row["videos"], row["max_seconds"]) == (len(seconds), max(seconds))
        low50, high50 = _order_statistics_around(seconds, 0.5)
        low95, high95 = _order_statistics_around(seconds, 0.95)
        assert low50 <= row["p50_seconds"] <= high50
        assert low95 <= row["p95_seconds"] <= high95
    if day == END_DAY:  # a backfilled video was stored long before modlake saw it: days, not minutes
        backfill = next(r for r in rows if r["source"] == "backfill")
        upload = next(r for r in rows if r["source"] == "upload")
        assert backfill["p50_seconds"] > 7 * 86_400 > 3_600 > upload["p95_seconds"]


@pytest.mark.parametrize(
    ("view", "table"),
    [
        ("v_detections", LABELS_TABLE),
        ("v_flagged_videos", VIDEOS_TABLE),
        ("v_daily_summary", VIDEOS_TABLE),
        ("v_category_daily", LABELS_TABLE),
        ("v_unmoderated_videos", VIDEOS_TABLE),
        ("v_time_to_outcome", VIDEOS_TABLE),
    ],
)
def test_filtering_a_view_on_dt_reads_only_that_partition(
    engine: LakeQueryEngine, sample_lake: SampleLake, view: str, table: str
) -> None:
    # Given a view filtered on one dt
    # When it is read
    result = engine.execute(f"SELECT count(*) FROM {view} WHERE dt = ?", [f"'{DAY}'"])
    # Then only that partition of its table was opened
    assert set(result.files_read) == sample_lake.partition_keys(table, [DAY])

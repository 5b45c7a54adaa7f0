"""The named queries of queries/ on the sample lake: each answer checked against the lake's description."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import SampleLake
from tests.analytics.conftest import END_DAY
from tests.analytics.helpers import (
    LABELS_TABLE,
    VIDEOS_TABLE,
    by_source,
    days_between,
    flagged,
    moderated,
    naive,
    outcome_counts,
    run,
    severity_order,
    videos_in,
)

OUTCOMES = ("videos", "moderated", "flagged", "failed", "skipped")
WEEK = days_between(END_DAY - timedelta(days=6), END_DAY)  # includes a day without videos (END_DAY - 3)


@pytest.mark.parametrize("day", [END_DAY, END_DAY - timedelta(days=1), END_DAY - timedelta(days=3)])
def test_flagged_videos_for_day(engine: LakeQueryEngine, sample_lake: SampleLake, day: date) -> None:
    # Given a UTC day of the lake
    expected = sorted(
        flagged(sample_lake.videos_on(day)),
        key=lambda v: (-(v.max_confidence or 0.0), v.first_flagged_ms, v.video_id),
    )
    # When the query runs for it
    result = run(engine, "flagged_videos_for_day", day)
    # Then it lists that day's flagged videos, most severe first, and read only that day's partition
    rows = result.dicts()
    assert [r["video_id"] for r in rows] == [v.video_id for v in expected]
    for row, video in zip(rows, expected, strict=True):
        assert (row["video_uri"], row["source"]) == (video.s3_uri, video.source)
        assert row["max_confidence"] == video.max_confidence
        assert row["first_flagged_second"] == (video.first_flagged_ms or 0) // 1000
        assert row["flagged_categories"] == ", ".join(video.flagged_categories)
        assert row["flagged_label_count"] == video.flagged_label_count
        assert row["completed_at"] == naive(video.completed_at)
    assert set(result.files_read) == sample_lake.partition_keys(VIDEOS_TABLE, [day])


def test_flagged_videos_for_day_have_a_s3_uri_with_the_raw_key(
    engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given flagged videos whose keys contain spaces
    spaced = [v for v in flagged(list(sample_lake.videos)) if " " in v.key]
    assert spaced
    video = spaced[0]
    # When the query runs for that video's day, Then the URI carries the key exactly as stored
    uris = [r["video_uri"] for r in run(engine, "flagged_videos_for_day", video.day).dicts()]
    assert video.s3_uri in uris


def test_label_counts_by_category(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Given the week's detections
    videos = videos_in(sample_lake, WEEK)
    detections = Counter[str]()
    flagged_detections = Counter[str]()
    video_ids: dict[str, set[str]] = {}
    top: dict[str, float] = {}
    for video in videos:
        for d in video.detections:
            detections[d.top_category] += 1
            flagged_detections[d.top_category] += d.flagged
            video_ids.setdefault(d.top_category, set()).add(video.video_id)
            top[d.top_category] = max(top.get(d.top_category, 0.0), d.confidence)
    # When the query runs
    result = run(engine, "label_counts_by_category", WEEK[0], WEEK[-1])
    # Then each category has its detections, flagged detections, distinct videos and top confidence
    expected: list[dict[str, Any]] = [
        {
            "top_category": c,
            "detections": n,
            "flagged_detections": flagged_detections[c],
            "videos": len(video_ids[c]),
            "max_confidence": top[c],
        }
        for c, n in detections.items()
    ]
    expected.sort(key=lambda r: (-r["flagged_detections"], -r["detections"], r["top_category"]))
    assert result.dicts() == expected
    assert len(expected) >= 5
    assert set(result.files_read) == sample_lake.partition_keys(LABELS_TABLE, WEEK)


def test_most_severe_flagged_videos_are_the_top_fifty(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Given the whole lake (more than fifty flagged videos)
    first, last = sample_lake.first_day, sample_lake.end_day
    expected = severity_order(flagged(list(sample_lake.videos)))
    assert len(expected) > 50
    # When the query runs over every day
    rows = run(engine, "most_severe_flagged_videos", first, last).dicts()
    # Then it returns the fifty most severe, in order
    assert [r["video_id"] for r in rows] == [v.video_id for v in expected[:50]]
    for row, video in zip(rows, expected, strict=False):
        assert (row["video_uri"], row["max_confidence"], row["dt"]) == (video.s3_uri, video.max_confidence, video.dt)
        assert row["source"] == video.source
        assert row["flagged_categories"] == ", ".join(video.flagged_categories)
        assert row["first_flagged_second"] == (video.first_flagged_ms or 0) // 1000
    assert {r["source"] for r in rows} == {"upload", "backfill"}


def test_failed_and_skipped_videos(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Given the week's videos that were not moderated
    expected = sorted(
        (v for v in videos_in(sample_lake, WEEK) if v.status in ("FAILED", "SKIPPED")),
        key=lambda v: (-v.completed_at.timestamp(), v.video_id),
    )
    assert {v.status for v in expected} == {"FAILED", "SKIPPED"}
    assert {v.source for v in expected} == {"upload", "backfill"}
    # When the query runs
    rows = run(engine, "failed_and_skipped_videos", WEEK[0], WEEK[-1]).dicts()
    # Then each has its status, reason, key and completion time, newest first
    assert [(r["video_id"], r["status"], r["status_reason"]) for r in rows] == [
        (v.video_id, v.status, v.status_reason) for v in expected
    ]
    for row, video in zip(rows, expected, strict=True):
        assert row["object_key"] == video.key and row["video_uri"] == video.s3_uri
        assert row["source"] == video.source
        assert row["completed_at"] == naive(video.completed_at)
        assert row["job_id"] == video.job_id  # None when no job started
        assert row["size_bytes"] == video.size_bytes
    reasons = {r["status_reason"] for r in rows}
    assert "the object is empty" in reasons or "file type not in mp4, mov" in reasons


def test_daily_volume_has_a_row_per_day_and_source(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Given the week (one day without videos, one day with a backfill alongside its uploads)
    videos = videos_in(sample_lake, WEEK)
    expected_keys = sorted({(v.dt, str(v.source)) for v in videos}, key=lambda k: (k[0], k[1] != "upload"))
    assert (END_DAY.isoformat(), "backfill") in expected_keys and (WEEK[0].isoformat(), "backfill") not in expected_keys
    assert sum(d.isoformat() not in {dt for dt, _ in expected_keys} for d in WEEK) == 1
    # When the query runs
    rows = run(engine, "daily_volume", WEEK[0], WEEK[-1]).dicts()
    # Then there is one row per day and source with videos, uploads first: a day without backfill has no backfill row
    assert [(r["dt"], r["source"]) for r in rows] == expected_keys
    for row in rows:
        group = [v for v in videos if (v.dt, str(v.source)) == (row["dt"], row["source"])]
        done = moderated(group)
        assert {k: row[k] for k in OUTCOMES} == outcome_counts(group)
        assert math.isclose(row["moderated_hours"], sum(v.duration_ms or 0 for v in done) / 3_600_000)
        assert row["received_bytes"] == sum(v.size_bytes for v in group)
        assert row["moderated_bytes"] == sum(v.size_bytes for v in done)


def test_daily_volume_keeps_a_backfill_days_uploads_apart(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Given the backfill's day: a few uploads and hundreds of backfilled videos, every outcome in both
    day = sample_lake.end_day
    videos = sample_lake.videos_on(day)
    split = by_source(videos)
    assert len(split["backfill"]) >= 10 * len(split["upload"]) > 0
    for group in split.values():
        assert all(outcome_counts(group).values())
    # When the query runs for that day
    upload_row, backfill_row = run(engine, "daily_volume", day, day).dicts()
    # Then the upload row counts the uploads only, the backfill row the backfill, and together they are the day
    for row, source in ((upload_row, "upload"), (backfill_row, "backfill")):
        assert row["source"] == source
        assert {k: row[k] for k in OUTCOMES} == outcome_counts(split[source])
    assert upload_row["videos"] + backfill_row["videos"] == len(videos)


def test_video_labels_are_one_videos_detections_in_time_order(engine: LakeQueryEngine, sample_lake: SampleLake) -> None:
    # Given a video with detections, and another video's labels in the same dt partition
    day = END_DAY - timedelta(days=1)
    with_labels = [v for v in sample_lake.videos_on(day) if v.detections]
    assert len(with_labels) >= 2
    video = with_labels[0]
    # When its labels are queried by day and video id
    rows = run(engine, "video_labels", video.day, video.video_id).dicts()
    # Then exactly its detections come back, in video-time order
    assert [(r["timestamp_ms"], r["label_name"], r["confidence"]) for r in rows] == sorted(
        ((d.timestamp_ms, d.label, d.confidence) for d in video.detections), key=lambda t: t[0]
    )

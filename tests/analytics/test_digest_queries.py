"""The digest's four queries on the sample lake: their numbers, and the dt partitions they read."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

import queries
from sandbox.athena.engine import LakeQueryEngine
from sandbox.sample_lake import SampleLake, SampleVideo
from tests.analytics.conftest import END_DAY
from tests.analytics.helpers import (
    VIDEOS_TABLE,
    Window,
    backfilled,
    by_source,
    flagged,
    local_days,
    moderated,
    naive,
    outcome_counts,
    severity_order,
    uploads,
)

ZONES = ["UTC", "Asia/Tokyo", "America/Los_Angeles"]


def digest(engine: LakeQueryEngine, name: str, window: Window) -> list[dict[str, Any]]:
    return engine.execute(queries.named_query(name).sql, window.parameters()).dicts()


def moderated_ms(videos: list[SampleVideo]) -> int:
    return sum(v.duration_ms or 0 for v in moderated(videos))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("day", [END_DAY, END_DAY - timedelta(days=1), END_DAY - timedelta(days=3)])
def test_totals_count_the_videos_completed_in_the_local_day_per_source(
    engine: LakeQueryEngine, sample_lake: SampleLake, zone: str, day: date
) -> None:
    # Given a digest day in a time zone (END_DAY has the backfill; END_DAY - 3 has no videos in UTC)
    window = local_days(day, day, zone)
    videos = sample_lake.videos_between(window.start, window.end)
    # When the totals query runs
    rows = digest(engine, "digest_totals", window)
    # Then each source with videos has one row, uploads first, counting every outcome once from the videos
    # completed in [start, end)
    expected = sorted(by_source(videos).items(), key=lambda item: item[0] != "upload")
    assert rows == [
        {"source": source, **outcome_counts(group), "moderated_duration_ms": moderated_ms(group)}
        for source, group in expected
    ]


def test_a_backfill_day_has_its_uploads_and_its_backfill_apart(
    engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given END_DAY in UTC: its uploads and a backfill of hundreds of stored videos
    window = local_days(END_DAY, END_DAY, "UTC")
    videos = sample_lake.videos_between(window.start, window.end)
    assert len(backfilled(videos)) >= 10 * len(uploads(videos)) > 0
    # When the totals query runs
    upload_row, backfill_row = digest(engine, "digest_totals", window)
    # Then the upload row counts exactly what it would without the backfill, and the backfill row the rest
    for row, source, group in ((upload_row, "upload", uploads(videos)), (backfill_row, "backfill", backfilled(videos))):
        assert row == {"source": source, **outcome_counts(group), "moderated_duration_ms": moderated_ms(group)}
        assert all(row[k] for k in ("moderated", "flagged", "failed", "skipped"))


def test_a_tokyo_day_counts_videos_on_both_sides_of_utc_midnight(
    engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given Tokyo's END_DAY, which runs from 15:00 UTC the day before to 15:00 UTC on END_DAY
    window = local_days(END_DAY, END_DAY, "Asia/Tokyo")
    videos = sample_lake.videos_between(window.start, window.end)
    # Then the fixture has videos in both dt partitions, and at the exact start but not the exact end
    assert {v.day for v in uploads(videos)} == {END_DAY - timedelta(days=1), END_DAY}
    assert any(v.completed_at == window.start for v in videos)
    assert any(v.completed_at == window.end for v in sample_lake.videos)
    # When the totals query runs, Then it counts all of them and only them
    rows = digest(engine, "digest_totals", window)
    assert {r["source"]: r["videos"] for r in rows} == {s: len(g) for s, g in by_source(videos).items()}


@pytest.mark.parametrize("zone", ZONES)
def test_categories_count_detected_and_flagged_videos_per_source(
    engine: LakeQueryEngine, sample_lake: SampleLake, zone: str
) -> None:
    # Given the digest day END_DAY in a time zone
    window = local_days(END_DAY, END_DAY, zone)
    expected: list[dict[str, Any]] = []
    for source, group in sorted(
        by_source(moderated(sample_lake.videos_between(window.start, window.end))).items(),
        key=lambda item: item[0] != "upload",
    ):
        detected = Counter(c for v in group for c in v.categories)
        flagged_in = Counter(c for v in group for c in v.flagged_categories)
        counts = [(c, n, flagged_in[c]) for c, n in detected.items()]
        counts.sort(key=lambda e: (-e[2], -e[1], e[0]))
        expected += [{"source": source, "category": c, "detected_videos": n, "flagged_videos": f} for c, n, f in counts]
    # When the categories query runs
    rows = digest(engine, "digest_categories", window)
    # Then each source's categories have their detected and flagged video counts, uploads first, most flagged first
    assert rows == expected
    assert any(r["flagged_videos"] for r in rows) and any(r["flagged_videos"] < r["detected_videos"] for r in rows)


@pytest.mark.parametrize("zone", ZONES)
def test_top_flagged_lists_the_ten_most_severe_uploads_and_five_backfill(
    engine: LakeQueryEngine, sample_lake: SampleLake, zone: str
) -> None:
    # Given the week ending END_DAY: more than ten flagged uploads, many flagged backfill videos, and backfill
    # videos more severe than the tenth upload
    window = local_days(END_DAY - timedelta(days=6), END_DAY, zone)
    week = flagged(sample_lake.videos_between(window.start, window.end))
    top_uploads, top_backfill = severity_order(uploads(week))[:10], severity_order(backfilled(week))[:5]
    assert len(uploads(week)) > 10 and len(backfilled(week)) > 10
    assert severity_order(week)[:10] != top_uploads  # without the quota, the backfill would take upload slots
    expected = severity_order(top_uploads + top_backfill)
    # When the top-flagged query runs
    rows = digest(engine, "digest_top_flagged", window)
    # Then the ten most severe uploads and the five most severe backfill videos come back in one severity order,
    # each with its facts and source
    assert [r["video_id"] for r in rows] == [v.video_id for v in expected]
    for row, video in zip(rows, expected, strict=True):
        assert row["object_key"] == video.key and row["bucket"] == video.bucket
        assert row["source"] == video.source
        assert row["max_confidence"] == video.max_confidence
        assert row["first_flagged_ms"] == video.first_flagged_ms
        assert row["flagged_categories"] == ", ".join(video.flagged_categories)
        assert row["flagged_label_count"] == video.flagged_label_count
        assert row["completed_at"] == naive(video.completed_at)


def test_top_flagged_on_a_day_without_backfill_is_the_ten_most_severe_uploads(
    engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given the week ending the day before the backfill (more than ten flagged uploads, no backfill)
    window = local_days(END_DAY - timedelta(days=7), END_DAY - timedelta(days=1), "UTC")
    week = flagged(sample_lake.videos_between(window.start, window.end))
    assert len(week) > 10 and not backfilled(week)
    # When the top-flagged query runs / Then it is the ten most severe, all uploads
    rows = digest(engine, "digest_top_flagged", window)
    assert [(r["video_id"], r["source"]) for r in rows] == [(v.video_id, "upload") for v in severity_order(week)[:10]]


@pytest.mark.parametrize("zone", ZONES)
def test_trend_buckets_fold_into_local_days(engine: LakeQueryEngine, sample_lake: SampleLake, zone: str) -> None:
    # Given the digest's seven days ending END_DAY in a time zone
    window = local_days(END_DAY - timedelta(days=6), END_DAY, zone)
    videos = sample_lake.videos_between(window.start, window.end)
    # When the trend query runs
    rows = digest(engine, "digest_trend", window)
    # Then each 15-minute UTC bucket has its outcomes, per source
    expected: dict[tuple[int, str], Counter[str]] = {}
    for video in videos:
        bucket = int(video.completed_at.timestamp()) // 900 * 900
        counts = expected.setdefault((bucket, str(video.source)), Counter())
        counts["moderated"] += video.status == "SUCCEEDED"
        counts["flagged"] += video.status == "SUCCEEDED" and video.flagged
        counts["failed"] += video.status == "FAILED"
        counts["skipped"] += video.status == "SKIPPED"
    assert {source for _, source in expected} == {"upload", "backfill"}
    assert [(r["bucket_start_epoch"], r["source"]) for r in rows] == sorted(
        expected, key=lambda k: (k[0], k[1] != "upload")
    )
    for row in rows:
        counts = expected[(row["bucket_start_epoch"], row["source"])]
        assert (row["moderated"], row["flagged"], row["failed"], row["skipped"]) == (
            counts["moderated"],
            counts["flagged"],
            counts["failed"],
            counts["skipped"],
        )


# --- partition pruning -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["digest_totals", "digest_categories", "digest_top_flagged"])
@pytest.mark.parametrize(
    ("zone", "partitions"),
    [("UTC", [END_DAY]), ("Asia/Tokyo", [END_DAY - timedelta(days=1), END_DAY])],
)
def test_a_digest_day_reads_only_its_dt_partitions(
    engine: LakeQueryEngine, sample_lake: SampleLake, name: str, zone: str, partitions: list[date]
) -> None:
    # Given the digest day END_DAY in UTC (one partition) or in Tokyo (two partitions)
    window = local_days(END_DAY, END_DAY, zone)
    assert window.days == partitions
    # When the query runs
    result = engine.execute(queries.named_query(name).sql, window.parameters())
    # Then it opened exactly the objects of those dt partitions of moderation_videos
    expected = sample_lake.partition_keys(VIDEOS_TABLE, window.days)
    assert expected and set(result.files_read) == expected
    assert result.bytes_read == sum((sample_lake.root / key).stat().st_size for key in expected)


@pytest.mark.parametrize(("zone", "partitions"), [("UTC", 7), ("Asia/Tokyo", 8)])
def test_the_trend_reads_only_its_seven_day_window(
    engine: LakeQueryEngine, sample_lake: SampleLake, zone: str, partitions: int
) -> None:
    # Given the trend's seven local days ending END_DAY (Tokyo's start the evening before in UTC)
    window = local_days(END_DAY - timedelta(days=6), END_DAY, zone)
    assert len(window.days) == partitions and window.days[-1] == END_DAY
    # When the trend query runs
    result = engine.execute(queries.named_query("digest_trend").sql, window.parameters())
    # Then it read exactly the partitions of the window, far fewer than the lake holds
    assert set(result.files_read) == sample_lake.partition_keys(VIDEOS_TABLE, window.days)
    partitions_read = {key.split("/")[1] for key in result.files_read}
    assert partitions_read == {f"dt={day.isoformat()}" for day in window.days if sample_lake.videos_on(day)}
    assert len(partitions_read) < len({v.day for v in sample_lake.videos}) / 3


def test_without_its_dt_filter_a_digest_query_would_read_every_partition(
    engine: LakeQueryEngine, sample_lake: SampleLake
) -> None:
    # Given digest_totals with its dt predicate neutralised (same parameters, no partition filter)
    sql = queries.named_query("digest_totals").sql
    assert "WHERE dt BETWEEN ? AND ?" in sql
    unfiltered = sql.replace("WHERE dt BETWEEN ? AND ?", "WHERE ? IS NOT NULL AND ? IS NOT NULL")
    window = local_days(END_DAY, END_DAY, "UTC")
    # When it runs
    result = engine.execute(unfiltered, window.parameters())
    # Then the answer is the same but every object of the table is read: the pruning tests above would fail
    assert result.rows == engine.execute(sql, window.parameters()).rows
    all_videos = {key for key in sample_lake.keys if key.startswith(f"{VIDEOS_TABLE}/")}
    assert set(result.files_read) == all_videos
    assert set(result.files_read) != sample_lake.partition_keys(VIDEOS_TABLE, window.days)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("day", [END_DAY, END_DAY - timedelta(days=1), END_DAY - timedelta(days=10)])
def test_the_review_line_counts_the_queue_at_the_days_end_and_the_days_verdicts(
    engine: LakeQueryEngine, sample_lake: SampleLake, zone: str, day: date
) -> None:
    # Given a digest day and the sample lake's verdicts (every other flagged video, every fourth of those overturned)
    window = local_days(day, day, zone)
    verdicts = sample_lake.verdicts
    assert verdicts
    # When the review query runs
    (row,) = digest(engine, "digest_review", window)
    # Then the queue is what was flagged before the day ended and had no verdict by then, oldest first
    judged_by_then = {v.video.video_id for v in verdicts if v.recorded_at < window.end}
    waiting = [v for v in flagged(list(sample_lake.videos)) if v.completed_at < window.end]
    waiting = [v for v in waiting if v.video_id not in judged_by_then]
    assert row["awaiting"] == len(waiting) > 0
    assert row["oldest_awaiting_since"] == naive(min(v.completed_at for v in waiting))
    # And the day's verdicts are those recorded in [start, end), with how many overturned a flag
    today = [v for v in verdicts if window.start <= v.recorded_at < window.end]
    assert (row["reviewed"], row["overturned"]) == (len(today), sum(v.verdict == "overturned" for v in today))

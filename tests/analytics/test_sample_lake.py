"""The sample lake: written by the real start and collect logic, deterministic, and varied enough to test SQL on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.validate import validate_parameters

from functions.common.adapters.rekognition import RekognitionModeration
from functions.common.lake import LakeWriter, read_parquet
from functions.common.models import VideoRef
from functions.start_moderation.logic import StartDeps, StartRun
from glue import LABELS, VERDICTS, VIDEOS
from sandbox.memory import InMemoryObjects, InMemoryRekognition, InMemoryVideoStore, RecordingQueue
from sandbox.sample_lake import (
    BACKFILL_VIDEOS,
    EMPTY_DAYS_BACK,
    SampleLake,
    plan_videos,
    rekognition_job,
    write_sample_lake,
)
from tests.analytics.conftest import END_DAY


def test_it_spans_five_weeks_with_days_without_videos(sample_lake: SampleLake) -> None:
    days = {v.day for v in sample_lake.videos}
    assert sample_lake.first_day == END_DAY - timedelta(days=34)
    assert min(days) == sample_lake.first_day and max(days) == END_DAY
    empty = {END_DAY - timedelta(days=back) for back in EMPTY_DAYS_BACK}
    assert len(empty) >= 3 and not days & empty
    assert not any(f"dt={day.isoformat()}" in key for key in sample_lake.keys for day in empty)
    assert min(Counter(v.day for v in sample_lake.videos).values()) >= 5  # several videos on every other day


def test_it_has_every_outcome_and_many_categories(sample_lake: SampleLake) -> None:
    videos = sample_lake.videos
    statuses = Counter(v.status for v in videos)
    assert statuses["SUCCEEDED"] and statuses["FAILED"] and statuses["SKIPPED"]
    assert any(v.status == "FAILED" and v.job_id for v in videos)  # the job failed
    assert any(v.status == "FAILED" and not v.job_id for v in videos)  # StartContentModeration refused it
    assert any(v.status == "SUCCEEDED" and v.flagged for v in videos)
    assert any(v.status == "SUCCEEDED" and not v.flagged and v.detections for v in videos)  # detected, not flagged
    assert any(v.status == "SUCCEEDED" and not v.detections for v in videos)
    assert len({c for v in videos for c in v.flagged_categories}) >= 8
    assert any(v.label_count > 25 for v in videos)  # more than one GetContentModeration page
    assert {d.level for v in videos for d in v.detections} == {1, 2, 3}


def test_it_has_a_backfill_of_hundreds_of_stored_videos_on_its_last_day(sample_lake: SampleLake) -> None:
    # Given the lake's videos by source
    backfill = [v for v in sample_lake.videos if v.backfill]
    uploads = [v for v in sample_lake.videos if not v.backfill]
    # Then a few hundred stored videos were backfilled on one day, next to that day's uploads, and only then
    assert len(backfill) == BACKFILL_VIDEOS >= 200
    assert {v.day for v in backfill} == {END_DAY} and any(v.day == END_DAY for v in uploads)
    assert all(v.uploaded_at < v.completed_at - timedelta(days=7) for v in backfill)  # stored long before
    # And the backfill has every kind of outcome, so its counts in the digest are not all zeros
    assert {v.status for v in backfill} == {"SUCCEEDED", "FAILED", "SKIPPED"}
    assert any(v.flagged for v in backfill) and any(v.status == "SUCCEEDED" and not v.flagged for v in backfill)


def test_each_row_carries_the_source_of_its_video(sample_lake: SampleLake) -> None:
    # Given the objects the logic wrote, When the source column of each is read back
    sources: dict[str, set[str]] = {}
    for key in sample_lake.keys:
        table = read_parquet((sample_lake.root / key).read_bytes())
        for video_id, source in zip(
            table.column("video_id").to_pylist(), table.column("source").to_pylist(), strict=True
        ):
            sources.setdefault(video_id, set()).add(source)
    # Then every row of a video, in both tables, has the source it reached modlake by
    assert sources == {v.video_id: {str(v.source)} for v in sample_lake.videos if v.video_id in sources}
    assert {s for values in sources.values() for s in values} == {"upload", "backfill"}


def test_it_has_videos_minutes_around_utc_and_tokyo_midnight(sample_lake: SampleLake) -> None:
    for day in (END_DAY - timedelta(days=1), END_DAY):
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        tokyo_midnight = midnight - timedelta(hours=9)
        times = [v.completed_at for v in sample_lake.videos]
        assert any(midnight - timedelta(minutes=5) < t < midnight for t in times)
        assert any(midnight <= t < midnight + timedelta(minutes=5) for t in times)
        assert any(tokyo_midnight - timedelta(minutes=5) < t < tokyo_midnight for t in times)
        assert any(tokyo_midnight <= t < tokyo_midnight + timedelta(minutes=5) for t in times)


def test_each_row_is_in_the_partition_of_its_completion_day(sample_lake: SampleLake) -> None:
    # Given the objects the logic wrote, When each is read back
    video_days: dict[str, str] = {}
    verdict_days: dict[str, str] = {}
    label_rows: Counter[str] = Counter()
    for key in sample_lake.keys:
        table = read_parquet((sample_lake.root / key).read_bytes())
        dt = key.split("/")[1].removeprefix("dt=")
        if key.startswith(VIDEOS.prefix):
            video_days |= dict.fromkeys(table.column("video_id").to_pylist(), dt)
        elif key.startswith(VERDICTS.prefix):
            verdict_days |= dict.fromkeys(table.column("verdict_id").to_pylist(), dt)
        else:
            assert key.startswith(LABELS.prefix)
            label_rows.update(table.column("video_id").to_pylist())
    # Then every video has one row, in the dt partition of its completion day, and one label row per detection
    assert video_days == {v.video_id: v.dt for v in sample_lake.videos}
    # And every reviewer's verdict has its row in the partition of the day it was recorded
    assert sample_lake.verdicts and verdict_days == {v.verdict_id: v.dt for v in sample_lake.verdicts}
    assert label_rows == Counter({v.video_id: v.label_count for v in sample_lake.videos if v.label_count})


def test_the_plan_is_deterministic_and_each_day_independent_of_the_length() -> None:
    long, short = plan_videos(END_DAY, 35, BACKFILL_VIDEOS), plan_videos(END_DAY, 10, BACKFILL_VIDEOS)
    assert plan_videos(END_DAY, 35, BACKFILL_VIDEOS) == long
    assert [v for v in long if v.day > END_DAY - timedelta(days=10)] == short
    # And a lake without backfill has the same uploads, and nothing else
    assert plan_videos(END_DAY, 35) == [v for v in long if not v.backfill]


def test_writing_twice_gives_the_same_objects(tmp_path: Path) -> None:
    first = write_sample_lake(tmp_path / "a", end_day=END_DAY, days=3, backfill_videos=20)
    second = write_sample_lake(tmp_path / "b", end_day=END_DAY, days=3, backfill_videos=20)
    assert first.keys == second.keys and first.videos == second.videos
    assert all((first.root / k).read_bytes() == (second.root / k).read_bytes() for k in first.keys)


def test_it_refuses_to_mix_with_an_existing_lake(sample_lake: SampleLake) -> None:
    with pytest.raises(FileExistsError, match="not empty"):
        write_sample_lake(sample_lake.root, end_day=END_DAY, days=1)


def test_a_video_skipped_just_after_midnight_is_in_the_partition_of_its_outcome() -> None:
    # Given a file uploaded two seconds before UTC midnight and skipped one second after it
    lake = InMemoryObjects()
    uploaded = datetime(2026, 11, 19, 23, 59, 58, tzinfo=UTC)
    skipped_at = uploaded + timedelta(seconds=3)
    deps = StartDeps(
        store=InMemoryVideoStore(),
        media=None,  # type: ignore[arg-type]  # never read: the suffix alone skips the file
        lake=LakeWriter(lake),
        moderation=RekognitionModeration(InMemoryRekognition()),
        retries=RecordingQueue(),
        min_confidence=50.0,
        video_suffixes=("mp4",),
        clock=lambda: skipped_at,
    )
    # When start_moderation records it
    StartRun(deps).start(VideoRef("media", "notes.txt", "v1", "etag", 10, uploaded))
    # Then its row is in the dt of its completed_at, where the digest of that day looks for it
    [key] = lake.keys(VIDEOS.prefix)
    row = read_parquet(lake.get(key)).to_pylist()[0]
    assert row["completed_at"].date().isoformat() == "2026-11-20"
    assert key.startswith("moderation_videos/dt=2026-11-20/")


def test_the_in_memory_rekognition_answers_in_the_service_shapes(sample_lake: SampleLake) -> None:
    # Given the in-memory client scripted with a long sample video's labels
    video = next(v for v in sample_lake.videos if v.label_count > 25)
    rekognition = InMemoryRekognition()
    rekognition.script(video.key, rekognition_job(video))
    model = boto3.client("rekognition", region_name="us-east-1").meta.service_model
    request = {
        "Video": {"S3Object": {"Bucket": video.bucket, "Name": video.key}},
        "ClientRequestToken": "token-1",
        "JobTag": "tag",
        "MinConfidence": 50.0,
    }
    # When a job starts (twice, same token) and its pages are read with MaxResults 10
    job_id = rekognition.start_content_moderation(**request)["JobId"]
    assert rekognition.start_content_moderation(**request)["JobId"] == job_id
    pages, token = [], None
    while True:
        args: dict[str, object] = {"JobId": job_id, "MaxResults": 10, "AggregateBy": "TIMESTAMPS"}
        if token:
            args["NextToken"] = token
        validate_parameters(args, model.operation_model("GetContentModeration").input_shape)
        pages.append(rekognition.get_content_moderation(**args))
        token = pages[-1].get("NextToken")
        if not token:
            break
    # Then every response has the service's shape and together they hold every label once
    for page in pages:
        validate_parameters(page, model.operation_model("GetContentModeration").output_shape)
    validate_parameters(request, model.operation_model("StartContentModeration").input_shape)
    labels = [label for page in pages for label in page["ModerationLabels"]]
    assert len(pages) == -(-video.label_count // 10) and len(labels) == video.label_count
    assert [label["ModerationLabel"]["Name"] for label in labels] == [d.label for d in video.detections]

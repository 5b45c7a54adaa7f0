"""queue_backfill logic with in-memory fakes: one S3 Batch Operations task → a video waiting in the backfill lane."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from functions.common.lake import LakeWriter, read_parquet
from functions.common.models import VideoRef, VideoSource, VideoStatus
from functions.queue_backfill.logic import WAITING_REASON, BackfillDeps, TaskAnswer, TaskResult, queue_task
from tests.fakes import FakeMedia, InMemoryObjects, InMemoryVideoStore, movie_bytes
from tests.helpers import MEDIA_BUCKET, NOW, video

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)  # a PNG image renamed .mp4
SIX_HOURS_MS = 6 * 3600 * 1000


@pytest.fixture
def store() -> InMemoryVideoStore:
    return InMemoryVideoStore()


@pytest.fixture
def media() -> FakeMedia:
    return FakeMedia()


@pytest.fixture
def lake() -> InMemoryObjects:
    return InMemoryObjects()


@pytest.fixture
def deps(store: InMemoryVideoStore, media: FakeMedia, lake: InMemoryObjects) -> BackfillDeps:
    return BackfillDeps(
        store=store,
        media=media,
        lake=LakeWriter(lake),
        media_bucket=MEDIA_BUCKET,
        video_suffixes=("mp4", "mov"),
        clock=lambda: NOW,
    )


def backfill(deps: BackfillDeps, clip: VideoRef) -> TaskAnswer:
    """The task S3 Batch Operations would send for this object version (key already decoded)."""
    return queue_task(deps, clip.bucket, clip.key, clip.version_id)


def test_a_stored_video_waits_in_the_backfill_lane(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia
) -> None:
    # Given a stored MP4 version
    clip = media.add(video())
    # When its task runs
    answer = backfill(deps, clip)
    # Then the task succeeds and the video waits for a slot as backfill, without any job or lake row
    assert answer == TaskAnswer(TaskResult.SUCCEEDED, "waiting for a Rekognition slot")
    [waiting] = store.next_waiting(10)
    assert waiting.video_id == clip.video_id and waiting.status is VideoStatus.QUEUED
    assert waiting.video.source is VideoSource.BACKFILL and waiting.status_reason == WAITING_REASON
    assert waiting.status_since == NOW and waiting.job_id is None


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        pytest.param("uploads/clip.mp4", PNG, "not an MP4 or MOV file", id="png-renamed-mp4"),
        pytest.param("uploads/clip.mp4", b"", "the object is empty", id="empty"),
        pytest.param("uploads/clip.mp4", None, "the object version no longer exists", id="gone-version"),
        pytest.param("uploads/clip.mp4", movie_bytes()[:60], "truncated", id="truncated-mp4"),
        pytest.param(
            "uploads/clip.mp4", movie_bytes(SIX_HOURS_MS + 1000), "over Rekognition's 6-hour limit", id="over-6-hours"
        ),
        pytest.param(
            "uploads/clip.mp4",
            movie_bytes(31 * 60 * 1000),
            "over the max_video_minutes policy (30)",
            id="over-policy",
        ),
        pytest.param("uploads/clip.avi", movie_bytes(), "file type not in mp4, mov", id="wrong-suffix"),
        pytest.param("other/clip.mp4", movie_bytes(), "key is outside the prefix 'uploads/'", id="outside-prefix"),
    ],
)
def test_an_object_modlake_will_not_moderate_fails_permanently_and_is_recorded_as_skipped_backfill(
    deps: BackfillDeps,
    store: InMemoryVideoStore,
    media: FakeMedia,
    lake: InMemoryObjects,
    key: str,
    body: bytes | None,
    reason: str,
) -> None:
    # Given an object version that is no video, gone, too long, or outside what this stack moderates
    deps.key_prefix = "uploads/"
    deps.max_video_seconds = 30 * 60
    clip = video(key)
    if body is not None:
        clip = media.add(clip, body)
    # When its task runs
    answer = backfill(deps, clip)
    # Then the task fails for good with the reason, the video is SKIPPED as backfill and waits for nothing
    assert answer.result is TaskResult.PERMANENT_FAILURE and reason in answer.message
    record = store.get(clip.video_id)
    assert record is not None and record.status is VideoStatus.SKIPPED
    assert record.video.source is VideoSource.BACKFILL and reason in (record.status_reason or "")
    assert store.next_waiting(10) == []
    # And its moderation_videos row says so, under the day of the outcome
    assert lake.keys() == [f"moderation_videos/dt=2026-11-20/video-{clip.video_id}.parquet"]
    [row] = read_parquet(lake.get(lake.keys()[0])).to_pylist()
    assert row["source"] == "backfill" and row["status"] == "SKIPPED" and reason in row["status_reason"]
    assert row["video_id"] == clip.video_id and row["object_key"] == key and row["job_id"] is None


def test_a_video_within_the_policy_waits(deps: BackfillDeps, media: FakeMedia, store: InMemoryVideoStore) -> None:
    # Given a 30-minute policy and a video of exactly 30 minutes
    deps.max_video_seconds = 30 * 60
    clip = media.add(video(), movie_bytes(30 * 60 * 1000))
    # When its task runs
    # Then it waits (the policy is "over", not "at")
    assert backfill(deps, clip).result is TaskResult.SUCCEEDED
    assert [r.video_id for r in store.next_waiting(10)] == [clip.video_id]


def test_a_task_for_another_bucket_fails_without_touching_anything(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia, lake: InMemoryObjects
) -> None:
    # Given a manifest line naming a bucket that is not this stack's media bucket
    clip = media.add(replace(video(), bucket="someone-elses-bucket"))
    # When its task runs
    answer = backfill(deps, clip)
    # Then it fails for good, naming both buckets, and records nothing
    assert answer.result is TaskResult.PERMANENT_FAILURE
    assert "s3://someone-elses-bucket" in answer.message and MEDIA_BUCKET in answer.message
    assert store.records == {} and lake.keys() == []


def finish(store: InMemoryVideoStore, clip: VideoRef) -> None:
    """Record the upload's job as run and SUCCEEDED."""
    store.mark_in_progress(clip, "job-1", 50.0, NOW - timedelta(hours=2))
    record = store.get(clip.video_id)
    assert record is not None
    store.complete(
        record,
        VideoStatus.SUCCEEDED,
        reason=None,
        summary=None,
        metadata=None,
        model_version="7.0",
        completed_at=NOW - timedelta(hours=1),
        now=NOW - timedelta(hours=1),
    )


@pytest.mark.parametrize(
    ("status", "prepare"),
    [
        (VideoStatus.SUCCEEDED, finish),
        (VideoStatus.IN_PROGRESS, lambda s, c: s.mark_in_progress(c, "job-1", 50.0, NOW - timedelta(hours=2))),
    ],
)
def test_a_version_already_moderated_as_an_upload_is_not_moderated_again(
    deps: BackfillDeps,
    store: InMemoryVideoStore,
    media: FakeMedia,
    lake: InMemoryObjects,
    status: VideoStatus,
    prepare: Callable[[InMemoryVideoStore, VideoRef], object],
) -> None:
    # Given a version whose upload was already moderated (or is being moderated)
    clip = media.add(video())
    prepare(store, clip)
    before = store.get(clip.video_id)
    # When a backfill task names the same version
    answer = backfill(deps, clip)
    # Then the task succeeds saying so, and nothing changes
    assert answer == TaskAnswer(TaskResult.SUCCEEDED, f"already {status} (not moderated again)")
    assert store.get(clip.video_id) == before and store.next_waiting(10) == []
    assert lake.keys() == []


def test_a_version_waiting_as_an_upload_stays_in_the_upload_lane(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia
) -> None:
    # Given an upload waiting for a slot since an hour ago
    clip = media.add(video())
    store.mark_queued(clip, 2, "LimitExceededException", NOW - timedelta(hours=1))
    # When a backfill task names the same version
    answer = backfill(deps, clip)
    # Then the task succeeds and the video still waits once, as an upload, in its place
    assert answer.result is TaskResult.SUCCEEDED
    [waiting] = store.next_waiting(10)
    assert waiting.video_id == clip.video_id and waiting.video.source is VideoSource.UPLOAD
    assert waiting.status_since == NOW - timedelta(hours=1)


def test_a_version_waiting_as_an_upload_is_left_exactly_as_it_was(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia
) -> None:
    # Given an upload that has waited through two refusals
    clip = media.add(video())
    store.mark_queued(clip, 2, "LimitExceededException", NOW - timedelta(hours=1))
    before = store.get(clip.video_id)
    # When a backfill task names the same version
    answer = backfill(deps, clip)
    # Then the task answers "already QUEUED" and the upload's record is untouched
    assert answer == TaskAnswer(TaskResult.SUCCEEDED, "already QUEUED (not moderated again)")
    assert store.get(clip.video_id) == before


@pytest.mark.parametrize("version_id", ["null", None])
def test_an_unversioned_object_is_identified_by_its_etag_and_is_one_video(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia, version_id: str | None
) -> None:
    # Given an object in a bucket without versioning (S3 Batch names no version: "null" or none)
    stored = media.add(video(version=None, etag=None))
    etag = media.head(stored).etag  # type: ignore[union-attr]
    expected = VideoRef(MEDIA_BUCKET, stored.key, None, etag)
    # When its task runs twice, once as "null" and once without a version
    first = queue_task(deps, MEDIA_BUCKET, stored.key, version_id)
    second = queue_task(deps, MEDIA_BUCKET, stored.key, "null" if version_id is None else None)
    # Then both succeed and there is one video, identified by the ETag HeadObject reported
    assert first.result is TaskResult.SUCCEEDED and second.result is TaskResult.SUCCEEDED
    assert list(store.records) == [expected.video_id]
    record = store.get(expected.video_id)
    assert record is not None and record.video.version_id is None and record.video.etag == etag
    assert record.status is VideoStatus.QUEUED and record.video.source is VideoSource.BACKFILL


def test_an_unversioned_object_that_is_gone_fails_without_a_record(
    deps: BackfillDeps, store: InMemoryVideoStore, lake: InMemoryObjects
) -> None:
    # Given a manifest line for an unversioned object deleted since (no ETag: nothing identifies a video)
    # When its task runs
    answer = queue_task(deps, MEDIA_BUCKET, "uploads/gone.mp4", None)
    # Then it fails for good, and there is nothing to record it under
    assert answer == TaskAnswer(TaskResult.PERMANENT_FAILURE, "the object no longer exists")
    assert store.records == {} and lake.keys() == []


def test_a_replayed_task_leaves_one_video_waiting_in_its_place(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia, lake: InMemoryObjects
) -> None:
    # Given a task that queued a video
    clip = media.add(video())
    assert backfill(deps, clip).result is TaskResult.SUCCEEDED
    # When S3 Batch Operations runs the same task again ten minutes later
    deps.clock = lambda: NOW + timedelta(minutes=10)
    answer = backfill(deps, clip)
    # Then it succeeds, and the video still waits once, as backfill, from its first time
    assert answer.result is TaskResult.SUCCEEDED
    [waiting] = store.next_waiting(10)
    assert waiting.video_id == clip.video_id and waiting.status_since == NOW
    assert waiting.video.source is VideoSource.BACKFILL and len(store.records) == 1 and lake.keys() == []


def test_a_replayed_task_changes_nothing(deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia) -> None:
    # Given a task that queued a video
    clip = media.add(video())
    backfill(deps, clip)
    before = store.get(clip.video_id)
    # When the same task runs again ten minutes later
    deps.clock = lambda: NOW + timedelta(minutes=10)
    answer = backfill(deps, clip)
    # Then it answers "already QUEUED" and the record is untouched
    assert answer == TaskAnswer(TaskResult.SUCCEEDED, "already QUEUED (not moderated again)")
    assert store.get(clip.video_id) == before


def test_a_replayed_skip_changes_nothing(
    deps: BackfillDeps, store: InMemoryVideoStore, media: FakeMedia, lake: InMemoryObjects
) -> None:
    # Given a task that skipped a non-video
    clip = media.add(video(), PNG)
    first = backfill(deps, clip)
    before = store.get(clip.video_id)
    row = lake.get(lake.keys()[0])
    # When the same task runs again the next day
    deps.clock = lambda: NOW + timedelta(days=1)
    answer = backfill(deps, clip)
    # Then it fails the same way, and the record and its row are unchanged, in the same partition
    assert answer == first
    assert store.get(clip.video_id) == before
    assert lake.keys() == [f"moderation_videos/dt=2026-11-20/video-{clip.video_id}.parquet"]
    assert lake.get(lake.keys()[0]) == row

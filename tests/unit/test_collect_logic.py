"""collect_results logic with in-memory fakes: every page, summaries, Parquet, events, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle, release_waiting_videos
from functions.common.errors import PaginationExpired, RekognitionBusy, UnknownJob
from functions.common.flagging import FlagPolicy
from functions.common.lake import read_parquet
from functions.common.messages import ContinueCollect, parse_collect_message
from functions.common.models import JobNotification, VideoRef, VideoStatus
from tests.fakes import (
    fake_collect_deps,
    make_pages,
)
from tests.helpers import MEDIA_BUCKET, NOW, detection, flagged_run, video

COMPLETED = NOW.replace(hour=23, minute=59)
PLENTY_OF_TIME = lambda: 900_000  # noqa: E731


@pytest.fixture
def world() -> CollectDeps:
    return fake_collect_deps(policy=FlagPolicy(threshold=80.0), clock=lambda: NOW)


def started(world: CollectDeps, clip: VideoRef, job_id: str = "job-1") -> VideoRef:
    world.store.mark_in_progress(clip, job_id, 50.0, NOW)
    return clip


def note(job_id: str = "job-1", status: str = "SUCCEEDED", tag: str | None = None) -> JobNotification:
    return JobNotification(job_id, status, "StartContentModeration", tag, COMPLETED, "b", "k")


def test_collects_every_page_into_dynamodb_parquet_and_one_event(world: CollectDeps) -> None:
    # Given a finished job with 2,345 detections over three pages
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(2345), 1000)
    # When its completion is handled
    outcome = handle(note(tag=clip.video_id), world, PLENTY_OF_TIME)
    # Then all three pages were read, and every detection is stored once
    assert outcome is CollectOutcome.SUCCEEDED
    assert [c["next_token"] for c in world.moderation.page_calls] == [None, "1", "2"]
    assert all(c["max_results"] == 1000 for c in world.moderation.page_calls)
    labels = world.store.labels_in_time_order(clip.video_id)
    assert len(labels) == 2345 and [d.index for d in labels] == list(range(2345))
    rows = read_parquet(world.lake.objects.get("moderation_labels/dt=2026-11-20/job-1.parquet")).to_pylist()
    assert len(rows) == 2345
    assert rows[2]["label_name"] == "Blood & Gore" and rows[2]["top_category"] == "Violence"
    assert rows[0]["content_types"] == [{"name": "Animated", "confidence": 81.5}]
    # And the summary, the video row and the event agree
    record = world.store.get(clip.video_id)
    assert record.status is VideoStatus.SUCCEEDED and record.summary.label_count == 2345
    assert record.summary.flagged and record.summary.max_confidence == 99.0
    [video_row] = read_parquet(world.lake.objects.get("moderation_videos/dt=2026-11-20/job-1.parquet")).to_pylist()
    assert video_row["flagged"] is True and video_row["label_count"] == 2345
    assert video_row["flagged_categories"] == ["Violence"] and video_row["codec"] == "h264"
    [event] = world.events.published
    assert event["flagged"] and event["categories"] == ["Violence"] and event["max_confidence"] == 99.0
    assert event["status"] == "SUCCEEDED" and event["s3_uri"] == clip.s3_uri


def test_first_flagged_moment_and_threshold_overrides(world: CollectDeps) -> None:
    # Given alcohol at 85 % (under its 90 % override), ignored swimwear at 99 % and violence at 81 %
    world.policy = FlagPolicy(
        threshold=80.0, category_thresholds={"Alcohol": 90.0}, ignored_categories=frozenset({"Swimwear or Underwear"})
    )
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages(
        [
            detection(1000, "Alcohol", confidence=85.0),
            detection(2000, "Swimwear or Underwear", confidence=99.0),
            detection(3000, "Weapons", "Violence", 2, confidence=81.0),
        ],
        1000,
    )
    # When collected
    handle(note(), world, PLENTY_OF_TIME)
    # Then only violence flags, the ignored category does not count towards severity
    summary = world.store.get(clip.video_id).summary
    assert summary.flagged_categories == {"Violence"}
    assert summary.first_flagged_ms == 3000
    assert summary.max_confidence == 85.0
    assert summary.categories == {"Alcohol", "Violence"}


def test_clean_video_is_not_flagged(world: CollectDeps) -> None:
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages([detection(0, "Alcohol", confidence=55.0)], 1000)
    handle(note(), world, PLENTY_OF_TIME)
    record = world.store.get(clip.video_id)
    assert record.status is VideoStatus.SUCCEEDED and not record.summary.flagged
    assert world.events.published[0]["flagged"] is False
    assert world.events.published[0]["first_flagged"] is None


# What an alert shows comes from the event alone: integrations rely on exactly these keys.
VIDEO_MODERATED_KEYS = {
    "video_id",
    "bucket",
    "key",
    "version_id",
    "s3_uri",
    "source",
    "job_id",
    "status",
    "status_reason",
    "flagged",
    "categories",
    "detected_categories",
    "max_confidence",
    "first_flagged_ms",
    "first_flagged",
    "label_count",
    "console_url",
    "completed_at",
}


@pytest.mark.parametrize(
    ("first_ms", "shown"), [(83_400, "01:23"), (3_725_000, "1:02:05"), (0, "00:00")], ids=["mm:ss", "h:mm:ss", "start"]
)
def test_the_event_carries_the_first_flagged_moment_and_the_console_link_of_the_version(
    world: CollectDeps, first_ms: int, shown: str
) -> None:
    # Given a video in eu-west-1 whose key needs escaping, first flagged at first_ms
    world.region = "eu-west-1"
    started(world, video(key="uploads/in box/clip #1.mp4", version="v 2"))
    world.moderation.pages["job-1"] = make_pages([detection(first_ms, "Violence", confidence=92.0)], 1000)
    # When collected
    handle(note(), world, PLENTY_OF_TIME)
    # Then the event has exactly the documented keys, the moment as (h:)mm:ss and the version's console page
    [event] = world.events.published
    assert set(event) == VIDEO_MODERATED_KEYS
    assert event["first_flagged_ms"] == first_ms and event["first_flagged"] == shown
    assert event["console_url"] == (
        f"https://eu-west-1.console.aws.amazon.com/s3/object/{MEDIA_BUCKET}?region=eu-west-1&bucketType=general"
        "&prefix=uploads%2Fin%20box%2Fclip%20%231.mp4&versionId=v%202"
    )


def test_video_without_detections_succeeds_with_empty_labels(world: CollectDeps) -> None:
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages([], 1000)
    assert handle(note(), world, PLENTY_OF_TIME) is CollectOutcome.SUCCEEDED
    assert read_parquet(world.lake.objects.get("moderation_labels/dt=2026-11-20/job-1.parquet")).num_rows == 0
    assert world.store.get(clip.video_id).summary.label_count == 0


def test_failed_job_records_rekognition_status_message(world: CollectDeps) -> None:
    # Given Rekognition failed the job
    clip = started(world, video())
    failed = make_pages([], 1000, status="FAILED")
    world.moderation.pages["job-1"] = [replace(failed[0], status_message="Unsupported codec: hevc")]
    # When its completion arrives
    outcome = handle(note(status="FAILED"), world, PLENTY_OF_TIME)
    # Then the video is FAILED with that message, in DynamoDB, Parquet and the event
    assert outcome is CollectOutcome.FAILED
    record = world.store.get(clip.video_id)
    assert record.status is VideoStatus.FAILED and record.status_reason == "Unsupported codec: hevc"
    [row] = read_parquet(world.lake.objects.get("moderation_videos/dt=2026-11-20/job-1.parquet")).to_pylist()
    assert row["status"] == "FAILED" and row["status_reason"] == "Unsupported codec: hevc"
    assert world.events.published[0]["status"] == "FAILED"
    assert world.lake.objects.keys("moderation_labels/") == []


def test_redelivered_completion_changes_nothing(world: CollectDeps) -> None:
    # Given a collected job
    started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(10), 1000)
    handle(note(), world, PLENTY_OF_TIME)
    objects = dict(world.lake.objects.objects)
    # When the completion is delivered again
    outcome = handle(note(), world, PLENTY_OF_TIME)
    # Then no page is read, nothing is written, no second event goes out
    assert outcome is CollectOutcome.DUPLICATE
    assert len(world.moderation.page_calls) == 1
    assert world.lake.objects.objects == objects and len(world.events.published) == 1


def test_unknown_job_is_an_error_so_the_message_is_retried(world: CollectDeps) -> None:
    with pytest.raises(UnknownJob):
        handle(note(job_id="never-started"), world, PLENTY_OF_TIME)
    with pytest.raises(UnknownJob):
        handle(ContinueCollect("never-started", video().video_id), world, PLENTY_OF_TIME)


def test_continuation_reads_the_video_consistently_not_through_the_lagging_job_index(world: CollectDeps) -> None:
    # Given a checkpointed job and a job index that has not caught up with the checkpoint
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(1500), 1000)
    world.checkpoint_reserve_ms = 100
    assert handle(note(), world, lambda: 50) is CollectOutcome.CHECKPOINTED
    stale = world.store.get(clip.video_id)
    stale.checkpoint = None
    world.store.find_by_job = lambda job_id: stale  # type: ignore[method-assign]
    # When the continuation arrives at once
    body, _ = world.collect_queue.sent.pop()
    outcome = handle(ContinueCollect(body["job_id"], body["video_id"]), world, PLENTY_OF_TIME)
    # Then it resumes from the checkpoint instead of mistaking the job for finished
    assert outcome is CollectOutcome.SUCCEEDED
    assert world.store.get(clip.video_id).summary.label_count == 1500


def test_job_is_found_by_tag_when_index_lags(world: CollectDeps) -> None:
    # Given the job index has not caught up but the tag names the video
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages([], 1000)
    world.store.find_by_job = lambda job_id: None  # type: ignore[method-assign]
    # When the completion arrives with the tag
    # Then the video is found through the tag
    assert handle(note(tag=clip.video_id), world, PLENTY_OF_TIME) is CollectOutcome.SUCCEEDED


def test_api_field_is_not_trusted(world: CollectDeps) -> None:
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages([], 1000)
    odd = replace(note(), api="StartLabelDetection")
    assert handle(odd, world, PLENTY_OF_TIME) is CollectOutcome.SUCCEEDED
    assert world.store.get(clip.video_id).status is VideoStatus.SUCCEEDED


def test_long_job_checkpoints_and_resumes_to_the_same_result(world: CollectDeps) -> None:
    # Given a job with 5 pages and a Lambda that runs out of time after every 2 pages
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(4321), 1000)
    world.checkpoint_reserve_ms = 100
    budget = iter([1000, 50, 1000, 50, 1000, 50])
    # When the completion and then each continuation message are handled
    outcomes = [handle(note(), world, lambda: next(budget))]
    while world.collect_queue.sent:
        body, _ = world.collect_queue.sent.pop(0)
        outcomes.append(handle(ContinueCollect(body["job_id"], body["video_id"]), world, lambda: next(budget)))
    # Then it checkpointed twice and finished, reading each page exactly once
    assert outcomes == [CollectOutcome.CHECKPOINTED, CollectOutcome.CHECKPOINTED, CollectOutcome.SUCCEEDED]
    assert [c["next_token"] for c in world.moderation.page_calls] == [None, "1", "2", "3", "4"]
    # And the final objects hold every detection once, in order, with staging cleaned up
    rows = read_parquet(world.lake.objects.get("moderation_labels/dt=2026-11-20/job-1.parquet")).to_pylist()
    assert [r["detection_index"] for r in rows] == list(range(4321))
    assert world.lake.objects.keys("_staging/") == []
    record = world.store.get(clip.video_id)
    assert record.summary.label_count == 4321 and record.checkpoint is None
    assert len(world.store.labels_in_time_order(clip.video_id)) == 4321
    assert len(world.events.published) == 1


def test_stale_continuation_after_completion_is_ignored(world: CollectDeps) -> None:
    started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(5), 1000)
    handle(note(), world, PLENTY_OF_TIME)
    clip = video()
    assert handle(ContinueCollect("job-1", clip.video_id), world, PLENTY_OF_TIME) is CollectOutcome.DUPLICATE


def test_video_deleted_while_in_progress_keeps_deleted_but_gets_results(world: CollectDeps) -> None:
    clip = started(world, video())
    world.store.mark_deleted(world.store.get(clip.video_id), NOW)
    world.moderation.pages["job-1"] = make_pages(flagged_run(3), 1000)
    assert handle(note(), world, PLENTY_OF_TIME) is CollectOutcome.SUCCEEDED
    record = world.store.get(clip.video_id)
    assert record.status is VideoStatus.DELETED and record.summary.label_count == 3


def test_finished_job_releases_the_longest_waiting_video(world: CollectDeps) -> None:
    # Given two videos waiting for a slot, the older one first
    older = video("older.mp4")
    newer = video("newer.mp4")
    world.store.mark_queued(older, 4, "LimitExceededException", NOW.replace(minute=0))
    world.store.mark_queued(newer, 1, "LimitExceededException", NOW.replace(minute=20))
    started(world, video())
    world.moderation.pages["job-1"] = make_pages([], 1000)
    # When a job finishes
    handle(note(), world, PLENTY_OF_TIME)
    # Then the older waiting video is sent to the start queue at once, marked as a kick
    [(message, delay)] = world.start_queue.sent
    assert message["video"]["key"] == "older.mp4" and message["kicked"] and delay == 0


def test_jobs_ending_together_kick_different_videos_and_claims_lapse(world: CollectDeps) -> None:
    # Given three waiting videos
    for i in range(3):
        world.store.mark_queued(video(f"w{i}.mp4"), 1, "LimitExceededException", NOW.replace(minute=i))
    # When two jobs end at the same moment
    released = [release_waiting_videos(world.store, world.start_queue, 1, NOW) for _ in range(2)]
    # Then each kicks a different video, oldest first
    assert released == [1, 1]
    assert [m["video"]["key"] for m, _ in world.start_queue.sent] == ["w0.mp4", "w1.mp4"]
    # And once the claims lapse, the oldest can be kicked again
    later = NOW.replace(minute=NOW.minute + 2)
    release_waiting_videos(world.store, world.start_queue, 1, later)
    assert world.start_queue.sent[-1][0]["video"]["key"] == "w0.mp4"


def test_release_with_nobody_waiting_sends_nothing(world: CollectDeps) -> None:
    assert release_waiting_videos(world.store, world.start_queue, 1, NOW) == 0
    assert world.start_queue.sent == []


def test_expired_checkpoint_token_restarts_collection_without_duplicates(world: CollectDeps) -> None:
    # Given a long job checkpointed after two pages, whose continuation runs after the token expired
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(3500), 1000)
    world.checkpoint_reserve_ms = 100
    budget = iter([1000, 50])
    assert handle(note(), world, lambda: next(budget)) is CollectOutcome.CHECKPOINTED
    assert world.lake.objects.keys("_staging/")
    serve = world.moderation.results_page

    def expire_stored_token(job_id: str, *, next_token: str | None, **kwargs: object) -> object:
        if next_token == "2" and not getattr(expire_stored_token, "done", False):
            expire_stored_token.done = True  # type: ignore[attr-defined]
            raise PaginationExpired("job-1: token expired")
        return serve(job_id, next_token=next_token, **kwargs)  # type: ignore[arg-type]

    world.moderation.results_page = expire_stored_token  # type: ignore[method-assign]
    # When the continuation is handled
    outcome = handle(ContinueCollect("job-1", clip.video_id), world, PLENTY_OF_TIME)
    # Then the job is collected again from its first page, once, with nothing duplicated or left staged
    assert outcome is CollectOutcome.SUCCEEDED
    rows = read_parquet(world.lake.objects.get("moderation_labels/dt=2026-11-20/job-1.parquet")).to_pylist()
    assert [r["detection_index"] for r in rows] == list(range(3500))
    assert world.lake.objects.keys("_staging/") == []
    assert world.store.get(clip.video_id).summary.label_count == 3500


def test_expired_token_without_checkpoint_is_an_error(world: CollectDeps) -> None:
    started(world, video())

    def expired(*args: object, **kwargs: object) -> object:
        raise PaginationExpired("expired")

    world.moderation.results_page = expired  # type: ignore[method-assign]
    with pytest.raises(PaginationExpired):
        handle(note(), world, PLENTY_OF_TIME)


def test_throttled_results_read_is_retried_later_not_failed(world: CollectDeps) -> None:
    # Given Rekognition throttles the first results read of a finished job
    clip = started(world, video())
    world.moderation.pages["job-1"] = make_pages(flagged_run(5), 1000)
    world.rng = lambda low, high: high
    serve = world.moderation.results_page
    calls = {"n": 0}

    def throttled_once(job_id: str, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RekognitionBusy("ProvisionedThroughputExceededException", "slow down")
        return serve(job_id, **kwargs)  # type: ignore[arg-type]

    world.moderation.results_page = throttled_once  # type: ignore[method-assign]
    # When the completion is handled
    outcome = handle(note(tag=clip.video_id), world, PLENTY_OF_TIME)
    # Then the message succeeds and a delayed copy of the completion waits on the collect queue
    assert outcome is CollectOutcome.THROTTLED
    [(body, delay)] = world.collect_queue.sent
    assert delay == 120
    # And that copy, handled later, collects the job
    again = parse_collect_message(json.dumps(body))
    assert again == note(tag=clip.video_id)
    assert handle(again, world, PLENTY_OF_TIME) is CollectOutcome.SUCCEEDED
    assert world.store.get(clip.video_id).summary.label_count == 5

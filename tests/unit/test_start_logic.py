"""start_moderation logic with in-memory fakes: skip, start, wait, duplicates, deletions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from functions.common.containers import looks_like_mp4_or_mov
from functions.common.errors import RekognitionBusy
from functions.common.lake import LakeWriter, read_parquet
from functions.common.messages import ObjectDeleted, RetryStart
from functions.common.models import MAX_VIDEO_BYTES, JobNotification, VideoSource, VideoStatus
from functions.common.ports import MAX_DELAY_SECONDS
from functions.start_moderation.logic import (
    SLOTS_BUSY,
    StartDeps,
    StartOutcome,
    StartRun,
    retry_delay,
)
from tests.fakes import (
    MP4_HEAD,
    FakeMedia,
    FakeModeration,
    InMemoryObjects,
    InMemoryVideoStore,
    RecordingQueue,
    movie_bytes,
    reject,
)
from tests.helpers import NOW, video


def start_world(media: FakeMedia | None = None, moderation: FakeModeration | None = None) -> StartDeps:
    """start_moderation over in-memory fakes: an account limit of 2 jobs, a fixed clock and the longest delay."""
    return StartDeps(
        store=InMemoryVideoStore(),
        media=FakeMedia() if media is None else media,
        lake=LakeWriter(InMemoryObjects()),
        moderation=FakeModeration(max_jobs=2) if moderation is None else moderation,
        retries=RecordingQueue(),
        min_confidence=50.0,
        video_suffixes=("mp4", "mov"),
        job_limit=2,
        clock=lambda: NOW,
        rng=lambda low, high: high,
    )


@pytest.fixture
def world() -> StartDeps:
    return start_world()


def test_starts_a_job_and_records_in_progress(world: StartDeps) -> None:
    # Given an uploaded MP4
    clip = world.media.add(video())
    # When it is handled
    outcome = StartRun(world).start(clip)
    # Then a job runs and the video is IN_PROGRESS with its job id
    assert outcome is StartOutcome.STARTED
    record = world.store.get(clip.video_id)
    assert record is not None and record.status is VideoStatus.IN_PROGRESS
    assert record.job_id == "job-0001" and record.min_confidence == 50.0


def test_redelivered_event_starts_no_second_job_and_changes_nothing(world: StartDeps) -> None:
    # Given a video whose job already started
    clip = world.media.add(video())
    run = StartRun(world)
    run.start(clip)
    before = world.store.get(clip.video_id)
    # When the same event arrives again
    outcome = run.start(clip)
    # Then nothing is called or changed
    assert outcome is StartOutcome.DUPLICATE
    assert world.moderation.start_calls == 1
    assert world.store.get(clip.video_id) == before


def test_new_version_of_same_key_is_a_new_video(world: StartDeps) -> None:
    # Given two versions of one key
    first = world.media.add(video(version="v1"))
    second = world.media.add(video(version="v2"))
    run = StartRun(world)
    # When both are handled
    outcomes = [run.start(first), run.start(second)]
    # Then each gets its own job
    assert outcomes == [StartOutcome.STARTED, StartOutcome.STARTED]
    assert first.video_id != second.video_id


@pytest.mark.parametrize(
    ("body", "size", "reason_part"),
    [
        (b"", 0, "empty"),
        (b"This is a text file renamed to .mp4\n" * 4, None, "not an MP4 or MOV"),
    ],
)
def test_unsuitable_objects_are_skipped_with_reason_and_a_parquet_row(
    world: StartDeps, body: bytes, size: int | None, reason_part: str
) -> None:
    # Given an object that is empty or not a video
    clip = world.media.add(video(), body=body)
    # When it is handled
    outcome = StartRun(world).start(clip)
    # Then it is SKIPPED with a reason, no job starts, and the lake has its row
    assert outcome is StartOutcome.SKIPPED
    record = world.store.get(clip.video_id)
    assert record is not None and record.status is VideoStatus.SKIPPED
    assert reason_part in (record.status_reason or "")
    assert world.moderation.start_calls == 0
    [key] = world.lake.objects.keys("moderation_videos/")
    assert key == f"moderation_videos/dt=2026-11-20/video-{clip.video_id}.parquet"
    row = read_parquet(world.lake.objects.get(key)).to_pylist()[0]
    assert row["status"] == "SKIPPED" and reason_part in row["status_reason"]


def test_a_skip_replayed_the_next_day_rewrites_its_row_where_it_was(world: StartDeps) -> None:
    # Given a non-video uploaded just before midnight and skipped at NOW, the next morning
    uploaded = NOW.replace(hour=0, minute=0, second=0) - timedelta(seconds=2)
    clip = world.media.add(video(uploaded_at=uploaded), body=b"x" * 64)
    assert StartRun(world).start(clip) is StartOutcome.SKIPPED
    [key] = world.lake.objects.keys("moderation_videos/")
    first_row = read_parquet(world.lake.objects.get(key)).to_pylist()
    # Then its row is in the partition of the outcome, not of the upload
    assert key == f"moderation_videos/dt=2026-11-20/video-{clip.video_id}.parquet"
    # When the event is delivered again a day later, after the row was lost (a crash between the two writes)
    world.lake.objects.delete([key])
    later = replace(world, clock=lambda: NOW + timedelta(days=1))
    outcome = StartRun(later).start(clip)
    # Then it is a duplicate, and the very same row is back in the very same object
    assert outcome is StartOutcome.DUPLICATE
    assert world.lake.objects.keys("moderation_videos/") == [key]
    assert read_parquet(world.lake.objects.get(key)).to_pylist() == first_row
    assert first_row[0]["completed_at"] == NOW.replace(tzinfo=None)


def test_oversized_object_is_skipped(world: StartDeps) -> None:
    # Given HeadObject reports more than 10 GB
    clip = world.media.add(video())
    world.media.head = lambda v: replace(FakeMedia.head(world.media, v), size=MAX_VIDEO_BYTES + 1)  # type: ignore[method-assign]
    # When it is handled
    outcome = StartRun(world).start(clip)
    # Then it is skipped before any job
    assert outcome is StartOutcome.SKIPPED
    assert "10 GB" in (world.store.get(clip.video_id).status_reason or "")
    assert world.moderation.start_calls == 0


def test_vanished_object_is_skipped(world: StartDeps) -> None:
    # Given an event for a version that no longer exists
    clip = video()
    # When it is handled
    outcome = StartRun(world).start(clip)
    # Then it is recorded as skipped, not lost and not retried forever
    assert outcome is StartOutcome.SKIPPED
    assert "no longer exists" in world.store.get(clip.video_id).status_reason


def test_suffix_and_prefix_are_checked_case_insensitively(world: StartDeps) -> None:
    # Given a prefix filter and keys in several cases
    world.key_prefix = "in/"
    upper = world.media.add(video("in/CLIP.MOV"))
    outside = world.media.add(video("other/clip.mp4"))
    text = world.media.add(video("in/notes.txt"))
    run = StartRun(world)
    # When they are handled
    # Then only the in-prefix video with a supported suffix starts
    assert run.start(upper) is StartOutcome.STARTED
    assert run.start(outside) is StartOutcome.SKIPPED
    assert run.start(text) is StartOutcome.SKIPPED


def test_rekognition_rejections_are_recorded(world: StartDeps) -> None:
    # Given Rekognition refuses one video as unreadable and another for a bad parameter
    a = world.media.add(video("a.mp4"))
    b = world.media.add(video("b.mp4"))
    world.moderation.errors = [
        reject("InvalidS3ObjectException", "Unable to get object metadata from S3", skip=True),
        reject("InvalidParameterException", "MinConfidence out of range", skip=False),
    ]
    run = StartRun(world)
    # When they are handled
    # Then one is SKIPPED and the other FAILED, each with Rekognition's reason
    assert run.start(a) is StartOutcome.SKIPPED
    assert run.start(b) is StartOutcome.FAILED
    assert "InvalidS3ObjectException" in world.store.get(a.video_id).status_reason
    assert world.store.get(b.video_id).status is VideoStatus.FAILED


def test_job_limit_leaves_the_video_waiting_in_its_lane_without_a_retry_message(world: StartDeps) -> None:
    # Given Rekognition refuses the start at its job limit (another workload holds the slots)
    clip = world.media.add(video())
    world.moderation.errors = [RekognitionBusy("LimitExceededException", "too many jobs")]
    # When the video is handled
    outcome = StartRun(world).start(clip)
    # Then it waits in the upload lane, and nothing is scheduled to ask Rekognition again
    assert outcome is StartOutcome.QUEUED
    record = world.store.get(clip.video_id)
    assert record.status is VideoStatus.QUEUED and record.status_reason == "LimitExceededException"
    assert world.retries.sent == []
    assert [r.video_id for r in world.store.next_waiting(5)] == [clip.video_id]


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_tps_throttling_queues_the_video_with_a_short_delayed_retry(world: StartDeps, code: str) -> None:
    # Given Rekognition throttles the request rate (not the job limit)
    clip = world.media.add(video())
    world.moderation.errors = [RekognitionBusy(code, "slow down")]
    # When the video is handled
    outcome = StartRun(world).start(clip)
    # Then it is QUEUED and one delayed retry is on the start queue, seconds away
    assert outcome is StartOutcome.QUEUED
    record = world.store.get(clip.video_id)
    assert record.status is VideoStatus.QUEUED and record.attempts == 1 and record.status_reason == code
    [(message, delay)] = world.retries.sent
    assert message["kind"] == "modlake.retry_start" and message["attempt"] == 1 and not message["kicked"]
    assert message["video"]["key"] == clip.key and delay == 2


def test_a_full_count_of_modlakes_own_jobs_waits_without_calling_rekognition(world: StartDeps) -> None:
    # Given modlake already runs job_limit (2) jobs
    run = StartRun(world)
    for i in range(2):
        assert run.start(world.media.add(video(f"running{i}.mp4"))) is StartOutcome.STARTED
    calls = world.moderation.start_calls
    # When three more uploads arrive, in a later batch
    later = StartRun(world)
    outcomes = [later.start(world.media.add(video(f"new{i}.mp4"))) for i in range(3)]
    # Then they wait, and Rekognition was not asked once (no refused call)
    assert outcomes == [StartOutcome.QUEUED] * 3
    assert world.moderation.start_calls == calls
    assert {r.status_reason for r in world.store.next_waiting(10)} == {SLOTS_BUSY}


def test_after_one_refusal_the_rest_of_the_batch_waits_without_calling_rekognition(world: StartDeps) -> None:
    # Given modlake counts two free slots but another workload holds one of them
    world.moderation.max_jobs = 1
    clips = [world.media.add(video(f"v{i}.mp4")) for i in range(5)]
    run = StartRun(world)
    # When the batch is handled
    outcomes = [run.start(c) for c in clips]
    # Then one starts, four wait, and Rekognition refused exactly one call
    assert outcomes.count(StartOutcome.STARTED) == 1
    assert outcomes.count(StartOutcome.QUEUED) == 4
    assert world.moderation.start_calls == 2
    assert world.retries.sent == []


def test_fill_pass_gives_free_slots_to_uploads_before_backfill(world: StartDeps) -> None:
    # Given three backfill videos and then two uploads waiting, and both slots now free
    world.moderation.max_jobs = 0
    run = StartRun(world)
    backfill = [world.media.add(video(f"old{i}.mp4", source=VideoSource.BACKFILL)) for i in range(3)]
    uploads = [world.media.add(video(f"new{i}.mp4")) for i in range(2)]
    for clip in [*backfill, *uploads]:
        run.start(clip)
    world.moderation.max_jobs = 2
    # When a fill pass runs
    outcome = StartRun(world).fill_slots()
    # Then the two uploads got the slots, though the backfill videos waited longer
    assert outcome is StartOutcome.FILL_PASS
    running = {c.key for c in [*backfill, *uploads] if world.store.get(c.video_id).status is VideoStatus.IN_PROGRESS}
    assert running == {"new0.mp4", "new1.mp4"}


def test_fill_pass_stops_at_the_first_refusal(world: StartDeps) -> None:
    # Given five waiting videos, free slots by modlake's count, but another workload holds every slot
    world.moderation.max_jobs = 0
    run = StartRun(world)
    for i in range(5):
        run.start(world.media.add(video(f"v{i}.mp4")))
    calls = world.moderation.start_calls
    # When a fill pass runs
    StartRun(world).fill_slots()
    # Then it asked Rekognition once, and every video still waits
    assert world.moderation.start_calls == calls + 1
    assert len(world.store.next_waiting(10)) == 5


def test_fill_pass_with_every_slot_counted_busy_calls_nothing(world: StartDeps) -> None:
    # Given modlake runs job_limit jobs and one video waits
    run = StartRun(world)
    for i in range(2):
        run.start(world.media.add(video(f"running{i}.mp4")))
    StartRun(world).start(world.media.add(video("waiting.mp4")))
    calls = world.moderation.start_calls
    # When the tick's fill pass runs
    StartRun(world).fill_slots()
    # Then Rekognition is not asked: no slot can be free
    assert world.moderation.start_calls == calls


def test_an_upload_of_a_version_waiting_as_backfill_moves_it_to_the_upload_lane(world: StartDeps) -> None:
    # Given a stored version waiting in the backfill lane
    world.moderation.max_jobs = 0
    stored = world.media.add(video("same.mp4", source=VideoSource.BACKFILL))
    StartRun(world).start(stored)
    assert world.store.get(stored.video_id).video.source is VideoSource.BACKFILL
    # When its upload event arrives too
    StartRun(world).start(replace(stored, source=VideoSource.UPLOAD))
    # Then it is one video, an upload, still waiting once
    record = world.store.get(stored.video_id)
    assert record.video.source is VideoSource.UPLOAD and record.status is VideoStatus.QUEUED
    assert len(world.store.next_waiting(10)) == 1


def test_kicked_retry_that_finds_no_slot_stays_waiting_without_a_message(world: StartDeps) -> None:
    # Given a queued video
    clip = world.media.add(video())
    world.moderation.max_jobs = 0
    StartRun(world).start(clip)
    # When a kicked try also meets a full account
    outcome = StartRun(world).handle(RetryStart(clip, attempt=1, kicked=True))
    # Then it still waits and nothing is sent
    assert outcome is StartOutcome.QUEUED
    assert world.store.get(clip.video_id).status is VideoStatus.QUEUED
    assert world.retries.sent == []


def test_retry_for_a_started_video_changes_nothing(world: StartDeps) -> None:
    clip = world.media.add(video())
    StartRun(world).start(clip)
    assert StartRun(world).handle(RetryStart(clip, attempt=3)) is StartOutcome.DUPLICATE
    assert world.moderation.start_calls == 1


def test_throttle_retry_delay_grows_and_is_capped() -> None:
    high = lambda low, high: high  # noqa: E731
    assert [retry_delay(n, high) for n in (1, 2, 3)] == [2, 4, 8]
    assert retry_delay(50, high) == MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    ("duration_ms", "policy_minutes", "reason"),
    [
        (6 * 3600 * 1000 + 1000, None, "over Rekognition's 6-hour limit"),
        (31 * 60 * 1000, 30, "over the max_video_minutes policy (30)"),
    ],
)
def test_a_video_too_long_is_skipped_before_any_job(
    world: StartDeps, duration_ms: int, policy_minutes: int | None, reason: str
) -> None:
    # Given a video whose header says it is longer than allowed
    world.max_video_seconds = policy_minutes * 60 if policy_minutes else None
    clip = world.media.add(video(), movie_bytes(duration_ms))
    # When it is handled
    outcome = StartRun(world).start(clip)
    # Then it is SKIPPED with the reason and Rekognition was never asked
    assert outcome is StartOutcome.SKIPPED
    assert reason in world.store.get(clip.video_id).status_reason
    assert world.moderation.start_calls == 0


def test_a_video_within_the_policy_starts(world: StartDeps) -> None:
    world.max_video_seconds = 30 * 60
    clip = world.media.add(video(), movie_bytes(30 * 60 * 1000))
    assert StartRun(world).start(clip) is StartOutcome.STARTED


def test_a_truncated_movie_is_skipped_with_the_parsers_reason(world: StartDeps) -> None:
    # Given an MP4 whose moov box was cut off
    clip = world.media.add(video(), movie_bytes()[:60])
    # When it is handled
    outcome = StartRun(world).start(clip)
    # Then it is skipped as truncated, before any job
    assert outcome is StartOutcome.SKIPPED
    assert "truncated" in world.store.get(clip.video_id).status_reason
    assert world.moderation.start_calls == 0


def test_container_sniffing() -> None:
    assert looks_like_mp4_or_mov(MP4_HEAD)
    assert looks_like_mp4_or_mov(b"\x00\x00\x00\x08wide\x00\x00")
    assert not looks_like_mp4_or_mov(b"\x1aE\xdf\xa3\x9fB\x86\x81\x01")  # Matroska/WebM
    assert not looks_like_mp4_or_mov(b"GIF89a")


def test_delete_marks_every_version_deleted_and_keeps_the_lake(world: StartDeps) -> None:
    # Given two moderated versions of one key
    first = world.media.add(video(version="v1"))
    second = world.media.add(video(version="v2"))
    run = StartRun(world)
    run.start(first)
    run.start(second)
    lake_before = dict(world.lake.objects.objects)
    # When a delete marker is created
    outcome = run.handle(ObjectDeleted(first.bucket, first.key, "marker", "Delete Marker Created", NOW))
    # Then both versions are DELETED and no analytics object changed
    assert outcome is StartOutcome.DELETED
    assert {world.store.get(v.video_id).status for v in (first, second)} == {VideoStatus.DELETED}
    assert world.lake.objects.objects == lake_before


def test_permanent_delete_of_one_version_marks_only_that_version(world: StartDeps) -> None:
    first = world.media.add(video(version="v1"))
    second = world.media.add(video(version="v2"))
    run = StartRun(world)
    run.start(first)
    run.start(second)
    run.handle(ObjectDeleted(first.bucket, first.key, "v1", "Permanently Deleted", NOW))
    assert world.store.get(first.video_id).status is VideoStatus.DELETED
    assert world.store.get(second.video_id).status is VideoStatus.IN_PROGRESS


def test_delete_of_unknown_object_is_recorded_as_such(world: StartDeps) -> None:
    outcome = StartRun(world).handle(ObjectDeleted("b", "never-seen.mp4", None, None, NOW))
    assert outcome is StartOutcome.UNKNOWN_OBJECT


def test_a_message_of_another_kind_fails_instead_of_passing_as_an_upload(world: StartDeps) -> None:
    # Given a collect-side message that reached start_moderation (a wiring bug), with a video in it
    clip = world.media.add(video())
    stray = JobNotification("job-1", "SUCCEEDED", "StartContentModeration", clip.video_id, NOW, clip.bucket, clip.key)
    # When it is routed (also under python -O, where an assert would vanish)
    # Then it fails loudly, and no job was started for the video inside it
    with pytest.raises(TypeError, match="cannot handle a JobNotification"):
        StartRun(world).handle(stray)  # type: ignore[arg-type]
    assert world.store.get(clip.video_id) is None


def test_a_refused_kicked_start_gives_its_claim_back_at_once(world: StartDeps) -> None:
    # Given a waiting upload claimed for a freed slot that another start took first
    world.moderation.max_jobs = 0
    clip = world.media.add(video())
    StartRun(world).start(clip)
    assert world.store.claim_waiting(clip.video_id, NOW, 60)
    # When its kicked start is refused
    StartRun(world).handle(RetryStart(clip, attempt=1, kicked=True))
    # Then it is claimable again now, not a minute later: the next freed slot goes to it
    assert world.store.get(clip.video_id).claimed_at is None
    assert world.store.claim_waiting(clip.video_id, NOW, 60)


def test_fill_pass_leaves_a_slot_on_its_way_to_a_claimed_video_alone(world: StartDeps) -> None:
    # Given one job running, two videos waiting, and the older one claimed by a kick still in flight
    run = StartRun(world)
    run.start(world.media.add(video("running.mp4")))
    world.moderation.max_jobs = 1
    claimed = world.media.add(video("claimed.mp4", uploaded_at=NOW - timedelta(minutes=1)))
    other = world.media.add(video("other.mp4"))
    StartRun(world).start(claimed)
    StartRun(world).start(other)
    world.moderation.max_jobs = 2
    assert world.store.claim_waiting(claimed.video_id, NOW, 60)
    calls = world.moderation.start_calls
    # When a fill pass runs while modlake counts one free slot
    StartRun(world).fill_slots()
    # Then it starts nothing: that slot is the claimed video's, and taking it would only get its start refused
    assert world.moderation.start_calls == calls
    assert world.store.get(other.video_id).status is VideoStatus.QUEUED


def test_a_waiting_video_is_not_read_again_when_its_slot_comes(world: StartDeps) -> None:
    # Given a video that passed screening and waits for a slot
    world.moderation.max_jobs = 0
    clip = world.media.add(video())
    StartRun(world).start(clip)
    world.moderation.max_jobs = 2
    reads: list[str] = []
    media = world.media
    world.media = type(  # a media bucket that records every read
        "CountingMedia",
        (),
        {
            "head": lambda self, v: reads.append("head") or media.head(v),
            "read_start": lambda self, v, n: reads.append("read") or media.read_start(v, n),
            "read_range": lambda self, v, o, n: reads.append("range") or media.read_range(v, o, n),
        },
    )()
    # When a freed slot kicks it
    outcome = StartRun(world).handle(RetryStart(clip, attempt=1, kicked=True))
    # Then its job starts without a second HeadObject or header read
    assert outcome is StartOutcome.STARTED
    assert reads == []

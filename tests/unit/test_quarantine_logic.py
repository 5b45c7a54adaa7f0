"""Quarantine tags with in-memory fakes: each outcome on its exact version, other tags kept, replays writing nothing,
S3's 10-tag limit and a deleted version logged (never raised), and nothing at all with quarantine off."""

from __future__ import annotations

import logging

import pytest

from functions.collect_results.logic import CollectDeps, CollectOutcome, handle
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter
from functions.common.models import JobNotification, VideoRef, VideoStatus, VideoSummary
from functions.common.quarantine import (
    MODERATION_TAG_KEY,
    ModerationOutcome,
    QuarantineMode,
    TagWrite,
    moderation_tag,
    outcome_of,
    tag_outcome,
)
from functions.common.settings import CollectSettings, SettingsError, StartSettings
from functions.queue_backfill.logic import BackfillDeps, queue_task
from functions.start_moderation.logic import StartDeps, StartOutcome, StartRun
from tests.fakes import (
    FakeMedia,
    FakeModeration,
    InMemoryObjects,
    InMemoryVideoStore,
    RecordingQueue,
    fake_collect_deps,
    reject,
)
from tests.fakes import make_pages as pages
from tests.helpers import MEDIA_BUCKET, NOW, detection, video

PLENTY_OF_TIME = lambda: 900_000  # noqa: E731
OTHER_TAGS = {"team": "sports", "retention": "1y"}


def _collect_world(media: FakeMedia, mode: QuarantineMode = QuarantineMode.TAG) -> CollectDeps:
    return fake_collect_deps(policy=FlagPolicy(threshold=80.0), clock=lambda: NOW, quarantine=mode, media_tags=media)


def _finish(
    world: CollectDeps, clip: VideoRef, *, confidence: float = 97.0, status: str = "SUCCEEDED"
) -> CollectOutcome:
    """Start `clip` as job-1 (unless it is already), give the job one Violence detection, collect its completion."""
    if world.store.get(clip.video_id) is None:
        world.store.mark_in_progress(clip, "job-1", 50.0, NOW)
    world.moderation.pages["job-1"] = pages([detection(0, "Violence", confidence=confidence)], 1000, status=status)
    return handle(
        JobNotification("job-1", status, "StartContentModeration", clip.video_id, NOW, None, None),
        world,
        PLENTY_OF_TIME,
    )


def _tags(media: FakeMedia, clip: VideoRef) -> dict[str, str]:
    return media.tags.get((clip.key, clip.version_id), {})


# --- the outcome → tag value -----------------------------------------------------------------------------------------
def test_each_settled_status_has_its_tag_value() -> None:
    flagged, clean = VideoSummary(flagged_label_count=1), VideoSummary()
    assert outcome_of(VideoStatus.SUCCEEDED, flagged) is ModerationOutcome.FLAGGED
    assert outcome_of(VideoStatus.SUCCEEDED, clean) is ModerationOutcome.CLEAN
    assert outcome_of(VideoStatus.FAILED) is ModerationOutcome.FAILED
    assert outcome_of(VideoStatus.SKIPPED) is ModerationOutcome.SKIPPED
    assert [moderation_tag(o) for o in ModerationOutcome] == ["flagged", "clean", "failed", "skipped"]
    assert moderation_tag("clean") == "clean"  # what an overturned verdict writes
    with pytest.raises(ValueError):
        moderation_tag("overturned")
    with pytest.raises(ValueError, match="no moderation outcome"):
        outcome_of(VideoStatus.IN_PROGRESS)


# --- collect_results: flagged, clean, failed ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("confidence", "status", "expected"),
    [(97.0, "SUCCEEDED", "flagged"), (40.0, "SUCCEEDED", "clean"), (97.0, "FAILED", "failed")],
)
def test_a_collected_job_tags_exactly_its_version_and_keeps_the_other_tags(
    confidence: float, status: str, expected: str
) -> None:
    # Given two versions of one key, the moderated one with two tags of its owner's
    media = FakeMedia()
    clip, older = media.add(video(version="v2")), media.add(video(version="v1"))
    media.tags[(clip.key, "v2")] = dict(OTHER_TAGS)
    world = _collect_world(media)
    # When its job is collected
    _finish(world, clip, confidence=confidence, status=status)
    # Then the moderated version carries the outcome next to its other tags, and the other version nothing
    assert _tags(media, clip) == {**OTHER_TAGS, MODERATION_TAG_KEY: expected}
    assert _tags(media, older) == {}


def test_a_replayed_completion_writes_no_tag_again() -> None:
    # Given a collected, tagged job
    media = FakeMedia()
    clip = media.add(video())
    world = _collect_world(media)
    assert _finish(world, clip) is CollectOutcome.SUCCEEDED
    # When its completion is delivered again
    outcome = _finish(world, clip)
    # Then nothing is collected or written again
    assert outcome is CollectOutcome.DUPLICATE
    assert media.tag_writes == 1 and _tags(media, clip) == {MODERATION_TAG_KEY: "flagged"}


def test_a_tag_write_that_fails_retries_the_message_which_then_tags_and_settles() -> None:
    # Given S3 failing the first tag write
    media = FakeMedia()
    clip = media.add(video())
    world = _collect_world(media)
    calls = []

    def failing_once(video: VideoRef, key: str, value: str) -> TagWrite:
        calls.append(value)
        if len(calls) == 1:
            raise ConnectionError("S3 is unreachable")
        return FakeMedia.put_tag(media, video, key, value)

    media.put_tag = failing_once  # type: ignore[method-assign]
    # When the completion fails, then the video is not settled (the message is retried)
    with pytest.raises(ConnectionError):
        _finish(world, clip)
    assert world.store.get(clip.video_id).status is VideoStatus.IN_PROGRESS
    # When it is delivered again, then the tag is written and the video settled
    assert _finish(world, clip) is CollectOutcome.SUCCEEDED
    assert _tags(media, clip) == {MODERATION_TAG_KEY: "flagged"}


def test_ten_other_tags_leave_the_tags_as_they_are_and_log_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    # Given a version that already has S3's maximum of 10 tags
    media = FakeMedia()
    clip = media.add(video())
    full = {f"owner-{n}": str(n) for n in range(10)}
    media.tags[(clip.key, clip.version_id)] = dict(full)
    world = _collect_world(media)
    # When its job is collected
    with caplog.at_level(logging.INFO):
        outcome = _finish(world, clip)
    # Then the moderation result is recorded, the tags are untouched, and a warning names the outcome
    assert outcome is CollectOutcome.SUCCEEDED and world.store.get(clip.video_id).status is VideoStatus.SUCCEEDED
    assert _tags(media, clip) == full
    [warning] = [r for r in caplog.records if r.getMessage().startswith("moderation tag not written")]
    assert warning.levelno == logging.WARNING and vars(warning)["outcome"] == "flagged"
    assert vars(warning)["version_id"] == clip.version_id


def test_a_version_deleted_meanwhile_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # Given a job whose version was permanently deleted before its results were collected
    media = FakeMedia()
    clip = video()
    world = _collect_world(media)
    # When the job is collected
    with caplog.at_level(logging.INFO):
        outcome = _finish(world, clip)
    # Then it settles, and the missing version is a warning
    assert outcome is CollectOutcome.SUCCEEDED
    [warning] = [r for r in caplog.records if "no longer exists" in r.getMessage()]
    assert warning.levelno == logging.WARNING and vars(warning)["key"] == clip.key


def test_with_quarantine_off_nothing_is_tagged() -> None:
    media = FakeMedia()
    clip = media.add(video())
    world = _collect_world(media, QuarantineMode.OFF)
    world.media_tags = None  # off: a handler needs no tagging adapter
    assert _finish(world, clip) is CollectOutcome.SUCCEEDED
    assert media.tags == {} and media.tag_writes == 0


def test_quarantine_on_without_a_tagging_adapter_is_a_bug_not_a_silent_skip() -> None:
    with pytest.raises(ValueError, match="no media tagging adapter"):
        tag_outcome(None, video(), ModerationOutcome.CLEAN, QuarantineMode.DENY)


# --- start_moderation and queue_backfill: skipped, and failed before a job ----------------------------------------
def _start_world(media: FakeMedia, mode: QuarantineMode = QuarantineMode.TAG) -> StartDeps:
    return StartDeps(
        store=InMemoryVideoStore(),
        media=media,
        lake=LakeWriter(InMemoryObjects()),
        moderation=FakeModeration(),
        retries=RecordingQueue(),
        min_confidence=50.0,
        video_suffixes=("mp4", "mov"),
        quarantine=mode,
        media_tags=media,
        clock=lambda: NOW,
    )


def test_a_skipped_upload_is_tagged_skipped_and_a_replay_writes_nothing() -> None:
    # Given an .mp4 that is text
    media = FakeMedia()
    notes = media.add(video("uploads/notes.mp4"), b"meeting notes, not a video")
    world = _start_world(media)
    # When it is screened, then it is skipped and tagged so
    assert StartRun(world).start(notes) is StartOutcome.SKIPPED
    assert _tags(media, notes) == {MODERATION_TAG_KEY: "skipped"}
    # When its event is delivered again, then no tag is written again
    assert StartRun(world).start(notes) is StartOutcome.DUPLICATE
    assert media.tag_writes == 1


def test_a_replay_repairs_a_skipped_videos_tag_lost_after_its_record() -> None:
    # Given a skipped video whose tag write was lost (the function stopped after recording the outcome)
    media = FakeMedia()
    notes = media.add(video("uploads/notes.mp4"), b"not a video")
    world = _start_world(media)
    StartRun(world).start(notes)
    media.tags.clear()
    # When its event is delivered again, then the tag is written from the record
    StartRun(world).start(notes)
    assert _tags(media, notes) == {MODERATION_TAG_KEY: "skipped"}


def test_a_video_rekognition_refuses_is_tagged_failed() -> None:
    # Given a movie Rekognition refuses to start (not skippable)
    media = FakeMedia()
    clip = media.add(video())
    world = _start_world(media)
    world.moderation.errors.append(reject("InvalidS3ObjectException", "cannot read", skip=False))
    # When it is started, then it fails before any job and is tagged failed
    assert StartRun(world).start(clip) is StartOutcome.FAILED
    assert _tags(media, clip) == {MODERATION_TAG_KEY: "failed"}


def test_a_started_video_is_not_tagged_until_its_outcome() -> None:
    media = FakeMedia()
    clip = media.add(video())
    world = _start_world(media)
    assert StartRun(world).start(clip) is StartOutcome.STARTED
    assert media.tags == {}


def test_screening_with_quarantine_off_writes_no_tag() -> None:
    media = FakeMedia()
    notes = media.add(video("uploads/notes.mp4"), b"not a video")
    assert StartRun(_start_world(media, QuarantineMode.OFF)).start(notes) is StartOutcome.SKIPPED
    assert media.tags == {}


def test_a_backfilled_object_that_is_skipped_is_tagged_skipped() -> None:
    media = FakeMedia()
    notes = media.add(video("archive/notes.mov"), b"not a video")
    deps = BackfillDeps(
        store=InMemoryVideoStore(),
        media=media,
        lake=LakeWriter(InMemoryObjects()),
        media_bucket=MEDIA_BUCKET,
        video_suffixes=("mp4", "mov"),
        quarantine=QuarantineMode.DENY,
        media_tags=media,
        clock=lambda: NOW,
    )
    queue_task(deps, MEDIA_BUCKET, notes.key, notes.version_id)
    assert media.tags[(notes.key, notes.version_id)] == {MODERATION_TAG_KEY: "skipped"}


# --- settings ---------------------------------------------------------------------------------------------------------
def test_the_mode_is_an_optional_setting_that_defaults_to_off_and_is_validated() -> None:
    required = dict.fromkeys(CollectSettings.env_keys(), "x")
    required |= {"FLAG_THRESHOLD": "80", "CATEGORY_THRESHOLDS": "{}", "IGNORED_CATEGORIES": "[]"}
    assert CollectSettings.optional_env_keys() == ("QUARANTINE",) == StartSettings.optional_env_keys()
    assert "QUARANTINE" not in CollectSettings.env_keys()
    assert CollectSettings.from_env(required).quarantine is QuarantineMode.OFF
    assert CollectSettings.from_env({**required, "QUARANTINE": "deny"}).quarantine is QuarantineMode.DENY
    with pytest.raises(SettingsError, match="QUARANTINE='block'"):
        CollectSettings.from_env({**required, "QUARANTINE": "block"})

"""review_api logic with in-memory fakes: lookups, the review queue, verdicts (replays, refusals), quarantine tags."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from functions.collect_results.logic import CollectOutcome
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter, read_parquet
from functions.common.models import VerdictKind, VideoRef
from functions.common.quarantine import MODERATION_TAG_KEY, QuarantineMode
from functions.common.verdicts import MAX_NOTE_CHARS, VerdictRequest, verdict_id
from functions.review_api.logic import (
    MAX_QUEUE_LIMIT,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ReviewDeps,
    lookup_video,
    record_verdict,
    review_queue,
)
from glue import VERDICTS
from tests.fakes import FakeMedia, InMemoryObjects, InMemoryVideoStore, collect_finished_job, fake_collect_deps
from tests.helpers import MEDIA_BUCKET, NOW, detection, video

REVIEWER = "arn:aws:sts::123456789012:assumed-role/Reviewers/ana"
SIGNED = {"authorizer": {"iam": {"userArn": REVIEWER, "accountId": "123456789012"}}}
HOUR = timedelta(hours=1)


@dataclass
class World:
    """A store and lake the collector filled, the media bucket's tags, and the review API's dependencies on them."""

    store: InMemoryVideoStore
    lake: InMemoryObjects
    media: FakeMedia
    deps: ReviewDeps
    now: list[Any] = field(default_factory=lambda: [NOW + 2 * HOUR])

    def collect(self, clip: VideoRef, *, flagged: bool = True, at: Any = NOW) -> VideoRef:
        """Collect a job for the clip at `at`: Violence at 95 and Alcohol at 85 when flagged, Alcohol at 40 if not."""
        clip = self.media.add(clip)
        raws = [detection(0, "Alcohol", confidence=85.0), detection(500, "Violence", confidence=95.0)]
        collect = fake_collect_deps(self.lake, store=self.store, policy=FlagPolicy(threshold=80.0))
        job = f"job-{clip.video_id[:8]}"
        outcome = collect_finished_job(
            collect, clip, job, raws if flagged else [detection(0, "Alcohol", confidence=40.0)], at
        )
        assert outcome is CollectOutcome.SUCCEEDED
        return clip

    def post(self, clip: VideoRef, body: dict[str, Any] | str, context: dict[str, Any] | None = SIGNED) -> Any:
        text = body if isinstance(body, str) else json.dumps(body)
        return record_verdict(clip.video_id, text, context, self.deps)


@pytest.fixture
def world() -> World:
    store, lake, media = InMemoryVideoStore(), InMemoryObjects(), FakeMedia()
    now = [NOW + 2 * HOUR]
    deps = ReviewDeps(store=store, lake=LakeWriter(lake), tags=media, clock=lambda: now[0])
    return World(store, lake, media, deps, now)


# --- GET /videos ----------------------------------------------------------------------------------------------------
def test_lookup_answers_the_newest_version_unless_one_is_named(world: World) -> None:
    # Given two versions of one key, the second uploaded later and flagged, the first clean
    first = world.collect(video("uploads/clip.mp4", "v1", uploaded_at=NOW - HOUR), flagged=False)
    second = world.collect(video("uploads/clip.mp4", "v2", uploaded_at=NOW), at=NOW + HOUR)
    # When it is looked up without a version, and with the first version's id
    newest = lookup_video({"bucket": MEDIA_BUCKET, "key": "uploads/clip.mp4"}, world.deps)
    named = lookup_video({"bucket": MEDIA_BUCKET, "key": "uploads/clip.mp4", "version_id": "v1"}, world.deps)
    # Then the newest is the second version: its status, flag, flagged categories, confidence, completion, no verdict
    assert newest.status == 200
    assert newest.body == {
        "video_id": second.video_id,
        "bucket": MEDIA_BUCKET,
        "key": "uploads/clip.mp4",
        "version_id": "v2",
        "status": "SUCCEEDED",
        "flagged": True,
        "categories": ["Alcohol", "Violence"],
        "max_confidence": 95.0,
        "completed_at": "2026-11-20T11:30:00.000Z",
        "awaiting_review": True,
        "verdict": None,
    }
    # And the named one is the first, clean
    assert (named.body["video_id"], named.body["flagged"], named.body["categories"]) == (first.video_id, False, [])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"key": "uploads/clip.mp4"}, "'bucket' is required"),
        ({"bucket": MEDIA_BUCKET}, "'key' is required"),
        ({"bucket": "  ", "key": "uploads/clip.mp4"}, "'bucket' is required"),
        ({"bucket": MEDIA_BUCKET, "key": ""}, "'key' is required"),
    ],
)
def test_lookup_without_bucket_or_key_is_a_bad_request(world: World, params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message) as refused:
        lookup_video(params, world.deps)
    assert refused.value.status == 400


def test_lookup_of_an_unknown_object_or_version_is_not_found(world: World) -> None:
    # Given one moderated version
    world.collect(video("uploads/clip.mp4", "v1"))
    # When another key, or another version of the key, is looked up / Then neither is found, and the error names it
    with pytest.raises(NotFound) as unknown_key:
        lookup_video({"bucket": MEDIA_BUCKET, "key": "uploads/other.mp4"}, world.deps)
    with pytest.raises(NotFound, match="version v9"):
        lookup_video({"bucket": MEDIA_BUCKET, "key": "uploads/clip.mp4", "version_id": "v9"}, world.deps)
    assert unknown_key.value.status == 404
    assert unknown_key.value.concerns == {"bucket": MEDIA_BUCKET, "key": "uploads/other.mp4"}


# --- GET /review-queue ----------------------------------------------------------------------------------------------
def test_the_review_queue_lists_unreviewed_flagged_videos_oldest_first_with_age_and_top_category(world: World) -> None:
    # Given three flagged videos flagged at 10:30, 11:30 and 09:30, one clean video, and one already reviewed
    a = world.collect(video("a.mp4"), at=NOW)
    b = world.collect(video("b.mp4"), at=NOW + HOUR)
    c = world.collect(video("c.mp4"), at=NOW - HOUR)
    world.collect(video("clean.mp4"), flagged=False)
    reviewed = world.collect(video("reviewed.mp4"), at=NOW - 2 * HOUR)
    assert world.post(reviewed, {"verdict": "confirmed"}).status == 201
    # When the queue is read at 12:30
    answer = review_queue({}, world.deps)
    # Then it lists the unreviewed flagged ones, oldest first, with their age, top category and confidence
    assert answer.status == 200
    assert [v["video_id"] for v in answer.body["videos"]] == [c.video_id, a.video_id, b.video_id]
    assert answer.body["videos"][0] == {
        "video_id": c.video_id,
        "bucket": MEDIA_BUCKET,
        "key": "c.mp4",
        "version_id": "v1",
        "flagged_at": "2026-11-20T09:30:00.000Z",
        "age_seconds": 3 * 3600,
        "top_category": "Violence",  # the strongest flagging detection, not merely a flagged category
        "max_confidence": 95.0,
    }
    # And a limit cuts the list from the oldest
    assert [v["key"] for v in review_queue({"limit": "2"}, world.deps).body["videos"]] == ["c.mp4", "a.mp4"]


@pytest.mark.parametrize("limit", ["0", "-1", "501", "ten", "2.5"])
def test_a_review_queue_limit_outside_1_to_500_is_a_bad_request(world: World, limit: str) -> None:
    with pytest.raises(BadRequest, match=f"from 1 to {MAX_QUEUE_LIMIT}"):
        review_queue({"limit": limit}, world.deps)


def test_the_review_queue_limit_defaults_to_50_and_allows_500(world: World) -> None:
    # Given 51 flagged videos
    for i in range(51):
        world.collect(video(f"q/{i:02d}.mp4"), at=NOW + timedelta(seconds=i))
    # Then 50 come by default and all 51 with the largest limit
    assert len(review_queue({}, world.deps).body["videos"]) == 50
    assert len(review_queue({"limit": "500"}, world.deps).body["videos"]) == 51


# --- POST /videos/{video_id}/verdicts -------------------------------------------------------------------------------
def test_a_verdict_is_recorded_with_the_verified_reviewer_in_history_summary_and_lake(world: World) -> None:
    # Given a flagged video awaiting review
    clip = world.collect(video("uploads/clip.mp4"))
    # When the reviewer overturns the flag with a category, a note and a request id
    body = {"verdict": "overturned", "category": "Violence", "note": "stage combat", "request_id": "req-00000001"}
    answer = world.post(clip, body)
    # Then the API answers 201 with the verdict: who (the verified ARN), when, what, and the video's top category
    assert answer.status == 201
    recorded = answer.body["verdict"]
    assert recorded == {
        "verdict_id": verdict_id(
            clip.video_id, REVIEWER, VerdictRequest(VerdictKind.OVERTURNED, request_id="req-00000001")
        ),
        "video_id": clip.video_id,
        "verdict": "overturned",
        "category": "Violence",
        "note": "stage combat",
        "reviewer": REVIEWER,
        "recorded_at": "2026-11-20T12:30:00.000Z",
        "request_id": "req-00000001",
        "top_category": "Violence",
        "max_confidence": 95.0,
    }
    # And the history holds it, the summary's latest verdict is it, and the video left the review queue
    assert [v.verdict_id for v in world.store.verdicts(clip.video_id)] == [recorded["verdict_id"]]
    record = world.store.get(clip.video_id)
    assert record is not None and record.latest_verdict is not None
    assert record.latest_verdict.to_json() == {
        k: recorded[k] for k in ("verdict_id", "verdict", "category", "reviewer", "recorded_at")
    }
    assert not record.awaiting_review and review_queue({}, world.deps).body["videos"] == []
    # And one moderation_verdicts row sits at the verdict's deterministic key, on its recording day
    assert world.lake.keys(VERDICTS.prefix) == [f"moderation_verdicts/dt=2026-11-20/{recorded['verdict_id']}.parquet"]
    [row] = read_parquet(world.lake.get(world.lake.keys(VERDICTS.prefix)[0])).to_pylist()
    assert (row["object_key"], row["reviewer"], row["verdict"], row["top_category"]) == (
        "uploads/clip.mp4", REVIEWER, "overturned", "Violence",
    )  # fmt: skip
    # And the lookup shows the verdict
    looked_up = lookup_video({"bucket": MEDIA_BUCKET, "key": "uploads/clip.mp4"}, world.deps)
    assert looked_up.body["verdict"]["verdict_id"] == recorded["verdict_id"]


@pytest.mark.parametrize(
    "body",
    [{"verdict": "confirmed"}, {"verdict": "confirmed", "request_id": "retry-me-1234"}],
    ids=["by-content", "by-request-id"],
)
def test_a_replayed_request_answers_the_stored_verdict_and_writes_nothing_twice(
    world: World, body: dict[str, str]
) -> None:
    # Given a verdict recorded at 12:30
    clip = world.collect(video("uploads/clip.mp4"))
    first = world.post(clip, body)
    # When the same request arrives again ten minutes later (a client retry)
    world.now[0] += timedelta(minutes=10)
    replay = world.post(clip, body)
    # Then it answers 200 with the same verdict, first recording time included
    assert (first.status, replay.status) == (201, 200)
    assert replay.body == first.body
    # And there is still one history item and one lake object
    assert len(world.store.verdicts(clip.video_id)) == 1
    assert len(world.lake.keys(VERDICTS.prefix)) == 1


def test_a_replay_finishes_what_a_failed_first_try_left_undone(world: World) -> None:
    # Given a first try whose lake write failed after the history item was stored
    clip = world.collect(video("uploads/clip.mp4"))
    broken = replace(world.deps, lake=LakeWriter(_FailingObjects()))
    with pytest.raises(OSError):
        record_verdict(clip.video_id, '{"verdict": "confirmed"}', SIGNED, broken)
    assert world.lake.keys(VERDICTS.prefix) == []
    # When the client retries / Then the stored verdict is answered and its lake object written
    retry = world.post(clip, {"verdict": "confirmed"})
    assert retry.status == 200
    assert world.lake.keys(VERDICTS.prefix) == [
        f"moderation_verdicts/dt=2026-11-20/{retry.body['verdict']['verdict_id']}.parquet"
    ]


class _FailingObjects(InMemoryObjects):
    def put(self, key: str, body: bytes, content_type: str) -> None:
        raise OSError("S3 is unreachable")


def test_another_reviewer_or_another_verdict_is_a_new_verdict_and_the_newest_is_the_latest(world: World) -> None:
    # Given a confirmed verdict at 12:30
    clip = world.collect(video("uploads/clip.mp4"))
    confirmed = world.post(clip, {"verdict": "confirmed"})
    # When another reviewer overturns it at 12:40
    world.now[0] += timedelta(minutes=10)
    other = {"authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:user/ben"}}}
    overturned = world.post(clip, {"verdict": "overturned"}, other)
    # Then both are recorded (append-only) and the summary's latest is the overturn
    assert (confirmed.status, overturned.status) == (201, 201)
    assert confirmed.body["verdict"]["verdict_id"] != overturned.body["verdict"]["verdict_id"]
    assert [v.verdict for v in world.store.verdicts(clip.video_id)] == [VerdictKind.CONFIRMED, VerdictKind.OVERTURNED]
    record = world.store.get(clip.video_id)
    assert record is not None and record.latest_verdict is not None
    assert record.latest_verdict.reviewer == "arn:aws:iam::123456789012:user/ben"


def test_a_request_id_reused_for_a_different_verdict_is_a_conflict(world: World) -> None:
    clip = world.collect(video("uploads/clip.mp4"))
    assert world.post(clip, {"verdict": "confirmed", "request_id": "req-00000001"}).status == 201
    with pytest.raises(Conflict, match="request_id req-00000001 already recorded a different verdict"):
        world.post(clip, {"verdict": "overturned", "request_id": "req-00000001"})
    assert len(world.store.verdicts(clip.video_id)) == 1


def test_a_video_that_is_not_flagged_takes_no_verdict(world: World) -> None:
    # Given a clean video / When a reviewer sends a verdict / Then 409 with a message, and nothing is recorded
    clip = world.collect(video("uploads/clean.mp4"), flagged=False)
    with pytest.raises(Conflict, match="is not flagged") as refused:
        world.post(clip, {"verdict": "confirmed"})
    assert refused.value.status == 409
    assert refused.value.concerns == {"video_id": clip.video_id, "key": "uploads/clean.mp4"}
    assert world.store.verdicts(clip.video_id) == [] and world.lake.keys(VERDICTS.prefix) == []


@pytest.mark.parametrize("video_id", ["0" * 32, "not-a-video-id", "../SUMMARY"])
def test_a_verdict_on_an_unknown_video_is_not_found(world: World, video_id: str) -> None:
    with pytest.raises(NotFound) as refused:
        record_verdict(video_id, '{"verdict": "confirmed"}', SIGNED, world.deps)
    assert refused.value.status == 404 and refused.value.concerns == {"video_id": video_id}


@pytest.mark.parametrize(
    "context",
    [None, {}, {"authorizer": None}, {"authorizer": {"iam": {}}}, {"authorizer": {"iam": {"userArn": ""}}}],
    ids=["no-context", "empty", "no-authorizer", "no-arn", "blank-arn"],
)
def test_a_request_without_a_verified_iam_identity_is_forbidden(world: World, context: dict[str, Any] | None) -> None:
    # Given a flagged video / When a verdict arrives without the IAM authorizer's identity / Then 403, nothing recorded
    clip = world.collect(video("uploads/clip.mp4"))
    with pytest.raises(Forbidden) as refused:
        world.post(clip, {"verdict": "confirmed"}, context)
    assert refused.value.status == 403
    assert world.store.verdicts(clip.video_id) == []


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ("{not json", "body"),
        ("", "body"),
        ("[]", "body"),
        ({}, "verdict"),
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "confirmed", "category": "Spoilers"}, "category"),
        ({"verdict": "confirmed", "category": 7}, "category"),
        ({"verdict": "confirmed", "note": "x" * (MAX_NOTE_CHARS + 1)}, "note"),
        ({"verdict": "confirmed", "request_id": "short"}, "request_id"),
        ({"verdict": "confirmed", "request_id": "has space in it"}, "request_id"),
        ({"verdict": "confirmed", "reviewer": "arn:aws:iam::123456789012:user/someone-else"}, "reviewer"),
    ],
)
def test_an_invalid_body_is_a_bad_request_naming_the_field(world: World, body: Any, field_name: str) -> None:
    # Given a flagged video / When the body is not JSON or a field is wrong / Then 400 naming the field
    clip = world.collect(video("uploads/clip.mp4"))
    with pytest.raises(BadRequest) as refused:
        world.post(clip, body)
    assert refused.value.status == 400
    assert refused.value.message.startswith(f"{field_name}:")
    assert world.store.verdicts(clip.video_id) == []


def test_a_note_of_exactly_the_limit_is_accepted(world: World) -> None:
    clip = world.collect(video("uploads/clip.mp4"))
    assert world.post(clip, {"verdict": "confirmed", "note": "x" * MAX_NOTE_CHARS}).status == 201


# --- the quarantine seam --------------------------------------------------------------------------------------------
def test_with_quarantine_on_the_latest_verdict_decides_the_versions_tag(world: World) -> None:
    # Given quarantine tag, and a flagged video
    world.deps.quarantine = QuarantineMode.TAG
    clip = world.collect(video("uploads/clip.mp4"))
    version = (clip.key, clip.version_id)
    # When a reviewer overturns the flag / Then the version is tagged clean
    world.post(clip, {"verdict": "overturned"})
    assert world.media.tags[version][MODERATION_TAG_KEY] == "clean"
    # When another reviewer confirms it later / Then it is tagged flagged again
    world.now[0] += HOUR
    world.post(clip, {"verdict": "confirmed"}, {"authorizer": {"iam": {"userArn": "arn:aws:iam::1:user/ben"}}})
    assert world.media.tags[version][MODERATION_TAG_KEY] == "flagged"


def test_with_quarantine_off_a_verdict_writes_no_tag(world: World) -> None:
    clip = world.collect(video("uploads/clip.mp4"))
    assert world.post(clip, {"verdict": "overturned"}).status == 201
    assert world.media.tag_writes == 0 and world.media.tags == {}

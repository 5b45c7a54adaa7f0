"""The burst benchmark's indexed store answers exactly as sandbox.memory's store: its numbers are about the logic."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from bench.burst import IndexedVideoStore
from functions.common.models import VideoRef, VideoSource, VideoStatus, VideoSummary
from sandbox.memory import InMemoryVideoStore
from tests.helpers import MEDIA_BUCKET, NOW


def _video(rng: random.Random) -> VideoRef:
    source = rng.choice([VideoSource.UPLOAD, VideoSource.BACKFILL])
    return VideoRef(MEDIA_BUCKET, f"clip-{rng.randrange(40)}.mp4", f"v{rng.randrange(2)}", "etag", 10, NOW, source)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_indexed_store_matches_the_in_memory_store_operation_by_operation(seed: int) -> None:
    # Given both stores and a random sequence of the scheduler's operations (times may go backwards)
    rng = random.Random(seed)
    plain, indexed = InMemoryVideoStore(), IndexedVideoStore()
    for step in range(1500):
        video = _video(rng)
        now = NOW + timedelta(seconds=rng.randrange(-50, 500))
        operation = rng.choice(["queue", "queue", "start", "skip", "complete", "delete", "claim", "release"])
        answers = []
        for store in (plain, indexed):
            existing = store.get(video.video_id)
            match operation:
                case "queue":
                    answers.append(store.mark_queued(video, step % 3, "waiting", now))
                case "start":
                    answers.append(store.mark_in_progress(video, f"job-{step % 7}", 50.0, now))
                case "skip":
                    answers.append(store.mark_not_started(video, VideoStatus.SKIPPED, "not a video", now))
                case "complete" if existing is not None:
                    answers.append(
                        store.complete(
                            existing,
                            VideoStatus.SUCCEEDED,
                            reason=None,
                            summary=VideoSummary(),
                            metadata=None,
                            model_version="7",
                            completed_at=now,
                            now=now,
                        )
                    )
                case "delete" if existing is not None:
                    answers.append(store.mark_deleted(replace(existing), now))
                case "claim":
                    answers.append(store.claim_waiting(video.video_id, now, 60))
                case "release":
                    answers.append(store.release_claim(video.video_id))
        # When each operation has run on both / Then they answered, and now answer every question, the same
        assert answers[:1] == answers[1:], (step, operation)
        for limit in (0, 3, 100):
            expected = [(r.video_id, r.claimed_at, r.video.source) for r in plain.next_waiting(limit)]
            assert [(r.video_id, r.claimed_at, r.video.source) for r in indexed.next_waiting(limit)] == expected
        for status in VideoStatus:
            assert indexed.count_in_status(status) == plain.count_in_status(status), (step, status)
        assert indexed.get(video.video_id) == plain.get(video.video_id)
        job = f"job-{step % 7}"
        found, found_plain = indexed.find_by_job(job), plain.find_by_job(job)
        assert (found and found.video_id) == (found_plain and found_plain.video_id)

"""A burst of uploads against a small job limit, simulated with the real logic and in-memory fakes.

It proves the design's promises: every video finishes, no message fails (so nothing can reach a
DLQ), Rekognition never runs more jobs than its limit, and a freed slot is reused at once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from functions.collect_results.logic import CollectOutcome, handle
from functions.common.lake import LakeWriter
from functions.common.messages import parse_start_message
from functions.common.models import JobNotification, VideoStatus
from functions.start_moderation.logic import StartDeps, StartRun
from tests.fakes import (
    FakeMedia,
    FakeModeration,
    InMemoryObjects,
    InMemoryVideoStore,
    RecordingQueue,
    fake_collect_deps,
    make_pages,
)
from tests.helpers import MEDIA_BUCKET, NOW, flagged_run, video

JOB_LIMIT = 5
JOB_SECONDS = 90
BATCH_SIZE = 10


class SimulatedQueue(RecordingQueue):
    """SQS with DelaySeconds: a message becomes receivable at now + delay."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock = clock
        self.pending: list[tuple[float, dict[str, Any]]] = []

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        super().send(body, delay_seconds)
        self.pending.append((self.clock[0] + delay_seconds, body))

    def receive(self, limit: int) -> list[dict[str, Any]]:
        ready = [m for m in self.pending if m[0] <= self.clock[0]][:limit]
        for message in ready:
            self.pending.remove(message)
        return [body for _, body in ready]


def s3_event(key: str, version: str) -> dict[str, Any]:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": "2026-11-20T10:30:00Z",
        "detail": {
            "bucket": {"name": MEDIA_BUCKET},
            "object": {"key": key, "version-id": version, "etag": "e", "size": 128},
        },
    }


def test_burst_of_30_uploads_with_5_slots_all_finish_without_failures_or_idle_slots() -> None:
    # Given 30 uploads at once, a 5-job account limit and jobs that take 90 s
    clock = [0.0]
    now = lambda: NOW + timedelta(seconds=clock[0])  # noqa: E731
    store, media, moderation = InMemoryVideoStore(), FakeMedia(), FakeModeration(max_jobs=JOB_LIMIT)
    start_queue = SimulatedQueue(clock)
    start = StartDeps(
        store=store,
        media=media,
        lake=LakeWriter(InMemoryObjects()),
        moderation=moderation,
        retries=start_queue,
        min_confidence=50.0,
        video_suffixes=("mp4",),
        clock=now,
        rng=lambda low, high: high,
    )
    collect = fake_collect_deps(store=store, moderation=moderation, start_queue=start_queue, clock=now)
    clips = [media.add(video(f"burst/clip {i:02d}.mp4", version=f"v{i}")) for i in range(30)]
    for clip in clips:
        start_queue.send(s3_event(clip.key, clip.version_id or ""))
    finishes: dict[str, float] = {}
    most_running, idle_slot_seconds, failures = 0, 0.0, 0

    # When the pipeline runs, one simulated second at a time
    def finished() -> bool:
        return all((r := store.records.get(c.video_id)) and r.status is VideoStatus.SUCCEEDED for c in clips)

    while clock[0] < 6 * 3600 and not finished():
        for job_id, done_at in list(finishes.items()):
            if done_at <= clock[0]:
                del finishes[job_id]
                moderation.finish(job_id)
                moderation.pages[job_id] = make_pages(flagged_run(3), 1000)
                note = JobNotification(job_id, "SUCCEEDED", "StartContentModeration", None, now(), None, None)
                assert handle(note, collect, lambda: 900_000) is CollectOutcome.SUCCEEDED
        while batch := start_queue.receive(BATCH_SIZE):
            run = StartRun(start)
            for body in batch:
                try:
                    run.handle(parse_start_message(json.dumps(body), MEDIA_BUCKET))
                except Exception:  # noqa: BLE001 - counted: any failure would head for the DLQ
                    failures += 1
        for job_id in moderation.running - set(finishes):
            finishes[job_id] = clock[0] + JOB_SECONDS
        most_running = max(most_running, len(moderation.running))
        waiting = sum(r.status is VideoStatus.QUEUED for r in store.records.values())
        if waiting and len(moderation.running) < JOB_LIMIT:
            idle_slot_seconds += 1
        clock[0] += 1

    # Then every video finished, nothing failed, the limit held, and no slot sat idle while videos waited
    assert [store.get(c.video_id).status for c in clips] == [VideoStatus.SUCCEEDED] * 30
    assert failures == 0
    assert most_running == JOB_LIMIT
    assert idle_slot_seconds == 0
    # And the whole burst took the minimum: 30 videos / 5 slots × 90 s
    assert clock[0] <= 6 * JOB_SECONDS + 2

"""Burst benchmark: the real scheduler (start_moderation, collect_results, queue_backfill) against a 20-job account.

Rekognition Video runs at most 20 jobs per account and refuses more with LimitExceededException. This drives the
real logic with in-memory stores and fakes in simulated time (an event heap, not a per-second loop) and reports how
well the slots were used. Run with `python -m bench.burst` (options: --scenario, --seed); one JSON line per scenario.

The model (every number is a constant below):
- Account: JOB_LIMIT = 20 slots; StartDeps.job_limit is 20 too and no other workload uses the account. The fake
  Rekognition counts every StartContentModeration call, refused ones included; the same token returns the same
  JobId. No TPS throttling is modelled. A job lasts a quarter of its video's length; its slot frees when it ends.
- Videos: lengths uniform in 1–60 minutes (whole milliseconds, random.Random(seed), default seed 20261120);
  each object is a tiny real MP4 whose movie header gives that length, so screening reads it for real
  (HeadObject, ranged GETs, duration limits).
- Start queue: SQS with DelaySeconds (a message is receivable from send time + delay, oldest first), consumed by
  POLLERS = 2 concurrent Lambda pollers (the stack's maximum concurrency) in batches of up to BATCH_SIZE = 10;
  one batch is one StartRun. A message costs MESSAGE_SECONDS = 0.1 s of handler time plus START_CALL_SECONDS = 0.2 s
  per StartContentModeration call it makes; its effects happen when its turn in the batch comes, so the two
  pollers' batches interleave message by message. As the stack's event source mapping does, a poller that finds
  fewer than BATCH_SIZE messages waits up to BATCHING_WINDOW_SECONDS = 5 s after the first for more (so a kick
  reaches its start up to 5 s after the slot freed).
- Tick: fill_slots_message() on the start queue every TICK_SECONDS = 60 s, the first at t = 60 s.
- Completions: a job's completion reaches collect_results COMPLETION_DELAY_SECONDS = 2 s after it ends
  (SNS → SQS), as Rekognition's payload in an SNS envelope; collect_results runs at once (its queue is never the
  bottleneck) and its kicked RetryStart goes to the start queue.
- Uploads: S3 "Object Created" events (EventBridge → the start queue, no delivery latency).
- Backfill: S3 Batch Operations invokes queue_backfill with one task per invocation at BATCH_OPS_TASKS_PER_SECOND =
  100 tasks/s from t = 0 (10,000 tasks take 100 s).
- A handler that raises (a message or task that failed) is counted as heading for the DLQ and is not retried.
- The stores are sandbox.memory's, with indexes (IndexedVideoStore) so 10,000 videos cost no O(n) scans; the
  lake's Parquet objects are encoded by the real LakeWriter and dropped.

Scenarios: "upload_burst" — 1,000 uploads at t = 0. "backfill" — 10,000 stored videos through queue_task at S3
Batch's rate, plus 200 uploads at times uniform over the first 80% of the expected makespan (the ideal below
for all 10,200 videos).

Keys of each JSON line:
- scenario, videos; makespan_s: t = 0 until the last video is SUCCEEDED in the store.
- ideal_s: max(total job seconds / 20, longest job); makespan_ratio = makespan_s / ideal_s.
- idle_slot_seconds: integral over time of free slots (20 minus jobs running) while any video waited, i.e. had
  arrived (its upload event sent, or its backfill task run) and its job had not started yet.
- max_concurrent_jobs: the most jobs Rekognition ran at once.
- start_calls_per_video: every StartContentModeration call, refused ones included, per video;
  refused_starts: the calls refused with LimitExceededException.
- dead_lettered: messages or tasks whose handler raised; mean_job_s: mean job duration.
- backfill only: upload_wait_p95_s and backfill_wait_p95_s, the 95th percentile (nearest rank) of the time from
  a video's arrival (upload event, or backfill task) to its job's start; backfill_tasks_failed: tasks answered
  with anything but Succeeded.
- meets_targets (and missed_targets): makespan_ratio ≤ 1.05, dead_lettered = 0, max_concurrent_jobs ≤ 20,
  start_calls_per_video ≤ 1.1 and, for backfill, upload_wait_p95_s ≤ mean_job_s. The exit status is 1 when a
  target is missed; a video that did not reach SUCCEEDED exactly once, with one job, raises.
- wall_s: wall-clock seconds the scenario took to simulate.
"""

from __future__ import annotations

import argparse
import bisect
import copy
import hashlib
import heapq
import itertools
import json
import logging
import math
import random
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from functions.collect_results.logic import CollectDeps, CollectOutcome
from functions.collect_results.logic import handle as collect
from functions.common.errors import RekognitionBusy
from functions.common.flagging import FlagPolicy
from functions.common.lake import LakeWriter
from functions.common.messages import fill_slots_message, parse_collect_message, parse_start_message
from functions.common.models import (
    JobNotification,
    ObjectInfo,
    ResultsPage,
    VideoMetadata,
    VideoRecord,
    VideoRef,
    VideoSource,
    VideoStatus,
    iso,
)
from functions.common.observability import logger as service_logger
from functions.common.observability import metrics
from functions.common.ports import MAX_DELAY_SECONDS
from functions.queue_backfill.logic import BackfillDeps, TaskResult, queue_task
from functions.start_moderation.logic import StartDeps, StartRun
from sandbox.memory import _LANE_ORDER, InMemoryVideoStore, RecordingEvents, movie_bytes

JOB_LIMIT = 20
POLLERS = 2
BATCH_SIZE = 10
BATCHING_WINDOW_SECONDS = 5.0  # the start queue's MaximumBatchingWindowInSeconds (stacks/moderation.py)
MESSAGE_SECONDS = 0.1
START_CALL_SECONDS = 0.2
TICK_SECONDS = 60.0
COMPLETION_DELAY_SECONDS = 2.0
BATCH_OPS_TASKS_PER_SECOND = 100.0
MIN_VIDEO_SECONDS, MAX_VIDEO_SECONDS = 60.0, 3600.0
JOB_SHARE_OF_LENGTH = 0.25
UPLOADS_SPREAD_SHARE = 0.8  # backfill's uploads arrive over this share of the expected makespan
MAX_SIMULATED_SECONDS = 30 * 86_400  # a scheduler that never finishes fails instead of looping forever
MEDIA_BUCKET = "modlake-media-bench"
EPOCH = datetime(2026, 11, 20, tzinfo=UTC)
DEFAULT_SEED = 20261120

TARGET_MAKESPAN_RATIO = 1.05
TARGET_START_CALLS_PER_VIDEO = 1.1


class SimulationError(RuntimeError):
    """The simulated pipeline broke a promise the benchmark checks (every video moderated once)."""


# --- fakes -----------------------------------------------------------------------------------------------------
class IndexedVideoStore(InMemoryVideoStore):
    """InMemoryVideoStore with indexes, so 10,000 videos cost no O(n) scans; every answer is the base class's.

    The base sorts QUEUED records by (lane, status_since), stably in the records dict's insertion order; the index
    keeps the same order with the insertion position as the last key. Mutations go through the base methods and
    the indexes follow the record each leaves behind.
    """

    def __init__(self) -> None:
        super().__init__()
        self._position: dict[str, int] = {}  # video id -> position in self.records (dict insertion order)
        self._indexed: dict[str, tuple[VideoStatus, tuple[int, datetime, int, str] | None]] = {}
        self._status_counts: Counter[VideoStatus] = Counter()
        self._waiting: list[tuple[int, datetime, int, str]] = []  # QUEUED records in next_waiting's order
        self._by_job: dict[str, list[str]] = {}  # job id -> video ids in insertion order

    def _reindex(self, video_id: str) -> None:
        record = self.records.get(video_id)
        if record is None:
            return
        position = self._position.setdefault(video_id, len(self._position))
        old = self._indexed.get(video_id)
        key = None
        if record.status is VideoStatus.QUEUED:
            key = (_LANE_ORDER[record.video.source], record.status_since, position, video_id)  # the base's lanes
        new = (record.status, key)
        if old == new:
            return
        if old is not None:
            self._status_counts[old[0]] -= 1
            if old[1] is not None:
                del self._waiting[bisect.bisect_left(self._waiting, old[1])]
        self._status_counts[record.status] += 1
        if key is not None:
            bisect.insort(self._waiting, key)
        self._indexed[video_id] = new
        if record.job_id is not None and video_id not in self._by_job.setdefault(record.job_id, []):
            bisect.insort(self._by_job[record.job_id], video_id, key=self._position.__getitem__)

    def get(self, video_id: str) -> VideoRecord | None:
        record = self.records.get(video_id)
        return None if record is None else _copied(record)

    def count_in_status(self, status: VideoStatus) -> int:
        return self._status_counts[status]

    def next_waiting(self, limit: int) -> list[VideoRecord]:
        return [_copied(self.records[key[3]]) for key in self._waiting[: max(limit, 0)]]

    def find_by_job(self, job_id: str) -> VideoRecord | None:
        for video_id in self._by_job.get(job_id, ()):
            record = self.records[video_id]
            if record.job_id == job_id:
                return _copied(record)
        return None

    def mark_queued(self, video: VideoRef, attempts: int, reason: str, now: datetime) -> bool:
        changed = super().mark_queued(video, attempts, reason, now)
        self._reindex(video.video_id)
        return changed

    def mark_in_progress(self, video: VideoRef, job_id: str, min_confidence: float, now: datetime) -> bool:
        changed = super().mark_in_progress(video, job_id, min_confidence, now)
        self._reindex(video.video_id)
        return changed

    def mark_not_started(self, video: VideoRef, status: VideoStatus, reason: str, now: datetime) -> bool:
        changed = super().mark_not_started(video, status, reason, now)
        self._reindex(video.video_id)
        return changed

    def complete(self, record: VideoRecord, status: VideoStatus, **kwargs: Any) -> bool:
        changed = super().complete(record, status, **kwargs)
        self._reindex(record.video_id)
        return changed

    def mark_deleted(self, record: VideoRecord, now: datetime) -> bool:
        changed = super().mark_deleted(record, now)
        self._reindex(record.video_id)
        return changed


_IMMUTABLE = (str, int, float, datetime, Enum, VideoRef, VideoMetadata, type(None))  # the frozen ones hold only these


def _copied(record: VideoRecord) -> VideoRecord:
    """What the base's deepcopy returns, cheaper: shared immutable values, deep copies of the rest (a summary)."""
    clone = copy.copy(record)
    for name in _RECORD_FIELDS:
        value = getattr(record, name)
        if not isinstance(value, _IMMUTABLE):
            setattr(clone, name, copy.deepcopy(value))
    return clone


_RECORD_FIELDS = tuple(f.name for f in fields(VideoRecord))


@dataclass
class BenchMedia:
    """The media bucket: each object version a tiny MP4 whose movie header says the video's length."""

    objects: dict[tuple[str, str | None], tuple[bytes, str]] = field(default_factory=dict)

    def add(self, key: str, version_id: str, duration_ms: int) -> tuple[int, str]:
        body = movie_bytes(duration_ms)
        etag = hashlib.md5(body + key.encode(), usedforsecurity=False).hexdigest()
        self.objects[(key, version_id)] = (body, etag)
        return len(body), etag

    def head(self, video: VideoRef) -> ObjectInfo | None:
        found = self.objects.get((video.key, video.version_id))
        return None if found is None else ObjectInfo(size=len(found[0]), etag=found[1], version_id=video.version_id)

    def read_start(self, video: VideoRef, length: int) -> bytes:
        return self.objects[(video.key, video.version_id)][0][:length]

    def read_range(self, video: VideoRef, offset: int, length: int) -> bytes:
        return self.objects[(video.key, video.version_id)][0][offset : offset + max(length, 0)]


class DiscardedLake:
    """The analytics bucket: Parquet objects are encoded by the real LakeWriter, counted and dropped."""

    def __init__(self) -> None:
        self.puts = 0

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.puts += 1

    def get(self, key: str) -> bytes:
        raise KeyError(key)  # nothing is staged: every job's results fit one invocation

    def delete(self, keys: Sequence[str]) -> None:
        return None


class LimitedRekognition:
    """Rekognition Video with a concurrent-job limit: every start call counted, refusals included."""

    def __init__(self, limit: int, job_seconds: Callable[[str], float], started: Callable[[str, VideoRef], None]):
        self.limit = limit
        self.job_seconds = job_seconds  # by S3 key: Rekognition reads the video
        self.on_started = started
        self.jobs: dict[str, str] = {}  # ClientRequestToken -> JobId
        self.video_of_job: dict[str, str] = {}  # JobId -> video id
        self.running: set[str] = set()
        self.start_calls = 0
        self.refused = 0
        self.most_running = 0

    def start(self, video: VideoRef, *, token: str, job_tag: str, min_confidence: float) -> str:
        self.start_calls += 1
        if token in self.jobs:  # the same token returns the same JobId, as in AWS
            return self.jobs[token]
        if len(self.running) >= self.limit:
            self.refused += 1
            raise RekognitionBusy("LimitExceededException", "too many concurrent jobs")
        job_id = f"job-{len(self.jobs) + 1:06d}"
        self.jobs[token] = job_id
        self.video_of_job[job_id] = video.video_id
        self.running.add(job_id)
        self.most_running = max(self.most_running, len(self.running))
        self.on_started(job_id, video)
        return job_id

    def finish(self, job_id: str) -> None:
        self.running.remove(job_id)

    def results_page(self, job_id: str, *, next_token: str | None, max_results: int, aggregate_by: str) -> ResultsPage:
        return ResultsPage(
            job_status="SUCCEEDED",
            status_message=None,
            detections=(),
            metadata=VideoMetadata(codec="h264", format="QuickTime / MOV", frame_rate=30.0),
            model_version="7.0",
            next_token=None,
        )


class SimQueue:
    """SQS with DelaySeconds: a message is receivable from send time + delay; receives take the oldest first."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.messages: list[tuple[float, int, str]] = []
        self.sent = 0

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise ValueError(f"SQS refuses DelaySeconds={delay_seconds}")
        visible_at = self.sim.now + delay_seconds
        heapq.heappush(self.messages, (visible_at, next(self.sim.sequence), json.dumps(body)))
        self.sent += 1
        self.sim.message_visible_at(visible_at)

    def receive(self, limit: int) -> list[str]:
        batch: list[str] = []
        while self.messages and self.messages[0][0] <= self.sim.now and len(batch) < limit:
            batch.append(heapq.heappop(self.messages)[2])
        return batch

    def next_visible(self) -> float | None:
        return self.messages[0][0] if self.messages else None

    def receivable(self, limit: int) -> int:
        """How many messages a receive now would return (at most limit)."""
        ready = 0
        for visible_at, _, _ in self.messages:
            if visible_at <= self.sim.now:
                ready += 1
                if ready >= limit:
                    break
        return ready


class CollectQueue:
    """collect_results' own queue (throttled or checkpointed collections): delivered back after the delay."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        self.sim.schedule(self.sim.now + delay_seconds, self.sim.deliver_completion, json.dumps(body))


# --- the simulation ----------------------------------------------------------------------------------------------
@dataclass
class Video:
    key: str
    version_id: str
    length_ms: int
    source: VideoSource
    arrives_at: float
    video_id: str = ""
    started_at: float | None = None

    @property
    def job_seconds(self) -> float:
        return self.length_ms / 1000 * JOB_SHARE_OF_LENGTH


@dataclass
class Poller:
    """One of the start queue's concurrent Lambda pollers."""

    name: int
    busy: bool = False
    wake_at: float | None = None
    window_ends: float | None = None  # when the batching window that the first receivable message opened closes
    run: StartRun | None = None
    batch: deque[str] = field(default_factory=deque)


class Simulation:
    """The pipeline in simulated seconds: an event heap of (time, sequence, action, argument)."""

    def __init__(self, videos: list[Video], seed: int) -> None:
        self.now = 0.0
        self.sequence = itertools.count()
        self.events: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self.videos = {v.key: v for v in videos}
        rng = random.Random(seed + 1)
        clock = self.clock
        self.store = IndexedVideoStore()
        self.media = BenchMedia()
        self.lake = DiscardedLake()
        self.rekognition = LimitedRekognition(JOB_LIMIT, lambda key: self.videos[key].job_seconds, self.job_started)
        self.start_queue = SimQueue(self)
        self.start_deps = StartDeps(
            store=self.store,
            media=self.media,
            lake=LakeWriter(self.lake),
            moderation=self.rekognition,
            retries=self.start_queue,
            min_confidence=50.0,
            video_suffixes=("mp4", "mov"),
            job_limit=JOB_LIMIT,
            clock=clock,
            rng=rng.uniform,
        )
        self.collect_deps = CollectDeps(
            store=self.store,
            lake=LakeWriter(self.lake),
            moderation=self.rekognition,
            events=RecordingEvents(),
            start_queue=self.start_queue,
            collect_queue=CollectQueue(self),
            policy=FlagPolicy(),
            clock=clock,
            rng=rng.uniform,
        )
        self.backfill_deps = BackfillDeps(
            store=self.store,
            media=self.media,
            lake=LakeWriter(self.lake),
            media_bucket=MEDIA_BUCKET,
            video_suffixes=("mp4", "mov"),
            clock=clock,
        )
        self.pollers = [Poller(i) for i in range(POLLERS)]
        self.by_video_id: dict[str, Video] = {}
        self.succeeded: Counter[str] = Counter()
        self.dead_lettered = 0
        self.failed_tasks = 0
        self.waiting = 0  # videos arrived whose job has not started
        self.idle_slot_seconds = 0.0
        self.settled_at = 0.0
        for video in videos:
            size, etag = self.media.add(video.key, video.version_id, video.length_ms)
            video.video_id = VideoRef(MEDIA_BUCKET, video.key, video.version_id, etag).video_id
            self.by_video_id[video.video_id] = video
            arrive = self.upload if video.source is VideoSource.UPLOAD else self.backfill_task
            self.schedule(video.arrives_at, arrive, (video, size, etag))
        self.schedule(TICK_SECONDS, self.tick, None)

    def clock(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    def schedule(self, at: float, action: Callable[[Any], None], argument: Any) -> None:
        heapq.heappush(self.events, (at, next(self.sequence), action, argument))

    def run(self) -> None:
        while len(self.succeeded) < len(self.videos):
            if not self.events:
                raise SimulationError("no events left but videos are unsettled")
            at, _, action, argument = heapq.heappop(self.events)
            if at > MAX_SIMULATED_SECONDS:
                raise SimulationError(f"{len(self.videos) - len(self.succeeded)} videos unsettled after {at:.0f} s")
            if self.waiting > 0:
                self.idle_slot_seconds += (JOB_LIMIT - len(self.rekognition.running)) * (at - self.now)
            self.now = at
            action(argument)

    # --- arrivals and the tick
    def upload(self, arrival: tuple[Video, int, str]) -> None:
        video, size, etag = arrival
        self.waiting += 1
        self.start_queue.send(s3_object_created(video, size, etag, self.clock()))

    def backfill_task(self, arrival: tuple[Video, int, str]) -> None:
        video = arrival[0]
        self.waiting += 1
        try:
            answer = queue_task(self.backfill_deps, MEDIA_BUCKET, video.key, video.version_id)
        except Exception:  # noqa: BLE001 - counted: S3 Batch would report the task failed
            self.dead_lettered += 1
        else:
            self.failed_tasks += answer.result is not TaskResult.SUCCEEDED
        metrics.clear_metrics()  # Lambda flushes them after each invocation (@metrics.log_metrics)

    def tick(self, _: None) -> None:
        self.start_queue.send(fill_slots_message())
        self.schedule(self.now + TICK_SECONDS, self.tick, None)

    # --- the start queue's pollers
    def message_visible_at(self, at: float) -> None:
        for poller in self.pollers:
            self.wake(poller, at)

    def wake(self, poller: Poller, at: float) -> None:
        if poller.busy or (poller.wake_at is not None and poller.wake_at <= at):
            return
        poller.wake_at = at
        self.schedule(at, self.poll, (poller, at))

    def poll(self, wake: tuple[Poller, float]) -> None:
        poller, at = wake
        if poller.busy or poller.wake_at != at:
            return  # superseded by an earlier wake
        poller.wake_at = None
        ready = self.start_queue.receivable(BATCH_SIZE)
        if ready == 0:
            poller.window_ends = None
            upcoming = self.start_queue.next_visible()
            if upcoming is not None:
                self.wake(poller, upcoming)
            return
        if ready < BATCH_SIZE:
            if poller.window_ends is None:
                poller.window_ends = self.now + BATCHING_WINDOW_SECONDS
            if self.now < poller.window_ends:
                self.wake(poller, poller.window_ends)
                return
        poller.window_ends = None
        batch = self.start_queue.receive(BATCH_SIZE)
        poller.busy, poller.run, poller.batch = True, StartRun(self.start_deps), deque(batch)
        self.step(poller)

    def step(self, poller: Poller) -> None:
        """The next message of the poller's batch; the batch's invocation ends after its last one."""
        assert poller.run is not None
        calls = self.rekognition.start_calls
        try:
            poller.run.handle(parse_start_message(poller.batch.popleft(), MEDIA_BUCKET))
        except Exception:  # noqa: BLE001 - counted: a failed message is retried, then dead-lettered
            self.dead_lettered += 1
        cost = MESSAGE_SECONDS + START_CALL_SECONDS * (self.rekognition.start_calls - calls)
        self.schedule(self.now + cost, self.step if poller.batch else self.end_invocation, poller)

    def end_invocation(self, poller: Poller) -> None:
        metrics.clear_metrics()
        poller.busy, poller.run = False, None
        self.wake(poller, self.now)

    # --- jobs
    def job_started(self, job_id: str, video_ref: VideoRef) -> None:
        video = self.by_video_id[video_ref.video_id]
        if video.started_at is None:
            video.started_at = self.now
            self.waiting -= 1
        self.schedule(self.now + video.job_seconds, self.job_ended, (job_id, video))

    def job_ended(self, ended: tuple[str, Video]) -> None:
        job_id, video = ended
        self.rekognition.finish(job_id)
        body = sns_envelope(rekognition_completion(job_id, video, self.clock()))
        self.schedule(self.now + COMPLETION_DELAY_SECONDS, self.deliver_completion, body)

    def deliver_completion(self, body: str) -> None:
        try:
            message = parse_collect_message(body)
            outcome = collect(message, self.collect_deps, lambda: 900_000)
        except Exception:  # noqa: BLE001 - counted: a failed message is retried, then dead-lettered
            self.dead_lettered += 1
        else:
            if outcome is CollectOutcome.SUCCEEDED and isinstance(message, JobNotification):
                video_id = self.rekognition.video_of_job[message.job_id]
                self.succeeded[video_id] += 1
                self.settled_at = self.now
        metrics.clear_metrics()

    def verify(self) -> None:
        """Every video SUCCEEDED exactly once, with one job started once."""
        jobs_per_video = Counter(self.rekognition.video_of_job.values())
        for video in self.videos.values():
            record = self.store.get(video.video_id)
            status = record.status if record else None
            if status is not VideoStatus.SUCCEEDED or self.succeeded[video.video_id] != 1:
                raise SimulationError(f"{video.key}: {status}, collected {self.succeeded[video.video_id]} times")
            if jobs_per_video[video.video_id] != 1 or video.started_at is None:
                raise SimulationError(f"{video.key}: {jobs_per_video[video.video_id]} jobs started")


def s3_object_created(video: Video, size: int, etag: str, at: datetime) -> dict[str, Any]:
    """The S3 "Object Created" EventBridge event of an upload, as the start queue carries it."""
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": iso(at),
        "detail": {
            "bucket": {"name": MEDIA_BUCKET},
            "object": {"key": video.key, "version-id": video.version_id, "etag": etag, "size": size},
            "reason": "PutObject",
        },
    }


def rekognition_completion(job_id: str, video: Video, at: datetime) -> dict[str, Any]:
    return {
        "JobId": job_id,
        "Status": "SUCCEEDED",
        "API": "StartContentModeration",
        "JobTag": video.video_id,
        "Timestamp": int(at.timestamp() * 1000),
        "Video": {"S3Bucket": MEDIA_BUCKET, "S3ObjectName": video.key},
    }


def sns_envelope(message: dict[str, Any]) -> str:
    return json.dumps({"Type": "Notification", "Message": json.dumps(message)})


# --- scenarios ---------------------------------------------------------------------------------------------------
def draw_length_ms(rng: random.Random) -> int:
    return round(rng.uniform(MIN_VIDEO_SECONDS, MAX_VIDEO_SECONDS) * 1000)


def ideal_seconds(videos: Sequence[Video]) -> float:
    jobs = [v.job_seconds for v in videos]
    return max(sum(jobs) / JOB_LIMIT, max(jobs))


def upload_burst(seed: int, uploads: int = 1_000) -> list[Video]:
    rng = random.Random(seed)
    return [
        Video(f"uploads/burst-{i:05d}.mp4", f"v{i}", draw_length_ms(rng), VideoSource.UPLOAD, 0.0)
        for i in range(uploads)
    ]


def backfill(seed: int, stored: int = 10_000, uploads: int = 200) -> list[Video]:
    rng = random.Random(seed)
    videos = [
        Video(
            f"archive/stored-{i:05d}.mp4",
            f"s{i}",
            draw_length_ms(rng),
            VideoSource.BACKFILL,
            i / BATCH_OPS_TASKS_PER_SECOND,
        )
        for i in range(stored)
    ]
    fresh = [
        Video(f"uploads/new-{i:05d}.mp4", f"u{i}", draw_length_ms(rng), VideoSource.UPLOAD, 0.0) for i in range(uploads)
    ]
    spread = UPLOADS_SPREAD_SHARE * ideal_seconds(videos + fresh)
    for video, at in zip(fresh, sorted(rng.uniform(0, spread) for _ in fresh), strict=True):
        video.arrives_at = at
    return videos + fresh


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def run(scenario: str, seed: int) -> dict[str, Any]:
    """Simulate one scenario and report its keys (see the module docstring)."""
    videos = upload_burst(seed) if scenario == "upload_burst" else backfill(seed)
    started = time.perf_counter()
    sim = Simulation(videos, seed)
    sim.run()
    sim.verify()
    wall = time.perf_counter() - started
    ideal = ideal_seconds(videos)
    mean_job = sum(v.job_seconds for v in videos) / len(videos)
    rekognition = sim.rekognition
    report: dict[str, Any] = {
        "scenario": scenario,
        "videos": len(videos),
        "makespan_s": round(sim.settled_at, 1),
        "ideal_s": round(ideal, 1),
        "makespan_ratio": round(sim.settled_at / ideal, 4),
        "idle_slot_seconds": round(sim.idle_slot_seconds, 1),
        "max_concurrent_jobs": rekognition.most_running,
        "start_calls_per_video": round(rekognition.start_calls / len(videos), 4),
        "refused_starts": rekognition.refused,
        "dead_lettered": sim.dead_lettered,
        "mean_job_s": round(mean_job, 1),
    }
    waits = {
        source: [v.started_at - v.arrives_at for v in videos if v.source is source and v.started_at is not None]
        for source in VideoSource
    }
    if scenario == "backfill":
        report["upload_wait_p95_s"] = round(p95(waits[VideoSource.UPLOAD]), 1)
        report["backfill_wait_p95_s"] = round(p95(waits[VideoSource.BACKFILL]), 1)
        report["backfill_tasks_failed"] = sim.failed_tasks
    missed = [
        name
        for name, met in (
            ("makespan_ratio", sim.settled_at / ideal <= TARGET_MAKESPAN_RATIO),
            ("dead_lettered", sim.dead_lettered == 0),
            ("max_concurrent_jobs", rekognition.most_running <= JOB_LIMIT),
            ("start_calls_per_video", rekognition.start_calls / len(videos) <= TARGET_START_CALLS_PER_VIDEO),
            ("upload_wait_p95_s", scenario != "backfill" or p95(waits[VideoSource.UPLOAD]) <= mean_job),
        )
        if not met
    ]
    report["meets_targets"] = not missed
    report["missed_targets"] = missed
    report["wall_s"] = round(wall, 2)
    return report


SCENARIOS = ("upload_burst", "backfill")


def quiet_service_logs() -> None:
    """Drop the functions' info logs (10,000 videos' worth) and send warnings to stderr: stdout carries the JSON."""
    logging.disable(logging.INFO)
    handler = service_logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    quiet_service_logs()
    met = True
    for scenario in SCENARIOS if args.scenario == "all" else (args.scenario,):
        report = run(scenario, args.seed)
        print(json.dumps(report), flush=True)
        met = met and report["meets_targets"]
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

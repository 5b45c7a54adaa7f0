"""End to end: `modlake backfill` on the local stack, over a media bucket filled before the pipeline could see it.

60 objects — clean and flagged clips (some under awkward keys), non-videos renamed .mp4, empty files and versions
moderated before — with the job limit at 5. The dry run's counts, minutes and cost are exact; the S3 Batch
Operations job (our sandbox's) moderates every video once, reports the non-videos as failures and leaves the
moderated versions alone; uploads made while backfill videos wait start before them; no queue keeps anything; and
every call (the batch role's included) is allowed by the template's policies.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.models import VideoRef, VideoSource, VideoStatus
from sandbox.clips import Scene, write_clip
from sandbox.rekognition.classifier import CLEAN, NUDITY
from sandbox.rekognition.service import RekognitionSettings
from sandbox.stack.local_stack import SandboxSettings
from tests.sandbox.stack.pipeline import (
    AnnouncedStack,
    GrantLedger,
    announced_stack,
    calls_by_principal,
    denied_calls,
    json_output,
)

pytestmark = pytest.mark.slow

JOB_LIMIT = 5
PRICE = 0.1  # cdk.json's rekognition_price_per_minute
ODD_KEYS = ("library/a b+c 100%.mp4", "library/été/über – 1.mov", "library/deep/er/and/deeper/clip.MP4")
NOT_VIDEO = b"a text file someone renamed to .mp4\n"


@dataclass
class Library:
    """What the bucket holds, by what the backfill should do with it (key → version id)."""

    clips: dict[str, str]  # to moderate
    seconds: float  # their total duration, as PyAV reads it
    not_videos: dict[str, str]
    empty: list[str]
    moderated: dict[str, str]  # moderated before the backfill


@dataclass
class Backfill:
    sandbox: AnnouncedStack
    library: Library
    dry_run: dict[str, Any]
    created: dict[str, Any]
    status: dict[str, Any]
    uploads: dict[str, float]  # key → when its object was stored
    waiting_backfill: dict[str, set[str]]  # upload key → backfill video ids waiting when the upload was recorded


def _seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / av.time_base


def _videos(sandbox: AnnouncedStack) -> DynamoVideoStore:
    return DynamoVideoStore(sandbox.stack.client("dynamodb"), sandbox.stack.outputs["VideosTableName"])


def _fill_unseen(sandbox: AnnouncedStack, objects: dict[str, bytes]) -> dict[str, str]:
    """Put objects while the ingest rule has no targets (moto ignores a rule's DISABLED state), as if stored before."""
    events, deployment = sandbox.stack.client("events"), sandbox.stack.deployment
    assert deployment is not None
    (rule_id,) = [k for k in deployment.template["Resources"] if k.startswith("IngestObjectCreatedRule")]
    rule = {"Name": deployment.physical_id(rule_id)}
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
    s3, bucket = sandbox.stack.client("s3"), sandbox.stack.outputs["MediaBucketName"]
    try:
        return {key: s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"] for key, body in objects.items()}
    finally:
        events.put_targets(Rule=rule["Name"], Targets=targets)


@pytest.fixture(scope="module")
def backfill(tmp_path_factory: pytest.TempPathFactory, grant_ledger: GrantLedger) -> Iterator[Backfill]:
    work = tmp_path_factory.mktemp("backfill")
    clips = {}
    for name, scenes in {
        "clean-a.mp4": [Scene(2, CLEAN)],
        "clean-b.mov": [Scene(1, CLEAN), Scene(1.5, CLEAN)],
        "flagged-a.mp4": [Scene(1, CLEAN), Scene(1, NUDITY)],
        "flagged-b.mp4": [Scene(0.5, NUDITY), Scene(2, CLEAN)],
    }.items():
        clips[name] = write_clip(work / name, scenes, width=160, height=120)
    sources = list(clips.values())
    settings = SandboxSettings(
        work_dir=work / "stack",
        check_responses=True,
        record_calls=True,
        rekognition=RekognitionSettings(max_concurrent_jobs=JOB_LIMIT),
        context={"rekognition_job_limit": JOB_LIMIT},
        schedule_speedup=30,  # the one-minute tick every 2 s
    )
    with announced_stack(work, settings) as sandbox:
        s3, bucket = sandbox.stack.client("s3"), sandbox.stack.outputs["MediaBucketName"]
        # Given five versions uploaded (and moderated) while the pipeline ran
        moderated = {
            f"library/seen-{i}.mp4": s3.put_object(
                Bucket=bucket, Key=f"library/seen-{i}.mp4", Body=sources[i % 4].read_bytes()
            )["VersionId"]
            for i in range(5)
        }
        assert sandbox.stack.settle(timeout=120), sandbox.stack.queue_depths()
        # And 55 objects stored where the pipeline could not see them: 45 clips, 5 non-videos, 5 empty files
        planned = {f"library/reel-{i:02d}.{'MP4' if i % 7 == 0 else 'mp4'}": sources[i % 4] for i in range(42)}
        planned |= dict(zip(ODD_KEYS, sources, strict=False))
        stored = _fill_unseen(
            sandbox,
            {key: path.read_bytes() for key, path in planned.items()}
            | {f"library/notes-{i}.mp4": NOT_VIDEO for i in range(5)}
            | {f"library/empty-{i}.mp4": b"" for i in range(5)},
        )
        library = Library(
            clips={key: stored[key] for key in planned},
            seconds=sum(_seconds(path) for path in planned.values()),
            not_videos={key: v for key, v in stored.items() if "notes-" in key},
            empty=[key for key in stored if "empty-" in key],
            moderated=moderated,
        )
        assert sandbox.stack.settle(timeout=30)  # nothing reached the pipeline
        # When the operator runs the dry run, then the job
        dry_run = json_output(sandbox.modlake("backfill", f"s3://{bucket}/library/", "--json"))["plan"]
        created = json_output(sandbox.modlake("backfill", f"s3://{bucket}/library/", "--yes", "--json"))["job"]
        # And uploads three clips while at least 20 backfill videos wait for a slot
        store = _videos(sandbox)
        deadline = time.monotonic() + 90
        while len([r for r in store.next_waiting(60) if r.video.source is VideoSource.BACKFILL]) < 20:
            assert time.monotonic() < deadline, "the backfill never had 20 videos waiting"
            time.sleep(0.2)
        uploads: dict[str, float] = {}
        waiting: dict[str, set[str]] = {}
        for i, path in enumerate(sources[:3]):
            key = f"uploads/fresh-{i}{path.suffix}"
            version = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())["VersionId"]
            uploads[key] = time.time()
            upload_id = VideoRef(bucket, key, version, None).video_id
            while store.get(upload_id) is None:  # the moment start_moderation recorded it
                time.sleep(0.05)
            waiting[key] = {r.video_id for r in store.next_waiting(100) if r.video.source is VideoSource.BACKFILL}
        assert sandbox.stack.settle(timeout=300), sandbox.stack.queue_depths()
        status = json_output(sandbox.modlake("backfill", "--status", created["job_id"], "--json"))
        yield Backfill(sandbox, library, dry_run, created, status, uploads, waiting)
        grant_ledger.record("backfill", sandbox.stack)


def test_the_dry_run_counts_minutes_and_cost_exactly(backfill: Backfill) -> None:
    plan, library = backfill.dry_run, backfill.library
    assert plan["candidates"] == 60
    assert (plan["empty"], plan["already_moderated"], plan["already_waiting_or_running"]) == (5, 5, 0)
    assert plan["to_moderate"] == 50 and plan["unreadable_headers"] == 5
    assert {u["key"] for u in plan["unreadable"]} == set(library.not_videos)
    assert plan["total_bytes"] == sum(len(NOT_VIDEO) for _ in range(5)) + sum(
        backfill.sandbox.stack.client("s3").head_object(
            Bucket=backfill.sandbox.stack.outputs["MediaBucketName"], Key=key, VersionId=version
        )["ContentLength"]
        for key, version in library.clips.items()
    )
    assert plan["video_minutes"] * 60 == pytest.approx(library.seconds, abs=45 * 0.1)  # a frame (10 fps) per clip
    assert plan["estimated_rekognition_cost"] == pytest.approx(plan["video_minutes"] * PRICE)
    assert plan["price_per_minute"] == PRICE


def test_the_job_ran_every_task_and_reported_the_non_videos(backfill: Backfill) -> None:
    status = backfill.status
    assert status["status"] == "Complete"
    assert (status["tasks_total"], status["tasks_succeeded"], status["tasks_failed"]) == (50, 45, 5)
    failed = status["report"]["failed_tasks"]
    assert {task["key"] for task in failed} == set(backfill.library.not_videos)
    assert {task["reason"] for task in failed} == {"not an MP4 or MOV file (no ISO-BMFF box header)"}


def test_every_video_was_moderated_once_and_the_moderated_ones_were_left_alone(backfill: Backfill) -> None:
    stack = backfill.sandbox.stack
    jobs = Counter((job.key, job.version) for job in stack.rekognition.started_jobs())
    library = backfill.library
    expected = {**library.clips, **library.moderated}
    assert {
        version_key: n for version_key, n in jobs.items() if version_key[0].startswith("library/")
    } == dict.fromkeys(expected.items(), 1)
    assert stack.rekognition.stats.max_in_progress_seen <= JOB_LIMIT
    store, bucket = _videos(backfill.sandbox), stack.outputs["MediaBucketName"]
    for key, version in library.clips.items():
        record = store.get(VideoRef(bucket, key, version, None).video_id)
        assert record is not None and record.status is VideoStatus.SUCCEEDED, key
        assert record.video.source is VideoSource.BACKFILL
    for key, version in library.moderated.items():
        assert store.get(VideoRef(bucket, key, version, None).video_id).video.source is VideoSource.UPLOAD  # type: ignore[union-attr]
    for key, version in library.not_videos.items():
        record = store.get(VideoRef(bucket, key, version, None).video_id)
        assert record is not None and record.status is VideoStatus.SKIPPED


def test_uploads_made_during_the_backfill_started_before_the_waiting_backfill_videos(backfill: Backfill) -> None:
    stack = backfill.sandbox.stack
    started = {job.key: job.started_at for job in stack.rekognition.started_jobs()}
    by_video = {}
    bucket = stack.outputs["MediaBucketName"]
    for key, version in backfill.library.clips.items():
        by_video[VideoRef(bucket, key, version, None).video_id] = started[key]
    for key, waiting in backfill.waiting_backfill.items():
        # Given the backfill videos that waited when the upload was recorded (many: the check means something)
        assert len(waiting) >= 15, (key, len(waiting))
        # Then at most one round of slots (kicks already claimed when it arrived) went to them before the upload
        ahead = [video for video in waiting if by_video[video] < started[key]]
        assert len(ahead) <= JOB_LIMIT, (key, len(ahead), len(waiting))


def test_nothing_is_left_in_any_queue_or_dead_letter_queue(backfill: Backfill) -> None:
    depths = backfill.sandbox.stack.queue_depths()
    assert depths and all(depth == 0 for depth in depths.values()), depths


def test_every_call_including_the_batch_roles_is_allowed_by_the_template(backfill: Backfill) -> None:
    stack = backfill.sandbox.stack
    assert stack.deployment is not None
    # Given every call recorded, by principal: queue_backfill and the role S3 Batch Operations acted as among them
    calls = calls_by_principal(stack)
    backfill_function = stack.deployment.function_named("queue_backfill").logical_id
    batch_role = stack.deployment.role_with_arn(stack.outputs["BatchOperationsRoleArn"])
    assert backfill_function in calls and batch_role in calls
    assert {c.operation for c in calls[batch_role]} >= {"GetObject", "PutObject", "Invoke"}
    # Then the template's policies allow every one of them
    denials = denied_calls(stack, calls)
    assert not denials, "\n".join(str(d) for d in denials)

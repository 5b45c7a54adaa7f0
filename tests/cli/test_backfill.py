"""`modlake backfill`: the dry run's counts, bytes, minutes and costs over a moto media bucket of real H.264 clips;
the manifest and CreateJob (botocore Stubber, every parameter checked against the s3control model); an active job
on the same selection; and --status with a completion report written in AWS's layout."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import av
import botocore.session
import moto.s3.models
import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from botocore.model import Shape
from botocore.stub import ANY, Stubber
from rich.console import Console

from cli.backfill import summary_statuses
from cli.backfill_jobs import UNFINISHED_STATUSES, watch_job
from cli.backfill_plan import (
    MAX_DESCRIPTION_CHARS,
    Selection,
    StoredObject,
    job_description,
    job_token,
    manifest_body,
    parse_selection,
)
from cli.errors import CliError
from cli.target import Target
from functions.common.adapters.dynamodb import DynamoVideoStore
from functions.common.backfill import (
    DEFAULT_REKOGNITION_PRICE_PER_MINUTE,
    JOB_DESCRIPTION_PREFIX,
    MANIFEST_PREFIX,
    REPORT_PREFIX,
    s3_batch_cost,
)
from functions.common.models import VideoRef, VideoStatus
from functions.common.table_design import create_table_request
from tests.cli.conftest import MEDIA_BUCKET, OUTPUTS, error_line, moderate, modlake, moto_server_target, skip, start
from tests.cli.test_upload import register_start_function, start_environment

ANALYTICS = OUTPUTS["AnalyticsBucketName"]
# The completion report every backfill job asks for: all tasks, in the analytics bucket under REPORT_PREFIX.
REPORT = {
    "Bucket": f"arn:aws:s3:::{ANALYTICS}",
    "Prefix": REPORT_PREFIX,
    "Format": "Report_CSV_20180820",
    "Enabled": True,
    "ReportScope": "AllTasks",
}
ACCOUNT = "123456789012"
PRICE = float(OUTPUTS["RekognitionPricePerMinute"])
FPS = 10
IN_RANGE = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
SELECTION = ("s3://" + MEDIA_BUCKET + "/library/", "--since", "2025-06-01", "--until", "2025-06-30")
TRICKY_KEY = "library/a b+c%ü 東京.mp4"
TRICKY_ENCODED = "library/a%20b%2Bc%25%C3%BC%20%E6%9D%B1%E4%BA%AC.mp4"
JOB_ID = "8c1d2f3e-0b4a-4c5d-9e6f-7a8b9c0d1e2f"


# --- clips ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    """An encoded clip: its bytes, what PyAV says it lasts, and whether its moov box comes first."""

    data: bytes
    seconds: float
    moov_first: bool


def encode_clip(path: Path, seconds: float, *, faststart: bool = False, noise: bool = False) -> Clip:
    """A 64x64 H.264 clip at FPS (container from the suffix); noise makes frames incompressible, so files are big."""
    rng = np.random.default_rng(len(path.name))
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", container_options=options) as container:
        stream = container.add_stream("h264", rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for index in range(round(seconds * FPS)):
            pixels = (
                rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                if noise
                else np.full((64, 64, 3), index * 9 % 256, np.uint8)
            )
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    with av.open(str(path)) as reading:
        assert reading.duration is not None
        lasts = reading.duration / 1_000_000
    return Clip(data, lasts, moov_first=data.find(b"moov") < data.find(b"mdat"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    """The clips the media bucket holds: moov first and last, MP4 and MOV, one over 64 KiB (two ranged reads)."""
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "fast-2s.mp4": encode_clip(folder / "fast-2s.mp4", 2.0, faststart=True),
        "last-1s.mp4": encode_clip(folder / "last-1s.mp4", 1.0),
        "last-3s.mov": encode_clip(folder / "last-3s.mov", 3.0),
        "fast-1.5s.mp4": encode_clip(folder / "fast-1.5s.mp4", 1.5, faststart=True),
        "noise-3s.mp4": encode_clip(folder / "noise-3s.mp4", 3.0, noise=True),
    }
    assert made["fast-2s.mp4"].moov_first and not made["last-1s.mp4"].moov_first
    assert not made["last-3s.mov"].moov_first and len(made["noise-3s.mp4"].data) > 64 * 1024
    return made


def box(kind: bytes, payload: bytes) -> bytes:
    """One ISO-BMFF box."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def seven_hour_header() -> bytes:
    """A movie whose mvhd says 7 hours (timescale 1000): longer than Rekognition takes."""
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 7 * 3600 * 1000) + bytes(80))
    return box(b"ftyp", b"isom\x00\x00\x02\x00isommp41") + box(b"moov", mvhd) + box(b"mdat", bytes(256))


# --- the bucket ----------------------------------------------------------------------------------
@dataclass
class Library:
    """What the test bucket holds and what the dry run must say of it."""

    versions: dict[str, str] = field(default_factory=dict)  # key → its current version id
    to_moderate: dict[str, bytes] = field(default_factory=dict)  # key → body
    seconds: float = 0.0  # what PyAV says the counted clips last
    clips_counted: int = 0


@pytest.fixture
def backfill_target(target: Target) -> Target:
    """The moto stack with its analytics bucket (manifests and reports live there)."""
    target.client("s3").create_bucket(Bucket=ANALYTICS)
    return target


def put(monkeypatch: pytest.MonkeyPatch, target: Target, key: str, body: bytes, at: datetime = IN_RANGE) -> str:
    """PutObject as if it happened at `at` (moto stamps LastModified with its clock); the new version id."""
    monkeypatch.setattr(moto.s3.models, "utcnow", lambda: at.astimezone(UTC).replace(tzinfo=None))
    version: str = target.client("s3").put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body)["VersionId"]
    monkeypatch.undo()
    return version


@pytest.fixture
def library(
    backfill_target: Target, store: DynamoVideoStore, clips: dict[str, Clip], monkeypatch: pytest.MonkeyPatch
) -> Library:
    """19 objects (one with three versions, one deleted), and summaries for some exact versions."""
    lib = Library()
    t = backfill_target

    def counted(key: str, clip: Clip, at: datetime = IN_RANGE) -> None:
        lib.versions[key] = put(monkeypatch, t, key, clip.data, at)
        lib.to_moderate[key] = clip.data
        lib.seconds += clip.seconds
        lib.clips_counted += 1

    def with_status(key: str, clip: Clip, status: VideoStatus) -> None:
        version = put(monkeypatch, t, key, clip.data)
        video = VideoRef(MEDIA_BUCKET, key, version, None, size=len(clip.data), uploaded_at=IN_RANGE)
        if status is VideoStatus.SUCCEEDED:
            moderate(store, video, [], started=IN_RANGE, completed=IN_RANGE)
        elif status is VideoStatus.IN_PROGRESS:
            start(store, video, IN_RANGE)
        elif status is VideoStatus.QUEUED:
            assert store.mark_queued(video, 1, "LimitExceededException", IN_RANGE)
        elif status is VideoStatus.SKIPPED:
            skip(store, video, "file type not in mp4", IN_RANGE)
        else:
            assert store.mark_not_started(video, status, "Rekognition InvalidS3ObjectException", IN_RANGE)

    # to moderate: odd characters, upper-case suffixes, MOV, both ends of the date range, a big moov-last clip
    counted(TRICKY_KEY, clips["fast-2s.mp4"])
    counted("library/LOUD.MP4", clips["last-1s.mp4"])
    counted("library/trailer.MOV", clips["last-3s.mov"])
    counted("library/first.m4v", clips["fast-1.5s.mp4"], datetime(2025, 6, 1, 0, 0, 0, tzinfo=UTC))
    counted("library/edge.mp4", clips["last-1s.mp4"], datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC))
    counted("library/noisy.mp4", clips["noise-3s.mp4"])
    # several versions (moto tells the latest by LastModified): the oldest has an outcome, the newest none
    key = "library/versions.mp4"
    old = put(monkeypatch, t, key, clips["last-1s.mp4"].data, IN_RANGE - timedelta(hours=2))
    moderate(store, VideoRef(MEDIA_BUCKET, key, old, None), [], started=IN_RANGE, completed=IN_RANGE)
    put(monkeypatch, t, key, b"an older draft", IN_RANGE - timedelta(hours=1))
    counted(key, clips["fast-1.5s.mp4"])
    # sent without minutes: not a movie, and a movie over 6 hours
    fake = b"this is a text file renamed to .mp4\n"
    lib.versions["library/fake.mp4"] = put(monkeypatch, t, "library/fake.mp4", fake)
    lib.to_moderate["library/fake.mp4"] = fake
    long = seven_hour_header()
    lib.versions["library/long.mp4"] = put(monkeypatch, t, "library/long.mp4", long)
    lib.to_moderate["library/long.mp4"] = long
    # left out: empty, with an outcome, waiting or running
    put(monkeypatch, t, "library/empty.mp4", b"")
    with_status("library/done.mp4", clips["last-1s.mp4"], VideoStatus.SUCCEEDED)
    with_status("library/failed.mov", clips["last-1s.mp4"], VideoStatus.FAILED)
    with_status("library/skipped.mp4", clips["last-1s.mp4"], VideoStatus.SKIPPED)
    with_status("library/waiting.mp4", clips["last-1s.mp4"], VideoStatus.QUEUED)
    with_status("library/running.mp4", clips["last-1s.mp4"], VideoStatus.IN_PROGRESS)
    # not candidates: other suffixes, outside the prefix or the days, deleted
    put(monkeypatch, t, "library/notes.txt", b"notes")
    put(monkeypatch, t, "library/poster.jpg", b"\xff\xd8\xff")
    put(monkeypatch, t, "elsewhere/outside.mp4", clips["last-1s.mp4"].data)
    put(monkeypatch, t, "library/old.mp4", clips["last-1s.mp4"].data, datetime(2025, 5, 31, 23, 59, 59, tzinfo=UTC))
    put(monkeypatch, t, "library/late.mp4", clips["last-1s.mp4"].data, datetime(2025, 7, 1, 0, 0, 0, tzinfo=UTC))
    put(monkeypatch, t, "library/gone.mp4", clips["last-1s.mp4"].data)
    t.client("s3").delete_object(Bucket=MEDIA_BUCKET, Key="library/gone.mp4")
    return lib


def dry_run_json(target: Target, *args: str) -> dict[str, Any]:
    """`modlake backfill ARGS --json`: the plan."""
    result = modlake(target, "backfill", *args, "--json")
    assert result.exit_code == 0, result.output
    plan: dict[str, Any] = json.loads(result.stdout)["plan"]
    return plan


def count_gets(target: Target) -> list[dict[str, Any]]:
    """Every GetObject the target's S3 client makes from now on (its parameters)."""
    calls: list[dict[str, Any]] = []
    target.client("s3").meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: calls.append(dict(params)), unique_id="count-gets"
    )
    return calls


@pytest.fixture
def gets(backfill_target: Target) -> Iterator[list[dict[str, Any]]]:
    calls = count_gets(backfill_target)
    yield calls
    backfill_target.client("s3").meta.events.unregister("provide-client-params.s3.GetObject", unique_id="count-gets")


# --- the dry run ---------------------------------------------------------------------------------
def test_dry_run_counts_bytes_minutes_and_costs_exactly(
    backfill_target: Target, library: Library, gets: list[dict[str, Any]]
) -> None:
    # Given the library
    # When the dry run reads it
    plan = dry_run_json(backfill_target, *SELECTION)
    # Then every count is exact
    assert {k: plan[k] for k in ("candidates", "empty", "already_moderated", "already_waiting_or_running")} == {
        "candidates": 15,
        "empty": 1,
        "already_moderated": 3,
        "already_waiting_or_running": 2,
    }
    assert plan["to_moderate"] == len(library.to_moderate) == 9
    assert (plan["unreadable_headers"], plan["over_6_hours"], plan["unknown_duration"], plan["over_10_gb"]) == (
        1,
        1,
        0,
        0,
    )
    assert plan["unreadable"] == [
        {
            "key": "library/fake.mp4",
            "version_id": library.versions["library/fake.mp4"],
            "reason": "not an MP4 or MOV file (no ISO-BMFF box header)",
        }
    ]
    # and the bytes are those of the objects sent, the minutes what PyAV says the clips last (within a frame each)
    assert plan["total_bytes"] == sum(len(body) for body in library.to_moderate.values())
    assert plan["video_minutes"] * 60 == pytest.approx(library.seconds, abs=library.clips_counted / FPS)
    assert plan["video_minutes"] * 60 == pytest.approx(2.0 + 1.0 + 3.0 + 1.5 + 1.0 + 3.0 + 1.5, abs=0.01)
    # and the costs follow: minutes × the stack's price, and one job over the manifest's objects
    assert plan["price_per_minute"] == PRICE
    assert plan["estimated_rekognition_cost"] == pytest.approx(plan["video_minutes"] * PRICE)
    assert plan["s3_batch_operations_cost"] == pytest.approx(s3_batch_cost(9)) and s3_batch_cost(9) > 0.25
    # and every ranged GET was counted: one per header, two for the clip whose moov sits past the first 64 KiB
    assert plan["ranged_gets"] == len(gets) == 9 + 1
    assert all(call["Range"].startswith("bytes=") and call.get("VersionId") for call in gets)
    assert {call["VersionId"] for call in gets} == set(library.versions.values())


def test_dry_run_table_says_it_all_and_creates_nothing(backfill_target: Target, library: Library) -> None:
    # Given the library
    # When the dry run prints its table
    result = modlake(backfill_target, "backfill", *SELECTION)
    # Then each row is there, the cost reads as an estimate at the stack's price, and the unreadable one is named
    assert result.exit_code == 0, result.output
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()}
    assert re.search(r"^to moderate\s+9\b", result.stdout, re.M)
    assert re.search(r"^\s*of which over 6 h\s+1\b", result.stdout, re.M)
    assert re.search(r"^empty \(left out\)\s+1\b", result.stdout, re.M)
    total = sum(len(body) for body in library.to_moderate.values())
    assert f"{total:,}" in rows["total bytes"]
    assert "(estimate at $0.12 per minute)" in rows["estimated Rekognition cost"]
    assert "$0.25" in rows["S3 Batch Operations cost"]
    assert "not a movie: library/fake.mp4" in result.stdout
    # and nothing was written to the analytics bucket
    assert "Contents" not in backfill_target.client("s3").list_objects_v2(Bucket=ANALYTICS)


def test_rekognition_price_defaults_when_the_stack_has_none(backfill_target: Target, library: Library) -> None:
    # Given a stack without the price output
    outputs = {k: v for k, v in backfill_target.outputs.items() if k != "RekognitionPricePerMinute"}
    cheap = Target(backfill_target.stack_name, backfill_target.region, outputs)
    # When the dry run estimates
    plan = dry_run_json(cheap, *SELECTION)
    # Then the default price is used
    assert plan["price_per_minute"] == DEFAULT_REKOGNITION_PRICE_PER_MINUTE != PRICE
    assert plan["estimated_rekognition_cost"] == pytest.approx(
        plan["video_minutes"] * DEFAULT_REKOGNITION_PRICE_PER_MINUTE
    )


def test_the_token_survives_candidates_becoming_queued_but_not_new_uploads(
    backfill_target: Target, library: Library, store: DynamoVideoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the dry run's token
    first = dry_run_json(backfill_target, *SELECTION)
    assert re.fullmatch(r"[0-9a-f]{64}", first["token"])
    # When one candidate is queued by the pipeline (as while the job runs)
    key = "library/LOUD.MP4"
    video = VideoRef(MEDIA_BUCKET, key, library.versions[key], None)
    assert store.mark_queued(video, 1, "LimitExceededException", IN_RANGE)
    queued = dry_run_json(backfill_target, *SELECTION)
    # Then it is left out but the token is the same (AWS hands back the same job)
    assert (queued["to_moderate"], queued["already_waiting_or_running"]) == (8, 3)
    assert queued["token"] == first["token"]
    # and a new version in the selection, or another selection, gives another token
    put(monkeypatch, backfill_target, key, b"new content", IN_RANGE + timedelta(minutes=1))
    assert dry_run_json(backfill_target, *SELECTION)["token"] != first["token"]
    assert dry_run_json(backfill_target, *SELECTION[:3])["token"] != first["token"]


def test_unversioned_bucket_uses_the_etag_for_the_video_id(target: Target) -> None:
    # Given an unversioned media bucket with two videos, one of them moderated (its summary keyed by ETag)
    s3 = target.client("s3")
    s3.create_bucket(Bucket="plain-media")
    plain = Target(target.stack_name, target.region, {**target.outputs, "MediaBucketName": "plain-media"})
    header = seven_hour_header()
    for key in ("done.mp4", "new.mp4"):
        s3.put_object(Bucket="plain-media", Key=key, Body=header + key.encode())
    etag = s3.head_object(Bucket="plain-media", Key="done.mp4")["ETag"].strip('"')
    store = DynamoVideoStore(target.client("dynamodb"), OUTPUTS["VideosTableName"])
    skip(store, VideoRef("plain-media", "done.mp4", None, etag), "over 6 hours", IN_RANGE)
    # When the dry run reads it
    plan = dry_run_json(plain)
    # Then the moderated one is recognised by its ETag and the other is sent
    assert (plan["candidates"], plan["already_moderated"], plan["to_moderate"], plan["over_6_hours"]) == (2, 1, 1, 1)


def test_max_minutes_warns_in_the_dry_run(backfill_target: Target, library: Library) -> None:
    # Given videos lasting about 0.22 minutes
    # When the dry run is limited to 0.1 minutes
    result = modlake(backfill_target, "backfill", *SELECTION, "--max-minutes", "0.1")
    # Then it still succeeds, with a warning line
    assert result.exit_code == 0, result.output
    assert "modlake: warning: 0.22 video minutes exceed --max-minutes 0.1: --yes would refuse" in result.stderr


def test_another_bucket_and_a_prefix_outside_the_stacks_are_refused(backfill_target: Target) -> None:
    # When another bucket is named
    other = modlake(backfill_target, "backfill", "s3://someone-elses-bucket/videos/")
    # Then it is refused in one line
    assert other.exit_code == 1
    assert error_line(other).startswith("modlake: s3://someone-elses-bucket is not the stack's media bucket")
    # and a stack prefix narrows, and does not widen, the selection
    narrowed = parse_selection(
        f"s3://{MEDIA_BUCKET}/in", media_bucket=MEDIA_BUCKET, stack_prefix="incoming/", since=None, until=None
    )
    assert narrowed.prefix == "incoming/"
    deeper = parse_selection(
        f"s3://{MEDIA_BUCKET}/incoming/2024/",
        media_bucket=MEDIA_BUCKET,
        stack_prefix="incoming/",
        since=None,
        until=None,
    )
    assert deeper.prefix == "incoming/2024/"
    with pytest.raises(CliError, match="outside the prefix 'incoming/'"):
        parse_selection(
            f"s3://{MEDIA_BUCKET}/other/", media_bucket=MEDIA_BUCKET, stack_prefix="incoming/", since=None, until=None
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2025-6-1"), "bad --since '2025-6-1': expected a date as YYYY-MM-DD"),
        (("--until", "20250601"), "bad --until '20250601': expected a date as YYYY-MM-DD"),
        (("--since", "2025-07-01", "--until", "2025-06-30"), "--since 2025-07-01 is after --until 2025-06-30"),
        (("media",), "'media' is not an S3 URI"),
        (("--watch",), "--watch applies to --status only"),
        (("--status", "--yes"), "--status takes only a job id"),
        (("--status", "no"), "'no' is not an S3 Batch Operations job id"),
    ],
)
def test_bad_input_is_one_line(backfill_target: Target, args: tuple[str, ...], message: str) -> None:
    # When the command line is wrong
    result = modlake(backfill_target, "backfill", *args)
    # Then one line says why, exit 1
    assert result.exit_code == 1, result.output
    assert error_line(result).startswith(f"modlake: {message}")


def test_a_stack_from_before_backfill_is_told_to_redeploy(backfill_target: Target, library: Library) -> None:
    # Given a stack without the batch outputs
    outputs = {
        k: v for k, v in backfill_target.outputs.items() if k not in ("BackfillFunctionArn", "BatchOperationsRoleArn")
    }
    old = Target(backfill_target.stack_name, backfill_target.region, outputs)
    # When --yes or --status is asked for
    started = modlake(old, "backfill", *SELECTION, "--yes")
    status = modlake(old, "backfill", "--status")
    # Then each says in one line that the stack predates backfill, and nothing is written
    for result in (started, status):
        assert result.exit_code == 2, result.output
        assert "predates backfill (no output BackfillFunctionArn, BatchOperationsRoleArn): redeploy it" in error_line(
            result
        )
    assert "Contents" not in backfill_target.client("s3").list_objects_v2(Bucket=ANALYTICS)
    # and the dry run still estimates, with a note
    dry = modlake(old, "backfill", *SELECTION)
    assert dry.exit_code == 0 and "predates backfill" in dry.stderr


def test_long_prefixes_fit_the_description_and_stay_apart() -> None:
    # Given two selections whose long prefixes differ only at the end
    one = Selection(MEDIA_BUCKET, "a" * 400 + "/one/", date(2025, 1, 1), None)
    two = Selection(MEDIA_BUCKET, "a" * 400 + "/two/", date(2025, 1, 1), None)
    # When their job descriptions are made
    # Then both fit CreateJob's limit, start with the prefix ListJobs looks for, and differ
    for selection in (one, two):
        assert len(job_description(selection)) == MAX_DESCRIPTION_CHARS
        assert job_description(selection).startswith(JOB_DESCRIPTION_PREFIX + " s3://")
        assert model_problems(CREATE_JOB.members["Description"], job_description(selection), "Description") == []
    assert job_description(one) != job_description(two)
    short = Selection(MEDIA_BUCKET, "library/", date(2025, 6, 1), date(2025, 6, 30))
    assert job_description(short) == f"modlake backfill s3://{MEDIA_BUCKET}/library/ 2025-06-01..2025-06-30"
    # and the token is 64 characters whatever the selection
    objects = [StoredObject(MEDIA_BUCKET, "k.mp4", None, "etag", 1, IN_RANGE)]
    assert len(job_token(one, objects)) == 64 and job_token(one, objects) != job_token(two, objects)


# --- --yes ---------------------------------------------------------------------------------------
CREATE_JOB = botocore.session.get_session().get_service_model("s3control").operation_model("CreateJob").input_shape


def model_problems(shape: Shape, value: Any, path: str) -> list[str]:
    """Where `value` breaks botocore's model for `shape`: required members, lengths, ranges, patterns, enums.

    botocore's own validation checks types and minimums only; AWS checks the rest.
    """
    meta, problems = shape.metadata, []
    if shape.type_name == "structure":
        problems += [f"{path}.{name} is required" for name in shape.required_members if name not in value]
        for name, member in value.items():
            if name not in shape.members:  # type: ignore[attr-defined]
                problems.append(f"{path}.{name} is not in the model")
            else:
                problems += model_problems(shape.members[name], member, f"{path}.{name}")  # type: ignore[attr-defined]
    elif shape.type_name == "list":
        problems += [p for i, item in enumerate(value) for p in model_problems(shape.member, item, f"{path}[{i}]")]  # type: ignore[attr-defined]
    elif shape.type_name == "string":
        if not isinstance(value, str):
            return [f"{path} is not a string"]
        if not meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 30):
            problems.append(f"{path} has {len(value)} characters, outside {meta.get('min')}..{meta.get('max')}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path} {value!r} does not match {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path} {value!r} is not one of {shape.enum}")
    elif shape.type_name in ("integer", "long"):
        if not meta.get("min", -(1 << 63)) <= value <= meta.get("max", 1 << 63):
            problems.append(f"{path} {value} is out of range")
    elif shape.type_name == "boolean" and not isinstance(value, bool):
        problems.append(f"{path} is not a boolean")
    return problems


@dataclass
class S3Control:
    """A Stubber on the target's s3control client (moto has no Batch Operations) and every call's parameters."""

    stubber: Stubber
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def s3control(backfill_target: Target) -> Iterator[S3Control]:
    client = backfill_target.client("s3control")
    recorder = S3Control(Stubber(client))

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        recorder.calls.append((model.name, json.loads(json.dumps(params))))

    client.meta.events.register("provide-client-params.s3-control", record, unique_id="record-s3control")
    with recorder.stubber:
        yield recorder
        recorder.stubber.assert_no_pending_responses()
    client.meta.events.unregister("provide-client-params.s3-control", unique_id="record-s3control")
    # And every call this test made is valid by the model, not only by botocore's looser checks
    for name, params in recorder.calls:
        shape = client.meta.service_model.operation_model(name).input_shape
        assert model_problems(shape, params, name) == []


def expect_list_jobs(s3control: S3Control, jobs: list[dict[str, Any]], statuses: bool = True) -> None:
    expected: dict[str, Any] = {"AccountId": ACCOUNT, "MaxResults": 1000}
    if statuses:
        expected["JobStatuses"] = list(UNFINISHED_STATUSES)
    s3control.stubber.add_response("list_jobs", {"Jobs": jobs}, expected)


def expect_create_job(s3control: S3Control, job_id: str = JOB_ID) -> None:
    s3control.stubber.add_response(
        "create_job",
        {"JobId": job_id},
        {
            "AccountId": ACCOUNT,
            "ConfirmationRequired": False,
            "Operation": {
                "LambdaInvoke": {"FunctionArn": OUTPUTS["BackfillFunctionArn"], "InvocationSchemaVersion": "2.0"}
            },
            "Manifest": {
                "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key", "VersionId"]},
                "Location": {"ObjectArn": ANY, "ETag": ANY},
            },
            "Report": REPORT,
            "Priority": 10,
            "RoleArn": OUTPUTS["BatchOperationsRoleArn"],
            "ClientRequestToken": ANY,
            "Description": f"{JOB_DESCRIPTION_PREFIX} s3://{MEDIA_BUCKET}/library/ 2025-06-01..2025-06-30",
        },
    )


def test_yes_writes_the_manifest_and_creates_the_job(
    backfill_target: Target, library: Library, s3control: S3Control
) -> None:
    # Given no job running on the selection
    expect_list_jobs(s3control, [])
    expect_create_job(s3control)
    # When the backfill is started
    result = modlake(backfill_target, "backfill", *SELECTION, "--yes")
    # Then the job id and how to follow it are printed
    assert result.exit_code == 0, result.output
    assert f"created S3 Batch Operations job {JOB_ID} for 9 videos" in result.stdout
    assert f"follow it: modlake backfill --status {JOB_ID}" in result.stdout
    # and the manifest is in the analytics bucket under its token, with the ETag CreateJob was given
    (create,) = s3control.params("CreateJob")
    token = create["ClientRequestToken"]
    key = f"{MANIFEST_PREFIX}{token}.csv"
    assert create["Manifest"]["Location"]["ObjectArn"] == f"arn:aws:s3:::{ANALYTICS}/{key}"
    s3 = backfill_target.client("s3")
    assert create["Manifest"]["Location"]["ETag"] == s3.head_object(Bucket=ANALYTICS, Key=key)["ETag"].strip('"')
    # and its rows are exactly the versions to moderate, keys URL-encoded so '+' and '%' survive decoding
    rows = list(csv.reader(io.StringIO(s3.get_object(Bucket=ANALYTICS, Key=key)["Body"].read().decode())))
    assert sorted((unquote_plus(k), v) for _, k, v in rows) == sorted(library.versions.items())
    assert {bucket for bucket, _, _ in rows} == {MEDIA_BUCKET}
    encoded = {unquote_plus(k): k for _, k, _ in rows}
    assert encoded[TRICKY_KEY] == TRICKY_ENCODED
    assert all(re.fullmatch(r"[A-Za-z0-9/%._~-]+", k) for k in encoded.values())


def test_a_rerun_while_the_job_runs_sends_the_same_token_and_keeps_the_manifest(
    backfill_target: Target, library: Library, s3control: S3Control, store: DynamoVideoStore
) -> None:
    # Given a first backfill, after which the pipeline queues one of its videos (the job not listed yet)
    expect_list_jobs(s3control, [])
    expect_create_job(s3control)
    assert modlake(backfill_target, "backfill", *SELECTION, "--yes").exit_code == 0
    video = VideoRef(MEDIA_BUCKET, "library/LOUD.MP4", library.versions["library/LOUD.MP4"], None)
    assert store.mark_queued(video, 1, "LimitExceededException", IN_RANGE)
    # When the same command runs again
    expect_list_jobs(s3control, [])
    expect_create_job(s3control)
    again = modlake(backfill_target, "backfill", *SELECTION, "--yes")
    # Then it sends the same token (AWS answers with the same job) and the first manifest, untouched
    assert again.exit_code == 0, again.output
    assert "for 8 videos" in again.stdout
    first, second = s3control.params("CreateJob")
    assert first["ClientRequestToken"] == second["ClientRequestToken"]
    assert first["Manifest"]["Location"] == second["Manifest"]["Location"]
    s3 = backfill_target.client("s3")
    listed = s3.list_objects_v2(Bucket=ANALYTICS)["Contents"]
    assert [o["Key"] for o in listed] == [f"{MANIFEST_PREFIX}{first['ClientRequestToken']}.csv"]
    body = s3.get_object(Bucket=ANALYTICS, Key=listed[0]["Key"])["Body"].read().decode()
    assert len(body.splitlines()) == 9


def test_manifest_rows_name_unversioned_objects_by_the_null_version() -> None:
    # Given a versioned and an unversioned object, one with a comma and a quote in its key
    objects = [
        StoredObject(MEDIA_BUCKET, 'a,b "c".mp4', "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "e1", 5, IN_RANGE),
        StoredObject(MEDIA_BUCKET, "plain.mp4", None, "e2", 5, IN_RANGE),
    ]
    # When the manifest is written
    text = manifest_body(objects).decode()
    # Then each row is Bucket,Key,VersionId with the key encoded (no CSV quoting needed) and "null" for no version
    assert text.splitlines() == [
        f"{MEDIA_BUCKET},a%2Cb%20%22c%22.mp4,3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        f"{MEDIA_BUCKET},plain.mp4,null",
    ]


def test_a_second_yes_with_an_active_job_creates_none(
    backfill_target: Target, library: Library, s3control: S3Control
) -> None:
    # Given a job created for the selection, now Active, and an active job on another selection
    expect_list_jobs(s3control, [])
    expect_create_job(s3control)
    assert modlake(backfill_target, "backfill", *SELECTION, "--yes").exit_code == 0
    (create,) = s3control.params("CreateJob")
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    other = {"JobId": "other-job-1", "Description": f"{JOB_DESCRIPTION_PREFIX} s3://{MEDIA_BUCKET}/ *..*"}
    expect_list_jobs(
        s3control,
        [
            {**other, "Status": "Active", "CreationTime": created},
            {"JobId": JOB_ID, "Description": create["Description"], "Status": "Active", "CreationTime": created},
        ],
    )
    # When --yes runs again
    again = modlake(backfill_target, "backfill", *SELECTION, "--yes")
    # Then no job is created (the Stubber has none queued), that job is named, and nothing new is written
    assert again.exit_code == 0, again.output
    assert f"job {JOB_ID} is already Active on this selection: no new job created" in again.stdout
    assert f"modlake backfill --status {JOB_ID}" in again.stdout
    assert len(s3control.params("CreateJob")) == 1
    assert len(backfill_target.client("s3").list_objects_v2(Bucket=ANALYTICS)["Contents"]) == 1


def test_yes_over_max_minutes_refuses(backfill_target: Target, library: Library, s3control: S3Control) -> None:
    # Given no job running
    expect_list_jobs(s3control, [])
    # When --yes is limited below the videos' minutes
    result = modlake(backfill_target, "backfill", *SELECTION, "--yes", "--max-minutes", "0.2")
    # Then it refuses in one line, exit 1, after printing the numbers; no manifest, no job
    assert result.exit_code == 1, result.output
    assert error_line(result) == (
        "modlake: 0.22 video minutes exceed --max-minutes 0.2: no job created "
        "(narrow the selection or raise --max-minutes)"
    )
    assert "to moderate" in result.stdout
    assert s3control.params("CreateJob") == []
    assert "Contents" not in backfill_target.client("s3").list_objects_v2(Bucket=ANALYTICS)


def test_yes_with_nothing_to_moderate_creates_nothing(backfill_target: Target, s3control: S3Control) -> None:
    # Given an empty media bucket
    expect_list_jobs(s3control, [])
    # When --yes runs
    result = modlake(backfill_target, "backfill", "--yes")
    # Then it says so and creates nothing
    assert result.exit_code == 0, result.output
    assert f"nothing to moderate in s3://{MEDIA_BUCKET}/: no job created" in result.stdout
    assert s3control.params("CreateJob") == []
    assert "Contents" not in backfill_target.client("s3").list_objects_v2(Bucket=ANALYTICS)


# --- --status ------------------------------------------------------------------------------------
def described(status: str, succeeded: int, failed: int, total: int, job_id: str = JOB_ID) -> dict[str, Any]:
    """A DescribeJob answer for a modlake job."""
    return {
        "Job": {
            "JobId": job_id,
            "Description": f"{JOB_DESCRIPTION_PREFIX} s3://{MEDIA_BUCKET}/library/ 2025-06-01..2025-06-30",
            "Status": status,
            "Priority": 10,
            "CreationTime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "ProgressSummary": {
                "TotalNumberOfTasks": total,
                "NumberOfTasksSucceeded": succeeded,
                "NumberOfTasksFailed": failed,
            },
            "Report": REPORT,
        }
    }


def write_report(target: Target, job_id: str = JOB_ID) -> None:
    """A completion report as S3 Batch Operations writes it: manifest.json naming a succeeded and a failed CSV."""
    s3 = target.client("s3")
    folder = f"{REPORT_PREFIX}/job-{job_id}"
    results = {
        "succeeded": f"{folder}/results/6217b0fab0de85c408b4be96aeaca9b195a7daa5.csv",
        "failed": f"{folder}/results/b2ddad417e94331e9f37b44f1faf8c7ed5873f2e.csv",
    }
    manifest = {
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-01-02T04:00:00.000Z",
        "Results": [
            {"TaskExecutionStatus": status, "Bucket": ANALYTICS, "MD5Checksum": "0" * 32, "Key": key}
            for status, key in results.items()
        ],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    }
    s3.put_object(Bucket=ANALYTICS, Key=f"{folder}/manifest.json", Body=json.dumps(manifest).encode())
    s3.put_object(
        Bucket=ANALYTICS,
        Key=results["succeeded"],
        Body=f"{MEDIA_BUCKET},library/LOUD.MP4,v1,succeeded,200,,Successful\n".encode(),
    )
    failed = (
        f'{MEDIA_BUCKET},{TRICKY_ENCODED},v2,failed,200,PermanentFailure,"not an MP4 or MOV file, so not moderated"\n'
        f"{MEDIA_BUCKET},library/fake.mp4,v3,failed,200,PermanentFailure,no moov box (movie header)\n"
    )
    s3.put_object(Bucket=ANALYTICS, Key=results["failed"], Body=failed.encode())


def test_status_of_a_complete_job_lists_its_failed_tasks(backfill_target: Target, s3control: S3Control) -> None:
    # Given a complete job whose report names two failed tasks
    write_report(backfill_target)
    s3control.stubber.add_response(
        "describe_job", described("Complete", 8, 2, 10), {"AccountId": ACCOUNT, "JobId": JOB_ID}
    )
    # When its status is asked for
    result = modlake(backfill_target, "backfill", "--status", JOB_ID)
    # Then status, counts, percent and the failed tasks (keys decoded, reasons whole) are shown
    assert result.exit_code == 0, result.output
    assert re.search(r"status\s+Complete", result.stdout)
    assert "100%" in result.stdout and "8 succeeded, 2 failed of 10 tasks" in result.stdout
    assert "2 failed tasks" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "PermanentFailure" in line]
    assert len(lines) == 2
    assert TRICKY_KEY in lines[0] and "not an MP4 or MOV file, so not moderated" in lines[0]
    assert "library/fake.mp4" in lines[1] and "no moov box (movie header)" in lines[1]
    assert "LOUD.MP4" not in result.stdout


def test_status_json_has_the_report(backfill_target: Target, s3control: S3Control) -> None:
    # Given a complete job with a report
    write_report(backfill_target)
    s3control.stubber.add_response(
        "describe_job", described("Complete", 8, 2, 10), {"AccountId": ACCOUNT, "JobId": JOB_ID}
    )
    # When its status is asked for as JSON
    result = modlake(backfill_target, "backfill", "--status", JOB_ID, "--json")
    # Then the failed tasks carry the decoded key, HTTP status, error code and reason
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert (view["status"], view["tasks_succeeded"], view["tasks_failed"], view["percent"]) == ("Complete", 8, 2, 100.0)
    assert view["report"]["failed_tasks"][0] == {
        "bucket": MEDIA_BUCKET,
        "key": TRICKY_KEY,
        "version_id": "v2",
        "error_code": "PermanentFailure",
        "http_status": "200",
        "reason": "not an MP4 or MOV file, so not moderated",
    }


def test_status_without_a_job_shows_the_newest_modlake_job_in_progress(
    backfill_target: Target, s3control: S3Control
) -> None:
    # Given two modlake jobs and someone else's newer one
    older = datetime(2026, 1, 1, tzinfo=UTC)
    newer = datetime(2026, 1, 3, tzinfo=UTC)
    expect_list_jobs(
        s3control,
        [
            {
                "JobId": "old-modlake-job",
                "Description": f"{JOB_DESCRIPTION_PREFIX} s3://m/ *..*",
                "CreationTime": older,
            },
            {
                "JobId": "not-ours-job",
                "Description": "copy the archive",
                "CreationTime": datetime(2026, 2, 1, tzinfo=UTC),
            },
            {"JobId": JOB_ID, "Description": f"{JOB_DESCRIPTION_PREFIX} s3://m/x/ *..*", "CreationTime": newer},
        ],
        statuses=False,
    )
    s3control.stubber.add_response(
        "describe_job", described("Active", 3, 1, 10), {"AccountId": ACCOUNT, "JobId": JOB_ID}
    )
    # When the status is asked for without a job id
    result = modlake(backfill_target, "backfill", "--status")
    # Then the newest modlake job's progress is shown, and no report is read yet
    assert result.exit_code == 0, result.output
    assert JOB_ID in result.stdout and re.search(r"status\s+Active", result.stdout)
    assert "40%" in result.stdout and "3 succeeded, 1 failed of 10 tasks" in result.stdout
    assert "━" in result.stdout  # the bar
    assert "failed tasks" not in result.stdout


def test_watch_polls_until_the_job_is_finished(backfill_target: Target, s3control: S3Control) -> None:
    # Given a job that is active twice, then complete (its report written)
    write_report(backfill_target)
    for answer in (described("Active", 1, 0, 10), described("Active", 6, 1, 10), described("Complete", 8, 2, 10)):
        s3control.stubber.add_response("describe_job", answer, {"AccountId": ACCOUNT, "JobId": JOB_ID})
    naps: list[float] = []
    # When it is watched
    view = watch_job(backfill_target, JOB_ID, Console(file=io.StringIO()), interval=5, sleep=naps.append)
    # Then it slept between polls and ends with the report
    assert naps == [5, 5]
    assert view.status == "Complete" and view.report is not None
    assert [task.key for task in view.report.failures] == [TRICKY_KEY, "library/fake.mp4"]


# --- DynamoDB reads ------------------------------------------------------------------------------
class StingyDynamoDB:
    """The moto client, but each first answer leaves half its keys unprocessed (as a throttled table does)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requested: list[int] = []
        self.withheld = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        ((table, request),) = RequestItems.items()
        self.requested.append(len(request["Keys"]))
        if len(request["Keys"]) < 2 or self.withheld >= 3:
            response: dict[str, Any] = self.client.batch_get_item(RequestItems=RequestItems)
            return response
        self.withheld += 1
        half = len(request["Keys"]) // 2
        answered = self.client.batch_get_item(RequestItems={table: {**request, "Keys": request["Keys"][:half]}})
        return {**answered, "UnprocessedKeys": {table: {**request, "Keys": request["Keys"][half:]}}}


def test_summary_reads_batch_100_keys_and_retry_the_unprocessed(backfill_target: Target) -> None:
    # Given 230 summaries among 250 video ids
    table = OUTPUTS["VideosTableName"]
    dynamodb = backfill_target.client("dynamodb")
    ids = [f"{n:032x}" for n in range(250)]
    for n, video_id in enumerate(ids[:230]):
        status = ("SUCCEEDED", "QUEUED", "DELETED")[n % 3]
        dynamodb.put_item(
            TableName=table, Item={"pk": {"S": f"VIDEO#{video_id}"}, "sk": {"S": "SUMMARY"}, "status": {"S": status}}
        )
    stingy = StingyDynamoDB(dynamodb)
    naps: list[float] = []
    # When their statuses are read through a table that leaves keys unprocessed
    statuses = summary_statuses(stingy, table, ids + ids[:5], sleep=naps.append)
    # Then every summary is found, no call names more than 100 keys (or one twice), and the retries backed off
    assert statuses == {video_id: ("SUCCEEDED", "QUEUED", "DELETED")[n % 3] for n, video_id in enumerate(ids[:230])}
    assert max(stingy.requested) == 100 and sum(stingy.requested) > 250
    assert len(naps) == 3 and naps == sorted(naps)


# --- the local stack -----------------------------------------------------------------------------
@pytest.fixture
def local_stack() -> Iterator[Target]:
    """A moto server standing in for the local endpoint, with the media bucket, the table and a start function."""
    with moto_server_target({**OUTPUTS, "MediaBucketName": "local-media"}) as target:
        target.client("s3").create_bucket(Bucket="local-media")
        target.client("dynamodb").create_table(**create_table_request(OUTPUTS["VideosTableName"]))
        environment = start_environment(
            VIDEO_SUFFIXES=json.dumps(["mp4"]), KEY_PREFIX="incoming/", JOB_LIMIT="20", MAX_VIDEO_MINUTES="0"
        )
        register_start_function(target, environment)
        yield target


def test_the_local_stack_backfills_only_its_suffixes_and_prefix(local_stack: Target, clips: dict[str, Clip]) -> None:
    # Given a local stack moderating .mp4 under incoming/, and objects inside and outside those rules
    s3 = local_stack.client("s3")
    for key in ("incoming/a.mp4", "incoming/deeper/B.MP4", "incoming/c.mov", "outside/d.mp4"):
        s3.put_object(Bucket="local-media", Key=key, Body=clips["last-1s.mp4"].data)
    # When the dry run runs without a prefix, and with a shorter one
    plan = dry_run_json(local_stack)
    shorter = dry_run_json(local_stack, "s3://local-media/in")
    # Then only the stack's .mp4 under incoming/ count, read over HTTP from the local endpoint
    assert plan["selection"]["prefix"] == shorter["selection"]["prefix"] == "incoming/"
    assert (plan["candidates"], plan["to_moderate"], plan["ranged_gets"]) == (2, 2, 2)
    assert plan["video_minutes"] * 60 == pytest.approx(2 * clips["last-1s.mp4"].seconds, abs=2 / FPS)


class CannedBody:
    """A raw HTTP body for botocore's AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self.body


def test_the_local_stack_s3control_requests_keep_the_endpoint_host(local_stack: Target) -> None:
    # Given the local endpoint answering ListJobs with no jobs (captured before it is sent)
    sent: list[str] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.url)
        return AWSResponse(request.url, 200, {}, CannedBody(b"<ListJobsResult><Jobs></Jobs></ListJobsResult>"))

    local_stack.client("s3control").meta.events.register("before-send.s3-control", answer)
    # When the newest job's status is asked for
    result = modlake(local_stack, "backfill", "--status")
    # Then the request went to the endpoint's own host, not <account>.<host>, and the answer is read
    assert error_line(result) == "modlake: no modlake backfill job yet: see what one would cost with `modlake backfill`"
    assert [urllib.parse.urlsplit(url).netloc for url in sent] == [
        urllib.parse.urlsplit(local_stack.endpoint_url or "").netloc
    ]


def test_the_stacks_published_rules_and_duration_policy_shape_the_estimate(
    backfill_target: Target, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack whose ModerationRules output sets a 2.4-second max_video_minutes policy (and its suffixes)
    rules = {"video_suffixes": ["mp4", "mov", "m4v"], "key_prefix": "", "max_video_minutes": 0.04}
    monkeypatch.setitem(backfill_target.outputs, "ModerationRules", json.dumps(rules))
    # When the dry run reads the library
    plan = dry_run_json(backfill_target, *SELECTION)
    # Then the 3-second clips and the 7-hour one count as skipped by the policy, and only the rest as minutes
    assert plan["over_6_hours"] == 3 and plan["max_video_minutes"] == pytest.approx(0.04)
    assert plan["video_minutes"] * 60 == pytest.approx(2.0 + 1.0 + 1.5 + 1.0 + 1.5, abs=0.01)
    # And a stack publishing only mp4 leaves the MOV and m4v out of the candidates
    monkeypatch.setitem(
        backfill_target.outputs,
        "ModerationRules",
        json.dumps(rules | {"video_suffixes": ["mp4"], "max_video_minutes": 0}),
    )
    assert dry_run_json(backfill_target, *SELECTION)["candidates"] == 15 - 3

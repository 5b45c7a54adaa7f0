"""`modlake upload`: keys, prefixes, multipart transfers, version ids and the stack's own upload rules."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.target import Target
from cli.upload import DEFAULT_VIDEO_SUFFIXES, UploadRules, object_key, upload_rules, upload_videos
from tests.cli.conftest import MEDIA_BUCKET, modlake, moto_server_target, mp4_bytes

MiB = 1024**2


def stored(target: Target, key: str) -> dict[str, object]:
    """HeadObject of the newest version of a key in the media bucket."""
    head: dict[str, object] = target.client("s3").head_object(Bucket=MEDIA_BUCKET, Key=key)
    return head


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", "clip.mp4"),
        ("uploads", "uploads/clip.mp4"),
        ("uploads/", "uploads/clip.mp4"),
        ("/team a//", "team a/clip.mp4"),
        ("a/b", "a/b/clip.mp4"),
        ("/", "clip.mp4"),
    ],
)
def test_prefix_is_joined_with_exactly_one_slash(prefix: str, expected: str) -> None:
    # When a prefix and a file name are joined
    # Then exactly one "/" separates them
    assert object_key(prefix, "clip.mp4") == expected


def test_upload_keeps_spaces_and_unicode_and_prints_the_version(target: Target, tmp_path: Path) -> None:
    # Given a video whose name has spaces and non-ASCII letters
    clip = tmp_path / "Überwachung Kamera 1 – 東京.MP4"
    clip.write_bytes(mp4_bytes(2048))
    # When it is uploaded under a prefix
    result = modlake(target, "upload", str(clip), "--prefix", "teams/t&s")
    # Then the key is the prefix plus the exact file name, and stdout shows its URI and version
    assert result.exit_code == 0, result.output
    key = "teams/t&s/Überwachung Kamera 1 – 東京.MP4"
    head = stored(target, key)
    assert head["ContentLength"] == 2048
    assert f"s3://{MEDIA_BUCKET}/{key}" in result.stdout
    assert str(head["VersionId"]) in result.stdout


def test_several_files_each_become_an_object(target: Target, tmp_path: Path) -> None:
    # Given two videos
    paths = []
    for name in ("a.mov", "b.m4v"):
        path = tmp_path / name
        path.write_bytes(mp4_bytes(100))
        paths.append(path)
    # When they are uploaded in one command
    uploaded = upload_videos(target, paths, ["in/a.mov", "in/b.m4v"])
    # Then each has its key, size and version id
    assert [(u.key, u.size) for u in uploaded] == [("in/a.mov", 100), ("in/b.m4v", 100)]
    assert all(u.version_id for u in uploaded)
    assert uploaded[0].version_id == stored(target, "in/a.mov")["VersionId"]


def test_large_files_go_up_in_parts(target: Target, tmp_path: Path) -> None:
    # Given a 6 MiB video (S3 parts are at least 5 MiB, so this makes two parts)
    clip = tmp_path / "big.mp4"
    clip.write_bytes(mp4_bytes(6 * MiB))
    # When it is uploaded with the threshold below its size, and again with the default 8 MiB threshold
    upload_videos(target, [clip], ["parts.mp4"], multipart_threshold=1 * MiB)
    upload_videos(target, [clip], ["whole.mp4"])
    # Then the first is a two-part multipart object (its ETag says so) and the second a single PUT
    assert str(stored(target, "parts.mp4")["ETag"]).strip('"').endswith("-2")
    assert "-" not in str(stored(target, "whole.mp4")["ETag"])
    assert stored(target, "parts.mp4")["ContentLength"] == 6 * MiB


def test_unversioned_bucket_prints_no_version(target: Target, tmp_path: Path) -> None:
    # Given a media bucket without versioning
    s3 = target.client("s3")
    s3.create_bucket(Bucket="plain-media")
    plain = Target(target.stack_name, target.region, {**target.outputs, "MediaBucketName": "plain-media"})
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4_bytes())
    # When a video is uploaded
    (uploaded,) = upload_videos(plain, [clip], ["clip.mp4"])
    # Then it has no version id
    assert uploaded.version_id is None


def test_a_deployed_stack_uses_rekognitions_formats(target: Target) -> None:
    # Given a deployed stack (its start function's environment is not visible)
    # When its upload rules are read
    # Then they are the defaults, without a Lambda call
    assert upload_rules(target) == UploadRules()
    assert DEFAULT_VIDEO_SUFFIXES == ("mp4", "mov", "m4v")


@pytest.fixture
def local_target() -> Iterator[Target]:
    """A Target on a moto server standing in for the local endpoint, with the start function registered."""
    with moto_server_target({"MediaBucketName": "local-media"}) as target:
        target.client("s3").create_bucket(Bucket="local-media")
        yield target


def register_start_function(target: Target, environment: dict[str, str]) -> None:
    """Create a Lambda function with the given environment (moto creates, never runs it)."""
    role = target.client("iam").create_role(RoleName="start", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    target.client("lambda").create_function(
        FunctionName="modlake-local-start",
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": environment},
    )


def start_environment(**overrides: str) -> dict[str, str]:
    """A start function's environment, as the stack sets it."""
    return {
        "VIDEOS_TABLE": "videos",
        "MEDIA_BUCKET": "local-media",
        "ANALYTICS_BUCKET": "analytics",
        "START_QUEUE_URL": "http://queue",
        "REKOGNITION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "REKOGNITION_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
        "MIN_CONFIDENCE": "50",
        "VIDEO_SUFFIXES": json.dumps(["mp4"]),
        "KEY_PREFIX": "incoming/",
        "JOB_LIMIT": "20",
        "MAX_VIDEO_MINUTES": "0",
        **overrides,
    }


def test_the_local_stack_rules_come_from_the_start_function(local_target: Target, tmp_path: Path) -> None:
    # Given a local stack whose start function takes only .mp4 under incoming/
    register_start_function(local_target, start_environment())
    assert upload_rules(local_target) == UploadRules(("mp4",), "incoming/", from_stack=True)
    mov = tmp_path / "clip.mov"
    mov.write_bytes(mp4_bytes())
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes(mp4_bytes())
    # When a .mov, an .mp4 outside the prefix, and an .mp4 with the default prefix are uploaded
    refused_suffix = modlake(local_target, "upload", str(mov))
    refused_prefix = modlake(local_target, "upload", str(mp4), "--prefix", "elsewhere")
    accepted = modlake(local_target, "upload", str(mp4))
    # Then the first two are refused and the last lands under the stack's prefix (path-style, local credentials)
    assert refused_suffix.exit_code == 1
    assert "its suffix is not one of mp4" in refused_suffix.stderr
    assert refused_prefix.exit_code == 1
    assert "outside the prefix 'incoming/'" in refused_prefix.stderr
    assert accepted.exit_code == 0, accepted.output
    keys = [o["Key"] for o in local_target.client("s3").list_objects_v2(Bucket="local-media")["Contents"]]
    assert keys == ["incoming/clip.mp4"]


def test_the_local_stack_without_registered_functions_uses_the_defaults(local_target: Target) -> None:
    # Given a local stack whose functions are not registered with the Lambda API
    # When its upload rules are read
    # Then they fall back to the defaults
    assert upload_rules(local_target) == UploadRules()

"""`modlake upload`: check that files are videos the stack moderates, then put them in the media bucket."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from cli.errors import CliError
from cli.output import file_size, plain
from cli.target import Target
from functions.common.containers import SNIFF_BYTES, looks_like_mp4_or_mov
from functions.common.settings import SettingsError, StartSettings

DEFAULT_VIDEO_SUFFIXES = ("mp4", "mov", "m4v")  # what Rekognition takes; a deployed stack's own list is not visible
MULTIPART_THRESHOLD = 8 * 1024**2  # larger files go up in parts (parallel, and resumable by S3)


@dataclass(frozen=True)
class UploadRules:
    """Which keys the stack moderates: file suffixes and key prefix (from the start function when visible)."""

    video_suffixes: tuple[str, ...] = DEFAULT_VIDEO_SUFFIXES
    key_prefix: str = ""
    from_stack: bool = False
    max_video_minutes: float = 0.0  # the stack's duration policy (0: none beyond Rekognition's 6 hours)


@dataclass(frozen=True)
class UploadedVideo:
    """One file put in the media bucket: where it went and which object version it became."""

    path: Path
    bucket: str
    key: str
    size: int
    version_id: str | None

    @property
    def s3_uri(self) -> str:
        """Where the object is, as people paste it."""
        return f"s3://{self.bucket}/{self.key}"


def upload_rules(target: Target) -> UploadRules:
    """The stack's suffixes, key prefix and duration policy: its ModerationRules output, else (older stacks) the
    local start function's environment, else Rekognition's formats."""
    published = target.outputs.get("ModerationRules")
    if published:
        try:
            rules = json.loads(published)
            return UploadRules(
                tuple(str(s) for s in rules["video_suffixes"]),
                str(rules["key_prefix"]),
                from_stack=True,
                max_video_minutes=float(rules.get("max_video_minutes", 0)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise CliError(f"the stack's ModerationRules output is not readable ({error}): redeploy it") from None
    if not target.is_local:
        return UploadRules()
    media_bucket = target.outputs.get("MediaBucketName")
    try:
        for page in target.client("lambda").get_paginator("list_functions").paginate():
            for function in page.get("Functions", []):
                environment = function.get("Environment", {}).get("Variables", {})
                if "VIDEO_SUFFIXES" in environment and environment.get("MEDIA_BUCKET") == media_bucket:
                    settings = StartSettings.from_env(environment)
                    return UploadRules(
                        settings.video_suffixes,
                        settings.key_prefix,
                        from_stack=True,
                        max_video_minutes=settings.max_video_minutes,
                    )
    except (ClientError, BotoCoreError, SettingsError):
        pass  # the local stack may not register its functions with the Lambda API: fall back to the defaults
    return UploadRules()


def check_video_files(paths: Sequence[Path]) -> list[Path]:
    """Every path is an existing file that starts like an MP4/MOV (ISO-BMFF box header), else a one-line error."""
    files = []
    for path in paths:
        if not path.exists():
            raise CliError(f"no such file: {path}")
        if path.is_dir():
            raise CliError(f"{path} is a directory: upload takes video files")
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
        if not looks_like_mp4_or_mov(head):
            raise CliError(f"{path} is not a video: it does not start like an MP4 or MOV file (no ISO-BMFF box)")
        files.append(path)
    return files


def object_key(prefix: str, name: str) -> str:
    """prefix + name, joined by exactly one '/' (a prefix of only slashes is no prefix)."""
    folder = prefix.strip("/")
    return f"{folder}/{name}" if folder else name


def planned_keys(files: Sequence[Path], prefix: str, rules: UploadRules) -> list[str]:
    """The object key of each file; refuses suffixes and prefixes the stack would skip, before any upload."""
    suffixes = tuple(f".{suffix.lower()}" for suffix in rules.video_suffixes)
    keys = []
    for path in files:
        if not path.name.lower().endswith(suffixes):
            raise CliError(f"{path} is not a video: its suffix is not one of {', '.join(rules.video_suffixes)}")
        key = object_key(prefix, path.name)
        if rules.key_prefix and not key.startswith(rules.key_prefix):
            raise CliError(
                f"{path} would be stored as {key!r}, outside the prefix {rules.key_prefix!r} the stack moderates: "
                f"pass --prefix {rules.key_prefix}"
            )
        keys.append(key)
    return keys


def upload_videos(
    target: Target,
    files: Sequence[Path],
    keys: Sequence[str],
    *,
    progress_console: Console | None = None,
    multipart_threshold: int = MULTIPART_THRESHOLD,
) -> list[UploadedVideo]:
    """Upload each file to its key with boto3's managed transfer (multipart above the threshold)."""
    s3 = target.client("s3")
    bucket = target.output("MediaBucketName")
    transfer = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold)
    uploaded = []
    with _progress(progress_console) as progress:
        for path, key in zip(files, keys, strict=True):
            size = path.stat().st_size
            task = progress.add_task(path.name, total=size)
            s3.upload_file(
                str(path),
                bucket,
                key,
                Config=transfer,
                Callback=lambda sent, task=task: progress.advance(task, sent),
            )
            head: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key)
            version = head.get("VersionId")
            uploaded.append(UploadedVideo(path, bucket, key, size, None if version in (None, "null") else version))
    return uploaded


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=console is None,
    )


def render_uploads(uploaded: Sequence[UploadedVideo], console: Console) -> None:
    """One row per uploaded object: its S3 URI, size and version id."""
    table = Table("uploaded", "size", "version", box=None, pad_edge=False)
    for video in uploaded:
        table.add_row(plain(video.s3_uri), file_size(video.size), plain(video.version_id))
    console.print(table)

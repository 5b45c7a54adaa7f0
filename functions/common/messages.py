"""Parsing of every message modlake's queues carry, and the messages modlake sends itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.common.errors import MalformedMessage, UnexpectedBucket
from functions.common.models import JobNotification, VideoRef, object_version, parse_time

RETRY_START = "modlake.retry_start"
CONTINUE_COLLECT = "modlake.continue_collect"
FILL_SLOTS = "modlake.fill_slots"


@dataclass(frozen=True)
class ObjectCreated:
    """S3 "Object Created" (PutObject, CopyObject, CompleteMultipartUpload, …)."""

    video: VideoRef
    reason: str | None


@dataclass(frozen=True)
class ObjectDeleted:
    """S3 "Object Deleted": a delete marker or a permanently deleted version."""

    bucket: str
    key: str
    version_id: str | None
    deletion_type: str | None
    time: datetime


@dataclass(frozen=True)
class RetryStart:
    """A waiting video's next try. `kicked` tries come from a finished job freeing a slot."""

    video: VideoRef
    attempt: int
    kicked: bool = False


@dataclass(frozen=True)
class FillSlots:
    """The scheduler's tick: give free Rekognition slots to waiting videos, uploads first."""


@dataclass(frozen=True)
class ContinueCollect:
    """Resume collecting a long job from its checkpoint."""

    job_id: str
    video_id: str


StartMessage = ObjectCreated | ObjectDeleted | RetryStart | FillSlots
CollectMessage = JobNotification | ContinueCollect


def _load(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as error:
        raise MalformedMessage(f"body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    return data


def parse_start_message(body: str, media_bucket: str) -> StartMessage:
    """An S3 EventBridge event (raw key, never URL-decoded) or one of modlake's retry messages."""
    data = _load(body)
    if data.get("kind") == FILL_SLOTS:
        return FillSlots()
    if data.get("kind") == RETRY_START:
        try:
            return RetryStart(VideoRef.from_message(data["video"]), int(data["attempt"]), bool(data.get("kicked")))
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedMessage(f"retry message is incomplete: {error}") from error
    detail_type = data.get("detail-type")
    if data.get("source") != "aws.s3" or detail_type not in ("Object Created", "Object Deleted"):
        raise MalformedMessage(f"not an S3 object event (source={data.get('source')!r}, detail-type={detail_type!r})")
    try:
        detail = data["detail"]
        bucket = detail["bucket"]["name"]
        obj = detail["object"]
        key = obj["key"]  # EventBridge delivers the key raw: decoding it would corrupt '+' and '%'
        time = parse_time(data["time"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedMessage(f"S3 event lacks {error}") from error
    if not isinstance(key, str) or not key:
        raise MalformedMessage("S3 event has an empty object key")
    if bucket != media_bucket:
        raise UnexpectedBucket(f"event for bucket {bucket!r}; this stack watches {media_bucket!r}")
    version_id = object_version(obj.get("version-id"))
    if detail_type == "Object Deleted":
        return ObjectDeleted(bucket, key, version_id, detail.get("deletion-type"), time)
    etag = obj.get("etag")
    size = obj.get("size")
    video = VideoRef(
        bucket=bucket,
        key=key,
        version_id=version_id,
        etag=str(etag).strip('"') if etag else None,
        size=int(size) if size is not None else None,
        uploaded_at=time,
    )
    if not (video.version_id or video.etag):
        raise MalformedMessage(f"S3 event for {video.s3_uri} has neither version-id nor etag")
    return ObjectCreated(video, detail.get("reason"))


def retry_start_message(video: VideoRef, attempt: int, *, kicked: bool = False) -> dict[str, Any]:
    return {"kind": RETRY_START, "video": video.to_message(), "attempt": attempt, "kicked": kicked}


def fill_slots_message() -> dict[str, str]:
    """The tick's message (the schedule rule sends exactly this JSON to the start queue)."""
    return {"kind": FILL_SLOTS}


def continue_collect_message(job_id: str, video_id: str) -> dict[str, Any]:
    return {"kind": CONTINUE_COLLECT, "job_id": job_id, "video_id": video_id}


def completion_message(note: JobNotification) -> dict[str, Any]:
    """Rekognition's own completion payload for a notification, to re-send it later (delayed)."""
    return {
        "JobId": note.job_id,
        "Status": note.status,
        "API": note.api,
        "JobTag": note.job_tag,
        "Timestamp": int(note.timestamp.timestamp() * 1000),
        "Video": {"S3Bucket": note.bucket, "S3ObjectName": note.key},
    }


def parse_collect_message(body: str) -> CollectMessage:
    """Rekognition's completion message inside its SNS envelope, or a continuation of a long job."""
    data = _load(body)
    if data.get("kind") == CONTINUE_COLLECT:
        if not data.get("job_id") or not data.get("video_id"):
            raise MalformedMessage("continuation message needs job_id and video_id")
        return ContinueCollect(str(data["job_id"]), str(data["video_id"]))
    if data.get("Type") == "Notification" and "Message" in data:
        data = _load(data["Message"])  # SNS envelope (raw message delivery off)
    try:
        video = data.get("Video") or {}
        return JobNotification(
            job_id=str(data["JobId"]),
            status=str(data["Status"]),
            api=str(data.get("API", "")),
            job_tag=data.get("JobTag") or None,
            timestamp=parse_time(data["Timestamp"]),
            bucket=video.get("S3Bucket"),
            key=video.get("S3ObjectName"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MalformedMessage(f"not a Rekognition completion message: missing or bad {error}") from error

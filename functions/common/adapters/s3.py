"""S3 adapters: the media bucket (read, and the quarantine's moderation tag) and the analytics lake bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from functions.common.adapters.clients import error_code
from functions.common.models import MAX_OBJECT_TAGS, ObjectInfo, TagWrite, VideoRef

_NOT_FOUND = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}
_PAST_THE_END = {"InvalidRange", "416"}  # a Range starting at or past the object's end (HTTP 416)


def _version_args(video: VideoRef) -> dict[str, str]:
    return {"VersionId": video.version_id} if video.version_id else {}


class S3MediaObjects:
    """Reads the exact object version an event named."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def head(self, video: VideoRef) -> ObjectInfo | None:
        try:
            response = self.s3.head_object(Bucket=video.bucket, Key=video.key, **_version_args(video))
        except ClientError as error:
            if error_code(error) in _NOT_FOUND:
                return None
            raise
        return ObjectInfo(
            size=int(response["ContentLength"]),
            etag=str(response.get("ETag", "")).strip('"'),
            version_id=response.get("VersionId"),
        )

    def read_start(self, video: VideoRef, length: int) -> bytes:
        response = self.s3.get_object(
            Bucket=video.bucket, Key=video.key, Range=f"bytes=0-{length - 1}", **_version_args(video)
        )
        return bytes(response["Body"].read())

    def read_range(self, video: VideoRef, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            response = self.s3.get_object(
                Bucket=video.bucket,
                Key=video.key,
                Range=f"bytes={offset}-{offset + length - 1}",
                **_version_args(video),
            )
        except ClientError as error:
            if error_code(error) in _PAST_THE_END:
                return b""
            raise
        return bytes(response["Body"].read())

    def put_tag(self, video: VideoRef, key: str, value: str) -> TagWrite:
        """GetObjectTagging then PutObjectTagging of the exact version, the other tags kept (S3 replaces the whole
        set). Another writer's change between the two calls can be lost: S3 has no conditional tagging."""
        try:
            current = self.s3.get_object_tagging(Bucket=video.bucket, Key=video.key, **_version_args(video))["TagSet"]
            if {"Key": key, "Value": value} in current:
                return TagWrite.UNCHANGED
            others = [tag for tag in current if tag["Key"] != key]
            if len(others) >= MAX_OBJECT_TAGS:
                return TagWrite.NO_ROOM
            self.s3.put_object_tagging(
                Bucket=video.bucket,
                Key=video.key,
                Tagging={"TagSet": [*others, {"Key": key, "Value": value}]},
                **_version_args(video),
            )
        except ClientError as error:
            if error_code(error) in _NOT_FOUND:
                return TagWrite.MISSING
            raise
        return TagWrite.WRITTEN


class S3LakeObjects:
    """Writes and reads analytics objects in one bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = keys[start : start + 1000]
            response = self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
            if response.get("Errors"):
                raise RuntimeError(f"could not delete staged objects: {response['Errors'][:3]}")

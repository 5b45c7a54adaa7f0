"""How people see a video wherever modlake shows one: positions in it as mm:ss and its page in the S3 console."""

from __future__ import annotations

from urllib.parse import quote


def video_time(timestamp_ms: int) -> str:
    """A position in a video: mm:ss, or h:mm:ss from the first hour on."""
    seconds = max(timestamp_ms, 0) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def s3_console_url(region: str, bucket: str, key: str, version_id: str | None = None) -> str:
    """The object's (version's) page in the S3 console."""
    url = (
        f"https://{region}.console.aws.amazon.com/s3/object/{quote(bucket, safe='')}"
        f"?region={region}&bucketType=general&prefix={quote(key, safe='')}"
    )
    return url + (f"&versionId={quote(version_id, safe='')}" if version_id else "")

"""Quarantine: each object version's moderation outcome as the S3 object tag `modlake:moderation` on that version.

With quarantine `tag` (or `deny`, whose bucket policy denies reads of versions tagged flagged) every outcome is
written on the exact version the pipeline moderated, merged with the object's other tags; a replay writes the same
tag, so it changes nothing. A tag that cannot be written (no room among S3's 10 tags, or the version deleted
meanwhile) is logged, never raised: the outcome itself is already recorded in DynamoDB and the lake.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger

from functions.common.models import MAX_OBJECT_TAGS, QuarantineMode, TagWrite, VideoRef, VideoStatus, VideoSummary
from functions.common.ports import MediaTags

__all__ = [
    "MAX_OBJECT_TAGS",
    "MODERATION_TAG_KEY",
    "ModerationOutcome",
    "QuarantineMode",
    "TagWrite",
    "moderation_tag",
    "outcome_of",
    "tag_outcome",
]

logger = Logger(child=True)

MODERATION_TAG_KEY = "modlake:moderation"


class ModerationOutcome(StrEnum):
    """The values of the `modlake:moderation` tag."""

    FLAGGED = "flagged"
    CLEAN = "clean"
    FAILED = "failed"
    SKIPPED = "skipped"


def moderation_tag(outcome: ModerationOutcome | str) -> str:
    """The `modlake:moderation` value of an outcome (a verdict that overturns a flag writes "clean")."""
    return ModerationOutcome(outcome).value


def outcome_of(status: VideoStatus, summary: VideoSummary | None = None) -> ModerationOutcome:
    """A settled video's outcome: SUCCEEDED is flagged or clean by its summary; FAILED and SKIPPED are themselves."""
    if status is VideoStatus.SUCCEEDED:
        return ModerationOutcome.FLAGGED if summary is not None and summary.flagged else ModerationOutcome.CLEAN
    if status is VideoStatus.FAILED:
        return ModerationOutcome.FAILED
    if status is VideoStatus.SKIPPED:
        return ModerationOutcome.SKIPPED
    raise ValueError(f"a video in status {status} has no moderation outcome yet")


def tag_outcome(
    tags: MediaTags | None, video: VideoRef, outcome: ModerationOutcome, mode: QuarantineMode
) -> TagWrite | None:
    """Write the outcome's tag on the video's exact version when quarantine is on; None when it is off."""
    if not mode.tags:
        return None
    if tags is None:
        raise ValueError(f"quarantine is {mode} but no media tagging adapter was given")
    value = moderation_tag(outcome)
    written = tags.put_tag(video, MODERATION_TAG_KEY, value)
    fields: dict[str, Any] = {
        "video_id": video.video_id,
        "key": video.key,
        "version_id": video.version_id,
        "outcome": value,
    }
    if written is TagWrite.NO_ROOM:
        logger.warning(
            "moderation tag not written: the object version has 10 other tags", **fields, tag=MODERATION_TAG_KEY
        )
    elif written is TagWrite.MISSING:
        logger.warning("moderation tag not written: the object version no longer exists", **fields)
    else:
        logger.info("moderation tag", **fields, write=str(written))
    return written

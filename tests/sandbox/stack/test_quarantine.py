"""Quarantine `tag` end to end on the local stack: a flagged clip, a clean clip and an .mp4 that is text each get their
outcome as the `modlake:moderation` tag on exactly the version that was moderated (read back with GetObjectTagging
and its VersionId), other tags kept; a backfill of the skipped object writes its lost tag again; every call the
functions made is allowed by their policies, and the run feeds the grant ledger."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from functions.common.quarantine import MODERATION_TAG_KEY
from sandbox.clips import Scene, write_clip
from sandbox.rekognition.classifier import CLEAN, NUDITY
from sandbox.stack.local_stack import LocalStack, SandboxSettings
from tests.sandbox.stack.pipeline import GrantLedger, calls_by_principal, denied_calls

pytestmark = pytest.mark.slow

FLAGGED, CLEAN_CLIP, NOT_A_VIDEO = "uploads/flagged.mp4", "uploads/clean.mp4", "uploads/notes.mp4"


@dataclass
class Run:
    stack: LocalStack
    bucket: str
    versions: dict[str, list[str]]  # key → its version ids, oldest first
    backfill: Any  # the Invocation of queue_backfill on the skipped object

    def tags(self, key: str, version: str) -> dict[str, str]:
        tag_set = self.stack.client("s3").get_object_tagging(Bucket=self.bucket, Key=key, VersionId=version)["TagSet"]
        return {tag["Key"]: tag["Value"] for tag in tag_set}


def _batch_task(bucket: str, key: str, version: str) -> dict[str, Any]:
    """An S3 Batch Operations (schema 2.0) invocation of one task: what a backfill job sends queue_backfill."""
    return {
        "invocationSchemaVersion": "2.0",
        "invocationId": "quarantine-backfill",
        "job": {"id": "quarantine-job", "userArguments": {}},
        "tasks": [{"taskId": "task-1", "s3Key": key.replace("/", "%2F"), "s3VersionId": version, "s3Bucket": bucket}],
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, grant_ledger: GrantLedger) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("quarantine")
    write_clip(work / "flagged.mp4", [Scene(1, CLEAN), Scene(1, NUDITY)])
    write_clip(work / "clean.mp4", [Scene(1, CLEAN)])
    settings = SandboxSettings(
        work_dir=work / "stack", check_responses=True, record_calls=True, context={"quarantine": "tag"}
    )
    with LocalStack(settings) as stack:
        s3, bucket = stack.client("s3"), stack.outputs["MediaBucketName"]
        # Given a flagged clip uploaded with its owner's tag and then replaced by the clean clip (two versions of
        # one key), the clean clip under its own key, and an .mp4 that is text
        versions = {
            FLAGGED: [
                s3.put_object(
                    Bucket=bucket, Key=FLAGGED, Body=(work / "flagged.mp4").read_bytes(), Tagging="team=news"
                )["VersionId"]
            ],
            CLEAN_CLIP: [
                s3.put_object(Bucket=bucket, Key=CLEAN_CLIP, Body=(work / "clean.mp4").read_bytes())["VersionId"]
            ],
            NOT_A_VIDEO: [s3.put_object(Bucket=bucket, Key=NOT_A_VIDEO, Body=b"meeting notes")["VersionId"]],
        }
        # When the pipeline has moderated them
        assert stack.settle(timeout=120), stack.queue_depths()
        versions[FLAGGED].append(
            s3.put_object(Bucket=bucket, Key=FLAGGED, Body=(work / "clean.mp4").read_bytes())["VersionId"]
        )
        assert stack.settle(timeout=120), stack.queue_depths()
        # And the skipped object's tag is removed, then a backfill names that version
        skipped = versions[NOT_A_VIDEO][0]
        s3.delete_object_tagging(Bucket=bucket, Key=NOT_A_VIDEO, VersionId=skipped)
        assert stack.deployment is not None
        backfill = stack.invoke(
            stack.deployment.function_named("queue_backfill").name, _batch_task(bucket, NOT_A_VIDEO, skipped)
        )
        yield Run(stack, bucket, versions, backfill)
        grant_ledger.record("quarantine", stack)


def test_the_flagged_version_is_tagged_flagged_next_to_its_owners_tag(run: Run) -> None:
    first, _ = run.versions[FLAGGED]
    assert run.tags(FLAGGED, first) == {"team": "news", MODERATION_TAG_KEY: "flagged"}


def test_a_later_clean_version_of_the_same_key_is_tagged_clean_and_the_flagged_one_stays_flagged(run: Run) -> None:
    first, second = run.versions[FLAGGED]
    assert run.tags(FLAGGED, second) == {MODERATION_TAG_KEY: "clean"}
    assert run.tags(FLAGGED, first)[MODERATION_TAG_KEY] == "flagged"


def test_the_clean_clip_is_tagged_clean(run: Run) -> None:
    (version,) = run.versions[CLEAN_CLIP]
    assert run.tags(CLEAN_CLIP, version) == {MODERATION_TAG_KEY: "clean"}


def test_the_object_that_is_not_a_video_is_tagged_skipped_again_by_the_backfill(run: Run) -> None:
    # Then the backfill answers that the object was skipped, and its version carries the skipped tag again
    assert not run.backfill.failed, run.backfill.error
    (task,) = run.backfill.result["results"]
    assert task["resultCode"] == "PermanentFailure"
    (version,) = run.versions[NOT_A_VIDEO]
    assert run.tags(NOT_A_VIDEO, version) == {MODERATION_TAG_KEY: "skipped"}


def test_every_tagging_call_names_its_version_and_is_allowed_by_the_template(run: Run) -> None:
    calls = calls_by_principal(run.stack)
    tagging = [c for made in calls.values() for c in made if c.operation in ("GetObjectTagging", "PutObjectTagging")]
    assert {c.operation for c in tagging} == {"GetObjectTagging", "PutObjectTagging"}
    assert all(c.params.get("VersionId") for c in tagging)
    assert [str(denial) for denial in denied_calls(run.stack, calls)] == []

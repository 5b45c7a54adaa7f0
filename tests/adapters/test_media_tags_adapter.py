"""S3MediaObjects.put_tag against moto: the exact version, the other tags kept, a replay writing nothing, S3's
10-tag limit and a missing version or key answered (never raised), other errors raised."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from functions.common.adapters.s3 import S3MediaObjects
from functions.common.models import VideoRef
from functions.common.quarantine import MODERATION_TAG_KEY, TagWrite
from tests.helpers import MEDIA_BUCKET

KEY = "raw/a+b 100%25 Überwachung.mp4"


@pytest.fixture
def s3() -> Iterator[Any]:
    """A versioned media bucket on moto."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=MEDIA_BUCKET)
        client.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _tags(s3: Any, version: str) -> dict[str, str]:
    tag_set = s3.get_object_tagging(Bucket=MEDIA_BUCKET, Key=KEY, VersionId=version)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def test_the_tag_lands_on_the_exact_version_next_to_its_other_tags(s3: Any) -> None:
    # Given two versions of a key with awkward characters, the first with its owner's tags
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"first", Tagging="team=sports&retention=1y")["VersionId"]
    v2 = s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"second", Tagging="team=news")["VersionId"]
    media = S3MediaObjects(s3)
    # When the first version is tagged flagged
    written = media.put_tag(VideoRef(MEDIA_BUCKET, KEY, v1, None), MODERATION_TAG_KEY, "flagged")
    # Then that version has the tag and its own tags, and the latest version is untouched
    assert written is TagWrite.WRITTEN
    assert _tags(s3, v1) == {"team": "sports", "retention": "1y", MODERATION_TAG_KEY: "flagged"}
    assert _tags(s3, v2) == {"team": "news"}


def test_a_replay_writes_nothing_and_a_changed_outcome_replaces_the_value(s3: Any) -> None:
    # Given a version tagged flagged
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"clip", Tagging="team=sports")["VersionId"]
    media = S3MediaObjects(s3)
    video = VideoRef(MEDIA_BUCKET, KEY, v1, None)
    media.put_tag(video, MODERATION_TAG_KEY, "flagged")
    # When the same tag is written again, then no PutObjectTagging is sent (a stubbed S3 would refuse it)
    with Stubber(s3) as stub:
        stub.add_response(
            "get_object_tagging",
            {"TagSet": [{"Key": "team", "Value": "sports"}, {"Key": MODERATION_TAG_KEY, "Value": "flagged"}]},
            {"Bucket": MEDIA_BUCKET, "Key": KEY, "VersionId": v1},
        )
        assert media.put_tag(video, MODERATION_TAG_KEY, "flagged") is TagWrite.UNCHANGED
        stub.assert_no_pending_responses()
    # And an overturned verdict's "clean" replaces the value, keeping one moderation tag
    assert media.put_tag(video, MODERATION_TAG_KEY, "clean") is TagWrite.WRITTEN
    assert _tags(s3, v1) == {"team": "sports", MODERATION_TAG_KEY: "clean"}


def test_ten_other_tags_are_left_alone(s3: Any) -> None:
    # Given a version with S3's maximum of 10 tags
    full = "&".join(f"k{n}=v{n}" for n in range(10))
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"clip", Tagging=full)["VersionId"]
    media = S3MediaObjects(s3)
    # When the moderation tag is written, then nothing is written and the caller is told why
    assert media.put_tag(VideoRef(MEDIA_BUCKET, KEY, v1, None), MODERATION_TAG_KEY, "clean") is TagWrite.NO_ROOM
    assert _tags(s3, v1) == {f"k{n}": f"v{n}" for n in range(10)}


def test_nine_other_tags_leave_room_for_the_moderation_tag(s3: Any) -> None:
    nine = "&".join(f"k{n}=v{n}" for n in range(9))
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"clip", Tagging=nine)["VersionId"]
    media = S3MediaObjects(s3)
    assert media.put_tag(VideoRef(MEDIA_BUCKET, KEY, v1, None), MODERATION_TAG_KEY, "clean") is TagWrite.WRITTEN
    assert len(_tags(s3, v1)) == 10


def test_a_deleted_version_or_key_is_missing_not_an_error(s3: Any) -> None:
    # Given a version that was permanently deleted, and a key that never existed
    v1 = s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"clip")["VersionId"]
    s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"later")
    s3.delete_object(Bucket=MEDIA_BUCKET, Key=KEY, VersionId=v1)
    media = S3MediaObjects(s3)
    # Then writing the tag answers MISSING
    assert media.put_tag(VideoRef(MEDIA_BUCKET, KEY, v1, None), MODERATION_TAG_KEY, "flagged") is TagWrite.MISSING
    assert (
        media.put_tag(VideoRef(MEDIA_BUCKET, "nope.mp4", None, "e"), MODERATION_TAG_KEY, "flagged") is TagWrite.MISSING
    )


def test_an_unversioned_reference_tags_the_current_object(s3: Any) -> None:
    s3.put_object(Bucket=MEDIA_BUCKET, Key=KEY, Body=b"clip")
    media = S3MediaObjects(s3)
    assert media.put_tag(VideoRef(MEDIA_BUCKET, KEY, None, "etag"), MODERATION_TAG_KEY, "skipped") is TagWrite.WRITTEN
    tag_set = s3.get_object_tagging(Bucket=MEDIA_BUCKET, Key=KEY)["TagSet"]
    assert tag_set == [{"Key": MODERATION_TAG_KEY, "Value": "skipped"}]


def test_access_denied_is_raised_so_the_message_is_retried(s3: Any) -> None:
    media = S3MediaObjects(s3)
    with Stubber(s3) as stub:
        stub.add_client_error("get_object_tagging", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError):
            media.put_tag(VideoRef(MEDIA_BUCKET, KEY, "v1", None), MODERATION_TAG_KEY, "flagged")

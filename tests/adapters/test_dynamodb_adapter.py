"""DynamoDB adapter against moto (and a Stubber for UnprocessedItems, which moto never returns)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from functions.common.adapters.dynamodb import DynamoVideoStore, label_chunk_item
from functions.common.errors import WriteIncomplete
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.models import CollectCheckpoint, VideoMetadata, VideoRecord, VideoStatus, VideoSummary
from functions.common.table_design import FLAGGED_BY_DAY, LABELS_PER_ITEM, create_table_request
from tests.helpers import NOW, flagged_run, video

TABLE = "modlake-test-videos"


@pytest.fixture
def store() -> Iterator[DynamoVideoStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(TABLE))
        yield DynamoVideoStore(client, TABLE, sleep=lambda _: None)


def complete_empty(store: DynamoVideoStore, record: VideoRecord) -> bool:
    """Try to settle a video as SUCCEEDED with no results."""
    return store.complete(
        record,
        VideoStatus.SUCCEEDED,
        reason=None,
        summary=None,
        metadata=None,
        model_version=None,
        completed_at=NOW,
        now=NOW,
    )


def classified(count: int) -> tuple[list, VideoSummary]:
    summary = VideoSummary()
    return DetectionClassifier(FlagPolicy()).classify(flagged_run(count), summary), summary


def test_state_changes_are_conditional(store: DynamoVideoStore) -> None:
    # Given a video that starts after waiting once
    clip = video("teams/t&s/Überwachung 1.MOV")
    assert store.mark_queued(clip, 1, "LimitExceededException", NOW)
    assert store.mark_queued(clip, 2, "LimitExceededException", NOW + timedelta(minutes=5))
    assert store.mark_in_progress(clip, "job-1", 50.0, NOW + timedelta(minutes=6))
    # When a late duplicate tries to queue, skip or start it again
    # Then nothing changes
    assert not store.mark_queued(clip, 3, "LimitExceededException", NOW)
    assert not store.mark_not_started(clip, VideoStatus.SKIPPED, "dup", NOW)
    assert not store.mark_in_progress(clip, "job-2", 50.0, NOW)
    record = store.get(clip.video_id)
    assert record.status is VideoStatus.IN_PROGRESS and record.job_id == "job-1" and record.attempts == 2
    assert record.video.key == "teams/t&s/Überwachung 1.MOV" and record.status_reason is None


def test_queued_keeps_first_queued_time_so_oldest_goes_first(store: DynamoVideoStore) -> None:
    old, new = video("old.mp4"), video("new.mp4")
    store.mark_queued(old, 1, "LimitExceededException", NOW)
    store.mark_queued(new, 1, "LimitExceededException", NOW + timedelta(minutes=1))
    store.mark_queued(old, 2, "LimitExceededException", NOW + timedelta(minutes=10))
    waiting = store.oldest_in_status(VideoStatus.QUEUED, 1)
    assert [r.video.key for r in waiting] == ["old.mp4"]
    assert waiting[0].status_since == NOW and waiting[0].attempts == 2


def test_claiming_a_waiting_video_is_exclusive_until_it_lapses(store: DynamoVideoStore) -> None:
    clip = video()
    assert not store.claim_waiting(clip.video_id, NOW, 60)  # nothing to claim yet
    store.mark_queued(clip, 1, "LimitExceededException", NOW)
    assert store.claim_waiting(clip.video_id, NOW, 60)
    assert not store.claim_waiting(clip.video_id, NOW + timedelta(seconds=30), 60)
    assert store.claim_waiting(clip.video_id, NOW + timedelta(seconds=61), 60)
    store.mark_in_progress(clip, "job-1", 50.0, NOW + timedelta(seconds=62))
    assert not store.claim_waiting(clip.video_id, NOW + timedelta(hours=1), 60)  # started: no longer waiting


def test_lookup_by_job_and_by_object(store: DynamoVideoStore) -> None:
    v1 = video("a.mp4", version="v1", uploaded_at=NOW)
    v2 = video("a.mp4", version="v2", uploaded_at=NOW + timedelta(hours=1))
    store.mark_in_progress(v1, "job-1", 50.0, NOW)
    store.mark_in_progress(v2, "job-2", 50.0, NOW)
    assert store.find_by_job("job-2").video.version_id == "v2"
    assert store.find_by_job("job-3") is None
    assert [r.video.version_id for r in store.find_by_object(v1.bucket, "a.mp4")] == ["v2", "v1"]


def test_labels_in_time_order_with_numbers_as_numbers(store: DynamoVideoStore) -> None:
    # Given 2,620 detections (two results pages) written as chunk items
    clip = video()
    store.mark_in_progress(clip, "job-1", 50.0, NOW)
    detections, _ = classified(2620)
    writer = store.label_writer(clip.video_id)
    writer.add(detections[:1000])
    writer.add(detections[1000:])
    requests = writer.flush()
    # When they are read back
    labels = store.labels(clip.video_id)
    # Then every detection is there once, in time order, typed as numbers;
    # 10 + 17 chunk items (chunks never span pages) took ceil(27 / 25) BatchWriteItem calls
    assert requests == 2
    assert [label["detection_index"] for label in labels] == list(range(2620))
    assert [label["timestamp_ms"] for label in labels] == sorted(label["timestamp_ms"] for label in labels)
    assert isinstance(labels[0]["confidence"], Decimal) and labels[0]["confidence"] == Decimal("60.0")
    assert labels[2]["top_category"] == "Violence" and labels[0]["content_types"][0]["name"] == "Animated"
    # And writing a page again (a replay) adds nothing
    replay = store.label_writer(clip.video_id)
    replay.add(detections[:1000])
    replay.flush()
    assert len(store.labels(clip.video_id)) == 2620


def test_a_full_chunk_stays_far_below_the_item_size_limit(store: DynamoVideoStore) -> None:
    # Given 100 detections with the longest names and several content types each
    from functions.common.models import ContentType, Detection, RawDetection

    long_name = "Drugs & Tobacco Paraphernalia & Use"
    raws = [
        RawDetection(
            i, long_name, long_name, 3, 99.123456, i, i + 1, 1, tuple(ContentType(f"Type {j}", 88.8) for j in range(3))
        )
        for i in range(100)
    ]
    chunk = [Detection(i, raw, "Non-Explicit Nudity of Intimate parts and Kissing", True) for i, raw in enumerate(raws)]
    # When serialized as one chunk item
    item = label_chunk_item("v" * 32, chunk)
    # Then it is a small fraction of DynamoDB's 400 KB item limit
    assert len(json.dumps(item)) < 100_000


def test_complete_sets_summary_and_flagged_day_index(store: DynamoVideoStore) -> None:
    # Given two flagged videos and one clean one
    client = store.dynamodb
    for name, confidence in (("mild.mp4", 82.0), ("severe.mp4", 99.5), ("clean.mp4", None)):
        clip = video(name)
        store.mark_in_progress(clip, f"job-{name}", 50.0, NOW)
        summary = VideoSummary()
        if confidence:
            summary.label_count = summary.flagged_label_count = 1
            summary.max_confidence = confidence
            summary.flagged_categories = {"Violence"}
        meta = VideoMetadata(codec="h264", duration_ms=1000, frame_rate=25.0)
        assert store.complete(
            store.get(clip.video_id),
            VideoStatus.SUCCEEDED,
            reason=None,
            summary=summary,
            metadata=meta,
            model_version="7.0",
            completed_at=NOW,
            now=NOW,
        )
    # When the flagged-by-day index is queried most severe first
    response = client.query(
        TableName=TABLE,
        IndexName=FLAGGED_BY_DAY.name,
        KeyConditionExpression="flagged_day = :d",
        ExpressionAttributeValues={":d": {"S": "2026-11-20"}},
        ScanIndexForward=False,
    )
    # Then only flagged videos appear, most severe first
    assert [i["object_key"]["S"] for i in response["Items"]] == ["severe.mp4", "mild.mp4"]
    record = store.get(video("severe.mp4").video_id)
    assert record.summary.max_confidence == 99.5 and record.metadata.frame_rate == 25.0
    # And completing twice is refused
    assert not complete_empty(store, record)


def test_complete_refuses_another_jobs_result(store: DynamoVideoStore) -> None:
    clip = video()
    store.mark_in_progress(clip, "job-1", 50.0, NOW)
    record = store.get(clip.video_id)
    record.job_id = "job-other"
    assert not complete_empty(store, record)


def test_checkpoint_round_trip_and_single_writer(store: DynamoVideoStore) -> None:
    clip = video()
    store.mark_in_progress(clip, "job-1", 50.0, NOW)
    summary = VideoSummary(
        label_count=1000,
        flagged_label_count=3,
        max_confidence=91.0,
        first_flagged_ms=500,
        categories={"Violence"},
        flagged_categories={"Violence"},
    )
    checkpoint = CollectCheckpoint("token-2", 1, 1000, summary, VideoMetadata(codec="h264"), "7.0", NOW)
    assert store.save_checkpoint(clip.video_id, checkpoint, expected_chunks=0)
    # A second writer resuming from the same stored checkpoint is refused
    assert not store.save_checkpoint(clip.video_id, checkpoint, expected_chunks=0)
    loaded = store.get(clip.video_id).checkpoint
    assert loaded == checkpoint
    # Clearing forgets the progress (to collect again), and a cleared checkpoint can be saved from zero
    assert store.clear_checkpoint(clip.video_id)
    assert store.get(clip.video_id).checkpoint is None
    assert store.save_checkpoint(clip.video_id, checkpoint, expected_chunks=0)
    # Completion clears the checkpoint
    store.complete(
        store.get(clip.video_id),
        VideoStatus.SUCCEEDED,
        reason=None,
        summary=summary,
        metadata=None,
        model_version="7.0",
        completed_at=NOW,
        now=NOW,
    )
    assert store.get(clip.video_id).checkpoint is None


def test_mark_deleted_keeps_previous_facts(store: DynamoVideoStore) -> None:
    clip = video()
    store.mark_not_started(clip, VideoStatus.SKIPPED, "the object is empty", NOW)
    record = store.get(clip.video_id)
    assert store.mark_deleted(record, NOW)
    assert not store.mark_deleted(record, NOW)
    deleted = store.get(clip.video_id)
    assert deleted.status is VideoStatus.DELETED and deleted.status_reason == "the object is empty"


def test_only_the_unprocessed_items_are_re_sent_exactly_as_returned_until_none_remain() -> None:
    # Given one full batch of 25 distinct chunk items, and DynamoDB leaves items 3 and 17 unprocessed, then 17 again
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = DynamoVideoStore(client, TABLE, sleep=lambda _: None)
    detections, _ = classified(25 * LABELS_PER_ITEM)
    chunks = [detections[start : start + LABELS_PER_ITEM] for start in range(0, len(detections), LABELS_PER_ITEM)]
    puts = [{"PutRequest": {"Item": label_chunk_item("vid", chunk)}} for chunk in chunks]
    assert len({json.dumps(put, sort_keys=True) for put in puts}) == 25

    def sent(*requests: dict) -> dict:
        return {"RequestItems": {TABLE: list(requests)}}

    def left(*requests: dict) -> dict:
        return {"UnprocessedItems": {TABLE: list(requests)} if requests else {}}

    with Stubber(client) as stubber:
        # Then the first request carries the whole batch, and each retry exactly the requests DynamoDB returned
        stubber.add_response("batch_write_item", left(puts[3], puts[17]), sent(*puts))
        stubber.add_response("batch_write_item", left(puts[17]), sent(puts[3], puts[17]))
        stubber.add_response("batch_write_item", left(), sent(puts[17]))
        # When the labels are written
        writer = store.label_writer("vid")
        writer.add(detections)
        requests = writer.flush()
        # And it stopped once nothing was left
        assert requests == 3
        stubber.assert_no_pending_responses()


def test_unprocessed_items_that_never_clear_raise() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = DynamoVideoStore(client, TABLE, sleep=lambda _: None)
    detections, _ = classified(1)
    with Stubber(client) as stubber:
        unprocessed = {TABLE: [{"PutRequest": {"Item": {"pk": {"S": "x"}, "sk": {"S": "y"}}}}]}
        for _ in range(8):
            stubber.add_response("batch_write_item", {"UnprocessedItems": unprocessed}, {"RequestItems": ANY})
        writer = store.label_writer("vid")
        writer.add(detections)
        with pytest.raises(WriteIncomplete):
            writer.flush()

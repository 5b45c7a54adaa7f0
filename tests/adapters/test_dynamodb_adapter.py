"""DynamoDB adapter against moto (and a Stubber for UnprocessedItems, which moto never returns)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from functions.common.adapters.clients import error_code
from functions.common.adapters.dynamodb import REVIEW_LANE, WAIT_LANE, DynamoVideoStore, label_chunk_item
from functions.common.adapters.retryable import is_transient
from functions.common.errors import WriteIncomplete
from functions.common.flagging import DetectionClassifier, FlagPolicy
from functions.common.models import (
    CollectCheckpoint,
    VerdictKind,
    VideoMetadata,
    VideoRecord,
    VideoRef,
    VideoSource,
    VideoStatus,
    VideoSummary,
)
from functions.common.table_design import (
    BY_STATUS,
    FLAGGED_BY_DAY,
    LABELS_PER_ITEM,
    PARTITION_KEY,
    SORT_KEY,
    SUMMARY_SK,
    create_table_request,
    video_pk,
)
from functions.common.verdicts import Verdict, VerdictRequest
from tests.helpers import NOW, detection, flagged_run, video

TABLE = "modlake-test-videos"
HOUR = timedelta(hours=1)


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


# --- the waiting index, counts and sources (backfill) ---------------------------------------------


def raw_summary(store: DynamoVideoStore, video_id: str) -> dict:
    """The summary item exactly as DynamoDB holds it."""
    key = {PARTITION_KEY: {"S": video_pk(video_id)}, SORT_KEY: {"S": SUMMARY_SK}}
    return store.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]


def backfilled(key: str, version: str = "v1") -> VideoRef:
    """A version as queue_backfill names it: no upload time, source backfill."""
    return replace(video(key, version=version, uploaded_at=None), source=VideoSource.BACKFILL)


def test_next_waiting_gives_uploads_oldest_first_then_backfill_oldest_first_within_the_limit(
    store: DynamoVideoStore,
) -> None:
    # Given backfill and uploads waiting, queued in interleaved order (the oldest video is a backfill one)
    queued = [
        (backfilled("b-old.mp4"), 0),
        (video("u-old.mp4"), 1),
        (backfilled("b-new.mp4"), 2),
        (video("u-new.mp4"), 3),
    ]
    for clip, minute in queued:
        assert store.mark_queued(clip, 1, "SlotsBusy", NOW + timedelta(minutes=minute))
    # When the next waiting videos are asked for with various limits
    # Then uploads come first, oldest first, then backfill, oldest first, and never more than the limit
    assert [r.video.key for r in store.next_waiting(10)] == ["u-old.mp4", "u-new.mp4", "b-old.mp4", "b-new.mp4"]
    assert [r.video.key for r in store.next_waiting(3)] == ["u-old.mp4", "u-new.mp4", "b-old.mp4"]
    assert [r.video.key for r in store.next_waiting(2)] == ["u-old.mp4", "u-new.mp4"]
    assert [r.video.key for r in store.next_waiting(1)] == ["u-old.mp4"]
    assert [r.video.source for r in store.next_waiting(4)] == [VideoSource.UPLOAD] * 2 + [VideoSource.BACKFILL] * 2


def test_next_waiting_with_only_backfill_waiting_fills_the_limit_from_backfill(store: DynamoVideoStore) -> None:
    # Given only backfill videos waiting
    for minute in range(5):
        store.mark_queued(backfilled(f"b{minute}.mp4"), 0, "backfill", NOW + timedelta(minutes=minute))
    # When three are asked for
    # Then the three oldest come
    assert [r.video.key for r in store.next_waiting(3)] == ["b0.mp4", "b1.mp4", "b2.mp4"]


def _start(store: DynamoVideoStore, clip: VideoRef) -> None:
    store.mark_in_progress(clip, "job-1", 50.0, NOW + timedelta(minutes=5))


def _skip(store: DynamoVideoStore, clip: VideoRef) -> None:
    store.mark_not_started(clip, VideoStatus.SKIPPED, "the object is empty", NOW + timedelta(minutes=5))


def _fail(store: DynamoVideoStore, clip: VideoRef) -> None:
    store.mark_not_started(clip, VideoStatus.FAILED, "Rekognition InvalidS3ObjectException", NOW)


def _delete(store: DynamoVideoStore, clip: VideoRef) -> None:
    record = store.get(clip.video_id)
    assert record is not None
    store.mark_deleted(record, NOW + timedelta(minutes=5))


@pytest.mark.parametrize(
    ("move_on", "status"),
    [
        (_start, VideoStatus.IN_PROGRESS),
        (_skip, VideoStatus.SKIPPED),
        (_fail, VideoStatus.FAILED),
        (_delete, VideoStatus.DELETED),
    ],
)
@pytest.mark.parametrize("source", [VideoSource.UPLOAD, VideoSource.BACKFILL])
def test_a_video_leaves_the_waiting_index_when_it_moves_on(
    store: DynamoVideoStore,
    move_on: Callable[[DynamoVideoStore, VideoRef], None],
    status: VideoStatus,
    source: VideoSource,
) -> None:
    # Given a waiting video in its lane
    clip = replace(video(), source=source)
    store.mark_queued(clip, 1, "SlotsBusy", NOW)
    assert raw_summary(store, clip.video_id)[WAIT_LANE] == {"S": str(source)}
    # When it starts, is skipped or failed, or is deleted
    move_on(store, clip)
    # Then it is no longer waiting: the lane attribute is gone, so the sparse index no longer holds it
    record = store.get(clip.video_id)
    assert record is not None and record.status is status
    assert WAIT_LANE not in raw_summary(store, clip.video_id)
    assert store.next_waiting(10) == []


def test_a_backfill_of_a_version_waiting_as_an_upload_keeps_the_upload_lane_and_source(
    store: DynamoVideoStore,
) -> None:
    # Given an upload waiting since NOW
    upload = video()
    store.mark_queued(upload, 2, "LimitExceededException", NOW)
    # When a backfill task queues the same version an hour later
    store.mark_queued(replace(upload, uploaded_at=None, source=VideoSource.BACKFILL), 0, "backfill", NOW + HOUR)
    # Then it still waits once, in the upload lane, as an upload, from its first queued time
    [waiting] = store.next_waiting(10)
    assert waiting.video_id == upload.video_id and waiting.video.source is VideoSource.UPLOAD
    assert waiting.status_since == NOW
    assert raw_summary(store, upload.video_id)[WAIT_LANE] == {"S": "upload"}


def test_an_upload_of_a_version_waiting_as_backfill_moves_it_to_the_upload_lane(store: DynamoVideoStore) -> None:
    # Given a backfill video waiting since NOW, and an older backfill video ahead of it
    clip = backfilled("clip.mp4")
    store.mark_queued(clip, 0, "backfill", NOW)
    store.mark_queued(backfilled("other.mp4"), 0, "backfill", NOW - HOUR)
    # When its upload event queues the same version
    store.mark_queued(replace(clip, uploaded_at=NOW + HOUR, source=VideoSource.UPLOAD), 1, "SlotsBusy", NOW + HOUR)
    # Then it waits in the upload lane as an upload (ahead of all backfill), keeping its first queued time
    waiting = store.next_waiting(10)
    assert [r.video.key for r in waiting] == ["clip.mp4", "other.mp4"]
    assert waiting[0].video.source is VideoSource.UPLOAD and waiting[0].status_since == NOW
    assert raw_summary(store, clip.video_id)[WAIT_LANE] == {"S": "upload"}
    assert raw_summary(store, clip.video_id)["source"] == {"S": "upload"}


def test_count_in_status_counts_only_that_status(store: DynamoVideoStore) -> None:
    # Given 27 running jobs, 5 waiting videos and 3 skipped ones
    for i in range(27):
        store.mark_in_progress(video(f"run/{i}.mp4"), f"job-{i}", 50.0, NOW + timedelta(seconds=i))
    for i in range(5):
        store.mark_queued(video(f"wait/{i}.mp4"), 1, "SlotsBusy", NOW)
    for i in range(3):
        store.mark_not_started(video(f"skip/{i}.mp4"), VideoStatus.SKIPPED, "empty", NOW)
    # When each status is counted
    # Then each count is exact
    assert store.count_in_status(VideoStatus.IN_PROGRESS) == 27
    assert store.count_in_status(VideoStatus.QUEUED) == 5
    assert store.count_in_status(VideoStatus.SKIPPED) == 3
    assert store.count_in_status(VideoStatus.SUCCEEDED) == 0


def test_count_in_status_adds_up_every_page() -> None:
    # Given DynamoDB answers the COUNT query in three pages (it stops a page at 1 MB read)
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = DynamoVideoStore(client, TABLE, sleep=lambda _: None)
    query = {
        "TableName": TABLE,
        "IndexName": BY_STATUS.name,
        "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": "status"},
        "ExpressionAttributeValues": {":v": {"S": "IN_PROGRESS"}},
        "Select": "COUNT",
    }
    page_ends = [
        {"pk": {"S": f"VIDEO#{n}"}, "sk": {"S": SUMMARY_SK}, "status": {"S": "IN_PROGRESS"}, "status_since": {"S": n}}
        for n in ("a", "b")
    ]
    with Stubber(client) as stubber:
        stubber.add_response("query", {"Count": 4000, "ScannedCount": 4000, "LastEvaluatedKey": page_ends[0]}, query)
        stubber.add_response(
            "query",
            {"Count": 4000, "ScannedCount": 4000, "LastEvaluatedKey": page_ends[1]},
            query | {"ExclusiveStartKey": page_ends[0]},
        )
        stubber.add_response("query", {"Count": 17, "ScannedCount": 17}, query | {"ExclusiveStartKey": page_ends[1]})
        # When the running jobs are counted
        total = store.count_in_status(VideoStatus.IN_PROGRESS)
        # Then every page is read, each from where the last stopped, and added up
        assert total == 8017
        stubber.assert_no_pending_responses()


def test_the_source_round_trips_and_an_item_from_before_backfill_reads_as_an_upload(store: DynamoVideoStore) -> None:
    # Given a backfill video, an upload, and a summary item written before videos had a source
    backfill, upload = backfilled("b.mp4"), video("u.mp4")
    store.mark_queued(backfill, 0, "backfill", NOW)
    store.mark_in_progress(upload, "job-1", 50.0, NOW)
    old = video("old.mp4")
    store.dynamodb.put_item(
        TableName=TABLE,
        Item={
            PARTITION_KEY: {"S": video_pk(old.video_id)},
            SORT_KEY: {"S": SUMMARY_SK},
            "video_id": {"S": old.video_id},
            "bucket": {"S": old.bucket},
            "object_key": {"S": old.key},
            "version_id": {"S": "v1"},
            "object_ref": {"S": f"{old.bucket}/{old.key}"},
            "status": {"S": "SUCCEEDED"},
            "status_since": {"S": "2025-01-01T00:00:00.000Z"},
            "updated_at": {"S": "2025-01-01T00:00:00.000Z"},
            "uploaded_at": {"S": "2025-01-01T00:00:00.000Z"},
        },
    )
    # When they are read back
    # Then each has its source; the old item's is "upload"
    assert raw_summary(store, backfill.video_id)["source"] == {"S": "backfill"}
    read = {clip.key: store.get(clip.video_id) for clip in (backfill, upload, old)}
    assert {key: record.video.source if record else None for key, record in read.items()} == {
        "b.mp4": VideoSource.BACKFILL,
        "u.mp4": VideoSource.UPLOAD,
        "old.mp4": VideoSource.UPLOAD,
    }
    legacy = read["old.mp4"]
    assert legacy is not None and legacy.status is VideoStatus.SUCCEEDED and legacy.video.version_id == "v1"


# --- which AWS errors are worth retrying (retryable.is_transient) ----------------------------------


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def error_id(error: Exception) -> str:
    return error_code(error) or type(error).__name__


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException", 400),
        client_error("ThrottlingException", 400),
        client_error("Throttling", 400),
        client_error("RequestLimitExceeded", 400),
        client_error("SlowDown", 503),
        client_error("TooManyRequestsException", 400),
        client_error("RequestTimeout", 400),
        client_error("InternalServerError", 500),  # a 5xx whose code is in no list
        client_error("ServiceUnavailable", 503),
        client_error("Whatever", 429),
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ],
    ids=error_id,
)
def test_throttling_5xx_429_and_broken_connections_are_transient(error: Exception) -> None:
    # Given an AWS error that clears by itself (a throttle, a server fault, a broken connection)
    # When it is classified
    # Then it is worth retrying later (S3 Batch Operations' TemporaryFailure)
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDenied", 403),
        client_error("AccessDeniedException", 400),
        client_error("NoSuchKey", 404),
        client_error("ValidationException", 400),
        client_error("ConditionalCheckFailedException", 400),
        KeyError("ContentLength"),
        ValueError("not AWS at all"),
    ],
    ids=error_id,
)
def test_refusals_and_bugs_are_not_transient(error: Exception) -> None:
    # Given a refusal no retry changes (permissions, a missing key, a bad request) or a bug of ours
    # When it is classified
    # Then it is final (PermanentFailure)
    assert not is_transient(error)


# --- reviewers' verdicts and the review queue ------------------------------------------------------------------------
REVIEWER = "arn:aws:sts::123456789012:assumed-role/Reviewers/ana"


def flagged_video(store: DynamoVideoStore, key: str, completed_at: datetime, *, flagged: bool = True) -> VideoRecord:
    """A video collected at completed_at whose strongest flagging detection is Violence at 95 (Alcohol flags at 85)."""
    clip = video(key)
    assert store.mark_in_progress(clip, f"job-{key}", 50.0, completed_at - HOUR)
    summary = VideoSummary()
    raws = [detection(0, "Alcohol", confidence=85.0), detection(500, "Violence", confidence=95.0)]
    DetectionClassifier(FlagPolicy()).classify(raws if flagged else [detection(0, "Alcohol", confidence=60.0)], summary)
    record = store.get(clip.video_id)
    assert record is not None
    done = store.complete(
        record, VideoStatus.SUCCEEDED, reason=None, summary=summary, metadata=None, model_version="7.0",
        completed_at=completed_at, now=completed_at,
    )  # fmt: skip
    assert done
    settled = store.get(clip.video_id)
    assert settled is not None
    return settled


def verdict_on(record: VideoRecord, kind: VerdictKind, at: datetime, **fields: str) -> Verdict:
    return Verdict.of(record, VerdictRequest(kind, **fields), REVIEWER, at)


def test_flagged_results_enter_the_review_queue_oldest_first_and_others_do_not(store: DynamoVideoStore) -> None:
    # Given two flagged videos collected an hour apart (the later one first), and one clean video
    later = flagged_video(store, "later.mp4", NOW + HOUR)
    earlier = flagged_video(store, "earlier.mp4", NOW)
    flagged_video(store, "clean.mp4", NOW - HOUR, flagged=False)
    # When the review queue is read
    queue = store.review_queue(10)
    # Then it holds the flagged ones, oldest flag first, each with the top category a review records
    assert [r.video_id for r in queue] == [earlier.video_id, later.video_id]
    assert all(r.awaiting_review for r in queue)
    assert [(r.summary.top_category, r.summary.top_confidence) for r in queue if r.summary] == [("Violence", 95.0)] * 2
    assert [r.video_id for r in store.review_queue(1)] == [earlier.video_id]


def test_a_deleted_video_leaves_the_review_queue(store: DynamoVideoStore) -> None:
    # Given a flagged video awaiting review
    record = flagged_video(store, "gone.mp4", NOW)
    # When it is deleted / Then nothing is left to review
    assert store.mark_deleted(record, NOW + HOUR)
    assert store.review_queue(10) == []
    stored = store.get(record.video_id)
    assert stored is not None and not stored.awaiting_review


def test_a_verdict_is_written_once_and_a_replay_is_a_no_op(store: DynamoVideoStore) -> None:
    # Given a flagged video and a verdict on it
    record = flagged_video(store, "clip.mp4", NOW)
    verdict = verdict_on(
        record, VerdictKind.OVERTURNED, NOW + HOUR, category="Violence", note="a film", request_id="req-00000001"
    )
    # When the verdict is written twice (a retried request that got to the same key)
    first, replay = store.add_verdict(verdict), store.add_verdict(verdict)
    # Then the first write adds the history item, the second changes nothing
    assert (first, replay) == (True, False)
    assert store.verdicts(record.video_id) == [verdict]
    assert store.find_verdict(record.video_id, verdict.verdict_id) == verdict
    assert store.find_verdict(record.video_id, "0" * 32) is None
    # And the item sits under the video's key, its sort key giving time order and the verdict id
    items = store.dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": {"S": video_pk(record.video_id)}, ":v": {"S": "VERDICT#"}},
    )["Items"]
    assert [item[SORT_KEY]["S"] for item in items] == [f"VERDICT#2026-11-20T11:30:00.000Z#{verdict.verdict_id}"]
    assert items[0]["reviewer"] == {"S": REVIEWER} and items[0]["max_confidence"] == {"N": "95.0"}


def test_the_latest_verdict_is_the_newest_even_when_verdicts_arrive_out_of_order(store: DynamoVideoStore) -> None:
    # Given a flagged video in the review queue, a verdict recorded at 12:30 and one recorded earlier, at 11:30
    record = flagged_video(store, "clip.mp4", NOW)
    newer = verdict_on(record, VerdictKind.CONFIRMED, NOW + 2 * HOUR)
    older = verdict_on(record, VerdictKind.OVERTURNED, NOW + HOUR, category="Alcohol")
    # When the newer is applied first, then the older
    assert store.add_verdict(newer) and store.apply_verdict(newer)
    assert store.add_verdict(older)
    applied_older = store.apply_verdict(older)
    # Then the older one is history only: the summary's latest verdict stays the newer, and the video left the queue
    assert not applied_older
    stored = store.get(record.video_id)
    assert stored is not None and stored.latest_verdict == newer.latest
    assert not stored.awaiting_review and store.review_queue(10) == []
    assert (
        REVIEW_LANE
        not in store.dynamodb.get_item(
            TableName=TABLE, Key={PARTITION_KEY: {"S": video_pk(record.video_id)}, SORT_KEY: {"S": SUMMARY_SK}}
        )["Item"]
    )
    # And the history holds both, oldest first; applying the newer again (a replay) changes nothing
    assert store.verdicts(record.video_id) == [older, newer]
    assert store.apply_verdict(newer)
    again = store.get(record.video_id)
    assert again is not None and again.latest_verdict == newer.latest


def test_a_verdict_on_a_video_without_a_summary_is_not_applied(store: DynamoVideoStore) -> None:
    # Given a verdict for a video id the table has no summary for
    record = flagged_video(store, "clip.mp4", NOW)
    stranger = replace(verdict_on(record, VerdictKind.CONFIRMED, NOW), video_id="f" * 32)
    # When it is applied / Then nothing is created
    assert not store.apply_verdict(stranger)
    assert store.get("f" * 32) is None

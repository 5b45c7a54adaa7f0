"""DynamoDB adapter: video summaries with conditional state changes, labels in batched writes, reviewers' verdicts."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.common.adapters.clients import error_code
from functions.common.errors import ReadIncomplete, WriteIncomplete
from functions.common.models import (
    CollectCheckpoint,
    Detection,
    LatestVerdict,
    VideoMetadata,
    VideoRecord,
    VideoRef,
    VideoSource,
    VideoStatus,
    VideoSummary,
    iso,
    parse_time,
    partition_date,
)
from functions.common.table_design import (
    AWAITING_REVIEW,
    BY_JOB,
    BY_OBJECT,
    BY_STATUS,
    LABEL_SK_PREFIX,
    LABELS_PER_ITEM,
    PARTITION_KEY,
    REVIEW_QUEUE,
    SORT_KEY,
    SUMMARY_SK,
    VERDICT_SK_PREFIX,
    WAITING,
    label_chunk_sk,
    verdict_sk,
    video_pk,
)
from functions.common.verdicts import Verdict

BATCH_SIZE = 25  # BatchWriteItem's limit
BATCH_GET_KEYS = 100  # BatchGetItem's limit
WAIT_LANE = "wait_lane"  # set only while a video is QUEUED: its lane in the waiting index
REVIEW_LANE = REVIEW_QUEUE.partition_key  # set only while a flagged video awaits its first verdict
LATEST_VERDICT = "latest_verdict"
WAIT_LANES = (VideoSource.UPLOAD, VideoSource.BACKFILL)  # the order slots are given out in
MAX_BATCH_ATTEMPTS = 8
_CHECKPOINT_FIELDS = (
    "ckpt_token",
    "ckpt_chunks",
    "ckpt_done",
    "ckpt_summary",
    "ckpt_metadata",
    "ckpt_model_version",
    "ckpt_completed_at",
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    """Python → DynamoDB-safe value: floats become Decimals (numbers stay numbers), None is dropped."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def _deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _identity(video: VideoRef, now: datetime) -> dict[str, Any]:
    return video.identity_fields() | {
        "object_ref": f"{video.bucket}/{video.key}",
        "etag": video.etag,
        "size_bytes": video.size,
        "uploaded_at": iso(video.uploaded_at or now),
    }


def _kept_if_set(video: VideoRef, *also: str) -> tuple[str, ...]:
    """An upload's source (and lane) override a backfill's; a backfill never relabels a video seen as an upload."""
    return ("source", *also) if video.source is VideoSource.BACKFILL else ()


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    return kind(value) if value is not None else None


def _record(item: dict[str, Any]) -> VideoRecord:
    data = _deserialize(item)
    video = VideoRef(
        bucket=data["bucket"],
        key=data["object_key"],
        version_id=data.get("version_id"),
        etag=data.get("etag"),
        size=_number(data.get("size_bytes"), int),
        uploaded_at=parse_time(data["uploaded_at"]) if data.get("uploaded_at") else None,
        source=VideoSource(data.get("source") or VideoSource.UPLOAD),  # items from before backfill existed
    )
    # The item holds the summary's columns (its JSON plus `flagged`) only once a job has results.
    summary = VideoSummary.from_json(data) if "label_count" in data else None
    has_metadata = any(k in data for k in VideoMetadata.__dataclass_fields__)
    metadata = VideoMetadata.from_columns(data) if has_metadata else None
    checkpoint = None
    if "ckpt_token" in data:
        checkpoint = CollectCheckpoint(
            next_token=data["ckpt_token"],
            chunks_written=int(data["ckpt_chunks"]),
            detections_done=int(data["ckpt_done"]),
            summary=VideoSummary.from_json(json.loads(data["ckpt_summary"])),
            metadata=VideoMetadata.from_columns(json.loads(data["ckpt_metadata"])),
            model_version=data.get("ckpt_model_version"),
            completed_at=parse_time(data["ckpt_completed_at"]),
        )
    return VideoRecord(
        video=video,
        status=VideoStatus(data["status"]),
        status_since=parse_time(data["status_since"]),
        updated_at=parse_time(data["updated_at"]),
        job_id=data.get("job_id"),
        status_reason=data.get("status_reason"),
        attempts=int(data.get("attempts", 0)),
        min_confidence=_number(data.get("min_confidence"), float),
        summary=summary,
        metadata=metadata,
        model_version=data.get("model_version"),
        completed_at=parse_time(data["completed_at"]) if data.get("completed_at") else None,
        deleted_at=parse_time(data["deleted_at"]) if data.get("deleted_at") else None,
        checkpoint=checkpoint,
        claimed_at=parse_time(data["kicked_at"]) if data.get("kicked_at") else None,
        awaiting_review=data.get(REVIEW_LANE) == AWAITING_REVIEW,
        latest_verdict=LatestVerdict.from_json(data[LATEST_VERDICT]) if LATEST_VERDICT in data else None,
    )


class DynamoVideoStore:
    """The VideoStore port on one DynamoDB table (design in table_design)."""

    def __init__(self, dynamodb: Any, table_name: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        self.sleep = sleep

    # --- reads -------------------------------------------------------------------------------
    def get(self, video_id: str) -> VideoRecord | None:
        response = self.dynamodb.get_item(
            TableName=self.table,
            Key=_serialize({PARTITION_KEY: video_pk(video_id), SORT_KEY: SUMMARY_SK}),
            ConsistentRead=True,
        )
        return _record(response["Item"]) if "Item" in response else None

    def _query_index(
        self, index: str, key_name: str, key_value: str, *, limit: int | None = None, forward: bool = True
    ) -> list[VideoRecord]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key_name},
            "ExpressionAttributeValues": _serialize({":v": key_value}),
            "ScanIndexForward": forward,
        }
        records: list[VideoRecord] = []
        while True:
            if limit is not None:
                args["Limit"] = limit - len(records)
            response = self.dynamodb.query(**args)
            records.extend(_record(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last or (limit is not None and len(records) >= limit):
                return records
            args["ExclusiveStartKey"] = last

    def find_by_job(self, job_id: str) -> VideoRecord | None:
        found = self._query_index(BY_JOB.name, BY_JOB.partition_key, job_id, limit=1)
        return found[0] if found else None

    def find_by_object(self, bucket: str, key: str) -> list[VideoRecord]:
        """Every version of an object modlake has seen, newest upload first."""
        return self._query_index(BY_OBJECT.name, BY_OBJECT.partition_key, f"{bucket}/{key}", forward=False)

    def oldest_in_status(self, status: VideoStatus, limit: int) -> list[VideoRecord]:
        return self._query_index(BY_STATUS.name, BY_STATUS.partition_key, str(status), limit=limit)

    def count_in_status(self, status: VideoStatus) -> int:
        """How many videos are in this status now (a COUNT query on by_status; the index lags by moments)."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_STATUS.name,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": BY_STATUS.partition_key},
            "ExpressionAttributeValues": _serialize({":v": str(status)}),
            "Select": "COUNT",
        }
        total = 0
        while True:
            response = self.dynamodb.query(**args)
            total += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return total
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def next_waiting(self, limit: int) -> list[VideoRecord]:
        """The videos that get the next free slots: waiting uploads oldest first, then waiting backfill."""
        found: list[VideoRecord] = []
        for lane in WAIT_LANES:
            if len(found) >= limit:
                break
            found.extend(self._query_index(WAITING.name, WAITING.partition_key, str(lane), limit=limit - len(found)))
        return found

    def statuses(self, video_ids: Sequence[str]) -> dict[str, str]:
        """The summary status of each video id that has one: BatchGetItem, 100 keys a call, UnprocessedKeys retried
        with capped exponential backoff (what `modlake backfill` reads for thousands of stored versions)."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(video_ids))  # BatchGetItem rejects a request that names one key twice
        for start in range(0, len(unique), BATCH_GET_KEYS):
            keys = [
                {PARTITION_KEY: {"S": video_pk(video_id)}, SORT_KEY: {"S": SUMMARY_SK}}
                for video_id in unique[start : start + BATCH_GET_KEYS]
            ]
            request: dict[str, Any] = {
                self.table: {
                    "Keys": keys,
                    "ProjectionExpression": "#pk, #status",
                    "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#status": "status"},  # `status` is reserved
                }
            }
            for attempt in range(MAX_BATCH_ATTEMPTS):
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item[PARTITION_KEY]["S"].removeprefix(video_pk(""))] = item["status"]["S"]
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                left = len(request.get(self.table, {}).get("Keys", []))
                raise ReadIncomplete(
                    f"{left} summary reads unprocessed after {MAX_BATCH_ATTEMPTS} BatchGetItem attempts"
                )
        return found

    def newest_in_status(self, status: VideoStatus, limit: int) -> list[VideoRecord]:
        """The videos that most recently entered this status, newest first (what `modlake status` lists)."""
        return self._query_index(BY_STATUS.name, BY_STATUS.partition_key, str(status), limit=limit, forward=False)

    def labels(self, video_id: str) -> list[dict[str, Any]]:
        """All detections of a video in time order, unpacked from their chunk items."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _serialize({":pk": video_pk(video_id), ":prefix": LABEL_SK_PREFIX}),
        }
        labels: list[dict[str, Any]] = []
        while True:
            response = self.dynamodb.query(**args)
            for item in response.get("Items", []):
                labels.extend(_deserialize(item)["labels"])
            if "LastEvaluatedKey" not in response:
                return labels
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- conditional state changes ----------------------------------------------------------
    def _update(
        self,
        video_id: str,
        sets: dict[str, Any],
        condition: str,
        condition_values: dict[str, Any],
        removes: Sequence[str] = (),
        keep_existing: Sequence[str] = (),
    ) -> bool:
        """One conditional UpdateItem on a summary item; False when the condition does not hold.

        None values are left out; names in keep_existing are only set when the item lacks them.
        """
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {}
        assignments = []
        for i, (name, value) in enumerate(sets.items()):
            if value is None:
                continue
            names[f"#a{i}"] = name
            values[f":a{i}"] = value
            if name in keep_existing:
                assignments.append(f"#a{i} = if_not_exists(#a{i}, :a{i})")
            else:
                assignments.append(f"#a{i} = :a{i}")
        clauses = ["SET " + ", ".join(assignments)] if assignments else []
        if removes:
            for j, name in enumerate(removes):
                names[f"#r{j}"] = name
            clauses.append("REMOVE " + ", ".join(f"#r{j}" for j in range(len(removes))))
        expression = " ".join(clauses)
        values.update(condition_values)
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_serialize({PARTITION_KEY: video_pk(video_id), SORT_KEY: SUMMARY_SK}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_serialize(values),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    _NEW_OR_QUEUED = "attribute_not_exists(pk) OR #status = :queued"

    def mark_queued(self, video: VideoRef, attempts: int, reason: str, now: datetime) -> bool:
        sets = _identity(video, now) | {
            "status": str(VideoStatus.QUEUED),
            "status_since": iso(now),
            "updated_at": iso(now),
            "attempts": attempts,
            "status_reason": reason,
            WAIT_LANE: str(video.source),
        }
        # status_since keeps the first time the video queued, so the oldest waiting video goes first; a backfill
        # task for a version already waiting as an upload leaves it in the upload lane.
        kept = ("status_since", *_kept_if_set(video, WAIT_LANE))
        return self._update(
            video.video_id, sets, self._NEW_OR_QUEUED, {":queued": str(VideoStatus.QUEUED)}, keep_existing=kept
        )

    def claim_waiting(self, video_id: str, now: datetime, hold_seconds: int) -> bool:
        stale = now - timedelta(seconds=hold_seconds)
        return self._update(
            video_id,
            {"kicked_at": iso(now)},
            "#status = :queued AND (attribute_not_exists(kicked_at) OR kicked_at < :stale)",
            {":queued": str(VideoStatus.QUEUED), ":stale": iso(stale)},
        )

    def release_claim(self, video_id: str) -> bool:
        """Give a claimed video back to its lane at once (its start was refused), instead of after the hold."""
        return self._update(
            video_id, {}, "#status = :queued", {":queued": str(VideoStatus.QUEUED)}, removes=("kicked_at",)
        )

    def mark_in_progress(self, video: VideoRef, job_id: str, min_confidence: float, now: datetime) -> bool:
        sets = _identity(video, now) | {
            "status": str(VideoStatus.IN_PROGRESS),
            "status_since": iso(now),
            "updated_at": iso(now),
            "job_id": job_id,
            "min_confidence": min_confidence,
        }
        return self._update(
            video.video_id,
            sets,
            self._NEW_OR_QUEUED,
            {":queued": str(VideoStatus.QUEUED)},
            removes=("status_reason", WAIT_LANE),
            keep_existing=_kept_if_set(video),
        )

    def mark_not_started(self, video: VideoRef, status: VideoStatus, reason: str, now: datetime) -> bool:
        sets = _identity(video, now) | {
            "status": str(status),
            "status_since": iso(now),
            "updated_at": iso(now),
            "status_reason": reason,
            "completed_at": iso(now),
            "dt": partition_date(now),
            "flagged": False,
        }
        return self._update(
            video.video_id,
            sets,
            self._NEW_OR_QUEUED,
            {":queued": str(VideoStatus.QUEUED)},
            removes=(WAIT_LANE,),
            keep_existing=_kept_if_set(video),
        )

    def save_checkpoint(self, video_id: str, checkpoint: CollectCheckpoint, expected_chunks: int) -> bool:
        sets = {
            "ckpt_token": checkpoint.next_token,
            "ckpt_chunks": checkpoint.chunks_written,
            "ckpt_done": checkpoint.detections_done,
            "ckpt_summary": json.dumps(checkpoint.summary.to_json()),
            "ckpt_metadata": json.dumps(checkpoint.metadata.columns()),
            "ckpt_model_version": checkpoint.model_version,
            "ckpt_completed_at": iso(checkpoint.completed_at),
        }
        # Only the invocation that resumed from the stored checkpoint may advance it.
        condition = "#status = :running AND (attribute_not_exists(ckpt_chunks) OR ckpt_chunks = :expected)"
        return self._update(
            video_id, sets, condition, {":running": str(VideoStatus.IN_PROGRESS), ":expected": expected_chunks}
        )

    def clear_checkpoint(self, video_id: str) -> bool:
        return self._update(
            video_id,
            {},
            "#status = :running",
            {":running": str(VideoStatus.IN_PROGRESS)},
            removes=_CHECKPOINT_FIELDS,
        )

    def complete(
        self,
        record: VideoRecord,
        status: VideoStatus,
        *,
        reason: str | None,
        summary: VideoSummary | None,
        metadata: VideoMetadata | None,
        model_version: str | None,
        completed_at: datetime,
        now: datetime,
    ) -> bool:
        # A video deleted while Rekognition worked keeps DELETED; its results are still recorded.
        final = VideoStatus.DELETED if record.status is VideoStatus.DELETED else status
        flagged = bool(summary and summary.flagged)
        sets = (
            {
                "status": str(final),
                "updated_at": iso(now),
                "status_reason": reason,
                "model_version": model_version,
                "completed_at": iso(completed_at),
                "dt": partition_date(completed_at),
                "flagged_day": partition_date(completed_at) if flagged else None,
                # A flagged result waits for a reviewer's verdict (a video deleted meanwhile has nothing to review).
                REVIEW_LANE: AWAITING_REVIEW if flagged and final is VideoStatus.SUCCEEDED else None,
            }
            # A failed job has no summary attributes; the item also keeps the top category a review records.
            | ({"flagged": summary.flagged} | summary.to_json() if summary else {})
            | (metadata.columns() if metadata else {})
        )
        if final is not record.status:
            sets["status_since"] = iso(now)
        return self._update(
            record.video_id,
            sets,
            "job_id = :job AND #status IN (:running, :deleted)",
            {":job": record.job_id, ":running": str(VideoStatus.IN_PROGRESS), ":deleted": str(VideoStatus.DELETED)},
            removes=_CHECKPOINT_FIELDS,
        )

    def mark_deleted(self, record: VideoRecord, now: datetime) -> bool:
        sets = {
            "status": str(VideoStatus.DELETED),
            "status_since": iso(now),
            "updated_at": iso(now),
            "deleted_at": iso(now),
            "status_before_delete": str(record.status),
        }
        return self._update(
            record.video_id,
            sets,
            "attribute_exists(pk) AND #status <> :deleted",
            {":deleted": str(VideoStatus.DELETED)},
            removes=(WAIT_LANE, REVIEW_LANE),
        )

    # --- reviewers' verdicts -----------------------------------------------------------------------------------
    def review_queue(self, limit: int) -> list[VideoRecord]:
        """Flagged videos awaiting a verdict, oldest flag first (the sparse review_queue index)."""
        return self._query_index(REVIEW_QUEUE.name, REVIEW_QUEUE.partition_key, AWAITING_REVIEW, limit=limit)

    def verdicts(self, video_id: str) -> list[Verdict]:
        """A video's verdict history in time order (its sort keys begin with the recording time)."""
        return self._verdicts(video_id)

    def find_verdict(self, video_id: str, verdict_id: str) -> Verdict | None:
        found = self._verdicts(video_id, verdict_id)
        return found[0] if found else None

    def _verdicts(self, video_id: str, verdict_id: str | None = None) -> list[Verdict]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _serialize({":pk": video_pk(video_id), ":prefix": VERDICT_SK_PREFIX}),
            "ConsistentRead": True,  # a replay right after its first try must find the verdict
        }
        if verdict_id is not None:
            args["FilterExpression"] = "verdict_id = :id"
            args["ExpressionAttributeValues"] |= _serialize({":id": verdict_id})
        found: list[Verdict] = []
        while True:
            response = self.dynamodb.query(**args)
            found.extend(Verdict.from_json(_deserialize(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def add_verdict(self, verdict: Verdict) -> bool:
        """PutItem of the history item only if its key is new: the same verdict written twice is one item."""
        item = {
            PARTITION_KEY: video_pk(verdict.video_id),
            SORT_KEY: verdict_sk(iso(verdict.recorded_at), verdict.verdict_id),
        } | verdict.to_json()
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=_serialize(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def apply_verdict(self, verdict: Verdict) -> bool:
        """The summary's latest_verdict becomes this one unless a newer one is (verdicts recorded out of order keep
        the newest), and the video leaves the review queue."""
        latest = verdict.latest
        # False only when the summary is gone or a newer verdict is the latest, which took the video off the queue.
        return self._update(
            verdict.video_id,
            {LATEST_VERDICT: latest.to_json()},
            "attribute_exists(#status) AND (attribute_not_exists(latest_verdict)"
            " OR latest_verdict.recorded_at < :at"
            " OR (latest_verdict.recorded_at = :at AND latest_verdict.verdict_id <= :id))",
            {":at": iso(latest.recorded_at), ":id": latest.verdict_id},
            removes=(REVIEW_LANE,),
        )

    # --- labels --------------------------------------------------------------------------------
    def label_writer(self, video_id: str) -> DynamoLabelWriter:
        return DynamoLabelWriter(self, video_id)

    def write_batch(self, items: Sequence[dict[str, Any]]) -> int:
        """One BatchWriteItem of ≤ 25 items; UnprocessedItems re-sent with capped exponential backoff and jitter.

        Returns the number of requests made (1 plus retries).
        """
        pending = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(MAX_BATCH_ATTEMPTS):
            response = self.dynamodb.batch_write_item(RequestItems={self.table: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return attempt + 1
            self.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise WriteIncomplete(f"{len(pending)} items unprocessed after {MAX_BATCH_ATTEMPTS} BatchWriteItem attempts")


class DynamoLabelWriter:
    """Buffers a job's detections as chunk items and writes them 25 per BatchWriteItem.

    Each results page is split into chunks of LABELS_PER_ITEM (chunks never span pages, so a
    chunk's key depends only on the job's pages, not on when the buffer was flushed).
    """

    def __init__(self, store: DynamoVideoStore, video_id: str) -> None:
        self.store = store
        self.video_id = video_id
        self.pending: list[dict[str, Any]] = []
        self.requests = 0

    def add(self, page: Sequence[Detection]) -> None:
        """Queue one page's detections; full batches are written right away."""
        for start in range(0, len(page), LABELS_PER_ITEM):
            self.pending.append(label_chunk_item(self.video_id, page[start : start + LABELS_PER_ITEM]))
        while len(self.pending) >= BATCH_SIZE:
            self.requests += self.store.write_batch(self.pending[:BATCH_SIZE])
            del self.pending[:BATCH_SIZE]

    def flush(self) -> int:
        """Write whatever is queued; returns the write requests made so far."""
        while self.pending:
            self.requests += self.store.write_batch(self.pending[:BATCH_SIZE])
            del self.pending[:BATCH_SIZE]
        return self.requests


def label_chunk_item(video_id: str, chunk: Sequence[Detection]) -> dict[str, Any]:
    """The DynamoDB item holding up to LABELS_PER_ITEM consecutive detections of one page."""
    return _serialize(
        {
            PARTITION_KEY: video_pk(video_id),
            SORT_KEY: label_chunk_sk(chunk[0].index),
            "video_id": video_id,
            "first_index": chunk[0].index,
            "first_timestamp_ms": chunk[0].raw.timestamp_ms,
            "labels": [d.fields() for d in chunk],
        }
    )

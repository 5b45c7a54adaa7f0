"""The DynamoDB single-table design, shared by the stack (which builds it) and the adapter (which uses it).

Items
- video summary: pk=VIDEO#<video_id>, sk=SUMMARY
- label chunk:   pk=VIDEO#<video_id>, sk=LABELS#<first detection index:09>, labels=[up to 100 detections]
- verdict:       pk=VIDEO#<video_id>, sk=VERDICT#<recorded_at ISO>#<verdict_id>: one reviewer's verdict, append-only
                 (written only if absent; the summary's `latest_verdict` map holds the newest one)

Labels are stored in chunks of up to LABELS_PER_ITEM consecutive detections (a results page is
split, never merged across pages). Detection indices follow Rekognition's timestamp order, so the
sort key gives time order; a chunk of 100 stays far below DynamoDB's 400 KB item limit, and a
6-hour video's 100,000 detections become 1,000 items (40 BatchWriteItem calls) instead of 100,000.

Access patterns → where they are answered
- status and summary by bucket+key      → GSI by_object     (object_ref, uploaded_at)
- status and summary by JobId           → GSI by_job        (job_id)
- all labels of a video in time order   → Query pk, sk begins_with LABELS#
- videos flagged on a day, most severe  → GSI flagged_by_day (flagged_day, max_confidence) descending
- videos in a status (stuck, waiting)   → GSI by_status     (status, status_since) oldest first
- the waiting queue, uploads first      → GSI waiting       (wait_lane, status_since) per lane, oldest first
- the review queue, oldest flag first   → GSI review_queue  (review_lane, completed_at) oldest first
- a video's verdicts in time order      → Query pk, sk begins_with VERDICT#
Only summary items carry the GSI key attributes, so every index is sparse; `wait_lane` (upload | backfill)
exists only while a video is QUEUED, `review_lane` (AWAITING) only while a flagged video awaits its first verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTITION_KEY = "pk"
SORT_KEY = "sk"
SUMMARY_SK = "SUMMARY"
LABEL_SK_PREFIX = "LABELS#"
VERDICT_SK_PREFIX = "VERDICT#"
AWAITING_REVIEW = "AWAITING"  # the one review_lane value
LABELS_PER_ITEM = 100


@dataclass(frozen=True)
class IndexDesign:
    """One global secondary index: name, partition key and optional sort key (name, type S|N)."""

    name: str
    partition_key: str
    sort_key: tuple[str, str] | None = None


BY_OBJECT = IndexDesign("by_object", "object_ref", ("uploaded_at", "S"))
BY_JOB = IndexDesign("by_job", "job_id")
BY_STATUS = IndexDesign("by_status", "status", ("status_since", "S"))
FLAGGED_BY_DAY = IndexDesign("flagged_by_day", "flagged_day", ("max_confidence", "N"))
WAITING = IndexDesign("waiting", "wait_lane", ("status_since", "S"))
REVIEW_QUEUE = IndexDesign("review_queue", "review_lane", ("completed_at", "S"))
INDEXES: tuple[IndexDesign, ...] = (BY_OBJECT, BY_JOB, BY_STATUS, FLAGGED_BY_DAY, WAITING, REVIEW_QUEUE)


def video_pk(video_id: str) -> str:
    return f"VIDEO#{video_id}"


def label_chunk_sk(first_index: int) -> str:
    """Deterministic key of the chunk starting at a detection: a replay overwrites instead of adding."""
    return f"{LABEL_SK_PREFIX}{first_index:09d}"


def verdict_sk(recorded_at_iso: str, verdict_id: str) -> str:
    """A verdict's sort key: time order within the video, and the same key for the same verdict (a replay)."""
    return f"{VERDICT_SK_PREFIX}{recorded_at_iso}#{verdict_id}"


def create_table_request(table_name: str) -> dict[str, object]:
    """CreateTable arguments for this design (on-demand), for local sandboxes and tests."""
    attributes = {PARTITION_KEY: "S", SORT_KEY: "S"}
    indexes = []
    for index in INDEXES:
        attributes[index.partition_key] = "S"
        schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        if index.sort_key:
            attributes[index.sort_key[0]] = index.sort_key[1]
            schema.append({"AttributeName": index.sort_key[0], "KeyType": "RANGE"})
        indexes.append({"IndexName": index.name, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}})
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": t} for k, t in attributes.items()],
        "GlobalSecondaryIndexes": indexes,
    }

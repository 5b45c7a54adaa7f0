"""The DynamoDB single-table design, shared by the stack (which builds it) and the adapter (which uses it).

Items
- video summary: pk=VIDEO#<video_id>, sk=SUMMARY
- label:         pk=VIDEO#<video_id>, sk=LABEL#<timestamp_ms:012>#<index:07>  (time order per video)

Access patterns → where they are answered
- status and summary by bucket+key      → GSI by_object     (object_ref, uploaded_at)
- status and summary by JobId           → GSI by_job        (job_id)
- all labels of a video in time order   → Query pk, sk begins_with LABEL#
- videos flagged on a day, most severe  → GSI flagged_by_day (flagged_day, max_confidence) descending
- videos in a status (stuck, waiting)   → GSI by_status     (status, status_since) oldest first
Only summary items carry the GSI key attributes, so every index is sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTITION_KEY = "pk"
SORT_KEY = "sk"
SUMMARY_SK = "SUMMARY"
LABEL_SK_PREFIX = "LABEL#"


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
INDEXES: tuple[IndexDesign, ...] = (BY_OBJECT, BY_JOB, BY_STATUS, FLAGGED_BY_DAY)


def video_pk(video_id: str) -> str:
    return f"VIDEO#{video_id}"


def label_sk(timestamp_ms: int, index: int) -> str:
    """Deterministic label key: a replay overwrites the same item instead of adding one."""
    return f"{LABEL_SK_PREFIX}{timestamp_ms:012d}#{index:07d}"


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

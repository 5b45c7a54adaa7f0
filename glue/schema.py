"""Table specs for the analytics lake: columns, Glue types, partition key and S3 prefix, defined once."""

from __future__ import annotations

from dataclasses import dataclass

PARTITION_FORMAT = "yyyy-MM-dd"  # Athena projection format of the dt partition (UTC processing date)
PROJECTION_START = "2024-01-01"
# Where collect_results parks a long job's rows between invocations: outside every table prefix,
# so Athena never reads it; the bucket expires anything left there.
STAGING_PREFIX = "_staging/"


@dataclass(frozen=True)
class Column:
    """One column: its name, its Glue/Hive type and what it means."""

    name: str
    glue_type: str
    comment: str


@dataclass(frozen=True)
class TableSpec:
    """One analytics table: the Glue table and the Parquet objects under its S3 prefix."""

    name: str
    description: str
    columns: tuple[Column, ...]
    partition_key: Column = Column("dt", "string", "UTC processing date, yyyy-MM-dd")

    @property
    def prefix(self) -> str:
        """S3 prefix (no leading slash) under which the table's partitions live."""
        return f"{self.name}/"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def object_key(self, dt: str, object_name: str) -> str:
        """Deterministic object key of one job's rows: a replay overwrites instead of duplicating."""
        return f"{self.prefix}{self.partition_key.name}={dt}/{object_name}.parquet"

    def location_template(self, bucket_name: str) -> str:
        """Athena partition-projection storage template for this table in the given bucket."""
        return f"s3://{bucket_name}/{self.prefix}{self.partition_key.name}=${{{self.partition_key.name}}}/"


_IDENTITY = (
    Column("video_id", "string", "modlake video id: hash of bucket, key and object version"),
    Column("bucket", "string", "S3 bucket of the video"),
    Column("object_key", "string", "S3 key of the video, exactly as stored"),
    Column("version_id", "string", "S3 object version (null when the bucket is unversioned)"),
    Column("source", "string", "how the video reached modlake: upload (its S3 event) or backfill"),
)

VIDEOS = TableSpec(
    name="moderation_videos",
    description="One row per video modlake processed, failed or skipped.",
    columns=(
        *_IDENTITY,
        Column("etag", "string", "S3 ETag of the analysed object"),
        Column("size_bytes", "bigint", "object size in bytes"),
        Column("status", "string", "SUCCEEDED, FAILED or SKIPPED"),
        Column("status_reason", "string", "why a video was skipped or failed"),
        Column("job_id", "string", "Rekognition job id (null when skipped before a job)"),
        Column("flagged", "boolean", "true when a label reached its category's flag threshold"),
        Column("max_confidence", "double", "highest confidence of any label not ignored"),
        Column("flagged_categories", "array<string>", "top-level categories that flagged the video"),
        Column("categories", "array<string>", "every top-level category detected"),
        Column("label_count", "bigint", "detections returned by Rekognition"),
        Column("flagged_label_count", "bigint", "detections at or above their flag threshold"),
        Column("first_flagged_ms", "bigint", "video time of the first flagging detection, ms"),
        Column("duration_ms", "bigint", "video duration reported by Rekognition, ms"),
        Column("codec", "string", "video codec reported by Rekognition"),
        Column("format", "string", "container format reported by Rekognition"),
        Column("frame_rate", "double", "frames per second"),
        Column("frame_width", "int", "frame width in pixels"),
        Column("frame_height", "int", "frame height in pixels"),
        Column("color_range", "string", "FULL or LIMITED"),
        Column("model_version", "string", "Rekognition moderation model version"),
        Column("min_confidence", "double", "MinConfidence the job ran with"),
        Column("uploaded_at", "timestamp", "when S3 reported the upload (UTC)"),
        Column("completed_at", "timestamp", "when the outcome was reached (UTC)"),
    ),
)

LABELS = TableSpec(
    name="moderation_labels",
    description="One row per moderation detection Rekognition returned.",
    columns=(
        *_IDENTITY,
        Column("job_id", "string", "Rekognition job id"),
        Column("detection_index", "bigint", "position of the detection in the job's results"),
        Column("timestamp_ms", "bigint", "video time of the detection, ms"),
        Column("start_timestamp_ms", "bigint", "segment start, ms"),
        Column("end_timestamp_ms", "bigint", "segment end, ms"),
        Column("segment_duration_ms", "bigint", "segment duration, ms"),
        Column("label_name", "string", "moderation label"),
        Column("parent_name", "string", "parent label ('' at the top level)"),
        Column("top_category", "string", "top-level taxonomy category of the label"),
        Column("taxonomy_level", "int", "1, 2 or 3"),
        Column("confidence", "double", "confidence, 0-100"),
        Column("flagged", "boolean", "true when the detection reached its category's flag threshold"),
        Column(
            "content_types",
            "array<struct<name:string,confidence:double>>",
            "content types Rekognition attached (e.g. Animated, Illustrated)",
        ),
        Column("model_version", "string", "Rekognition moderation model version"),
        Column("completed_at", "timestamp", "when the job's results were collected (UTC)"),
    ),
)

VERDICTS = TableSpec(
    name="moderation_verdicts",
    description="One row per reviewer's verdict on a flagged video (append-only; the latest one is in DynamoDB).",
    columns=(
        Column("verdict_id", "string", "deterministic id: hash of video, reviewer and request (a replay is one row)"),
        *_IDENTITY,
        Column("verdict", "string", "confirmed (the flag was right) or overturned (it was not)"),
        Column("category", "string", "top-level category the reviewer named (null: none)"),
        Column("note", "string", "the reviewer's note (up to 1,000 characters)"),
        Column("reviewer", "string", "IAM ARN of the caller, as the review API's IAM authorizer verified it"),
        Column("recorded_at", "timestamp", "when the verdict was recorded (UTC)"),
        Column("top_category", "string", "the video's highest-confidence flagged category at review time"),
        Column("max_confidence", "double", "the video's highest label confidence at review time"),
    ),
    partition_key=Column("dt", "string", "UTC date of recorded_at, yyyy-MM-dd"),
)

TABLES: tuple[TableSpec, ...] = (VIDEOS, LABELS, VERDICTS)

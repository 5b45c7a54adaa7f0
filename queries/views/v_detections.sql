-- Purpose: One row per moderation detection, with friendly column names for QuickSight and ad-hoc SQL:
-- the video's S3 URI, the label and its place in the taxonomy, its confidence, whether it flagged the
-- video, where in the video it was seen, when it was processed, and the video's source: 'upload' or
-- 'backfill' (rows written before the source column existed count as 'upload'). Filter on dt (the UTC
-- processing date, yyyy-MM-dd) so Athena reads only the partitions you need.
-- Parameters: none
SELECT
  video_id,
  CAST(concat('s3://', bucket, '/', object_key) AS varchar) AS video_uri,
  bucket,
  object_key,
  version_id,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  job_id,
  detection_index,
  label_name AS label,
  CAST(nullif(parent_name, '') AS varchar) AS parent_label,
  top_category,
  taxonomy_level,
  confidence,
  flagged AS is_flagged,
  CAST(timestamp_ms / 1e3 AS double) AS offset_seconds,
  CAST(start_timestamp_ms / 1e3 AS double) AS segment_start_seconds,
  CAST(end_timestamp_ms / 1e3 AS double) AS segment_end_seconds,
  CAST(array_join(transform(content_types, c -> c.name), ', ') AS varchar) AS content_types,
  model_version,
  completed_at AS processed_at,
  CAST(completed_at AS date) AS processed_date,
  dt
FROM moderation_labels

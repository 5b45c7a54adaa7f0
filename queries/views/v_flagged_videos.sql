-- Purpose: One row per flagged video, with friendly column names for QuickSight: the S3 URI, the highest
-- label confidence, when in the video it was first flagged, the categories that flagged it and every
-- category detected (comma-separated), when it was processed, and its source: 'upload' or 'backfill' (rows
-- written before the source column existed count as 'upload'). Filter on dt (the UTC processing date,
-- yyyy-MM-dd) so Athena reads only the partitions you need.
-- Parameters: none
SELECT
  video_id,
  CAST(concat('s3://', bucket, '/', object_key) AS varchar) AS video_uri,
  bucket,
  object_key,
  version_id,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  job_id,
  max_confidence,
  CAST(first_flagged_ms / 1e3 AS double) AS first_flagged_seconds,
  CAST(array_join(flagged_categories, ', ') AS varchar) AS flagged_categories,
  CAST(array_join(categories, ', ') AS varchar) AS detected_categories,
  CAST(cardinality(flagged_categories) AS bigint) AS flagged_category_count,
  flagged_label_count,
  label_count,
  CAST(duration_ms / 1e3 AS double) AS duration_seconds,
  size_bytes,
  completed_at AS processed_at,
  CAST(completed_at AS date) AS processed_date,
  dt
FROM moderation_videos
WHERE status = 'SUCCEEDED'
  AND flagged

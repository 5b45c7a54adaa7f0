-- Purpose: The 50 most severe flagged videos over a range of UTC days: highest label confidence first,
-- then the earliest processed, with the S3 URI, the categories that flagged each video and its source:
-- 'upload' or 'backfill' (rows written before the source column existed count as 'upload').
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
SELECT
  concat('s3://', bucket, '/', object_key) AS video_uri,
  coalesce(source, 'upload') AS source,
  max_confidence,
  CAST(floor(first_flagged_ms / 1e3) AS bigint) AS first_flagged_second,
  array_join(flagged_categories, ', ') AS flagged_categories,
  flagged_label_count,
  completed_at,
  dt,
  video_id
FROM moderation_videos
WHERE dt BETWEEN ? AND ?
  AND status = 'SUCCEEDED'
  AND flagged
ORDER BY max_confidence DESC, completed_at, video_id
LIMIT 50

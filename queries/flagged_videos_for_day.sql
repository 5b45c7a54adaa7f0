-- Purpose: Flagged videos processed on one UTC day, most severe first: the video's S3 URI, its highest
-- label confidence, the second of video where it was first flagged and the categories that flagged it, and
-- its source: 'upload' or 'backfill' (rows written before the source column existed count as 'upload').
-- Parameters:
--   day: the dt partition (UTC processing date), yyyy-MM-dd
SELECT
  concat('s3://', bucket, '/', object_key) AS video_uri,
  coalesce(source, 'upload') AS source,
  max_confidence,
  CAST(floor(first_flagged_ms / 1e3) AS bigint) AS first_flagged_second,
  array_join(flagged_categories, ', ') AS flagged_categories,
  flagged_label_count,
  label_count,
  duration_ms,
  completed_at,
  video_id,
  version_id,
  job_id
FROM moderation_videos
WHERE dt = ?
  AND status = 'SUCCEEDED'
  AND flagged
ORDER BY max_confidence DESC, first_flagged_ms, video_id

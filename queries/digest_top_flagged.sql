-- Purpose: The daily digest's most severe flagged videos of the digest day (at most 10): highest
-- max confidence first, then the earliest completed.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
SELECT
  video_id,
  bucket,
  object_key,
  version_id,
  max_confidence,
  first_flagged_ms,
  array_join(flagged_categories, ', ') AS flagged_categories,
  flagged_label_count,
  duration_ms,
  completed_at
FROM moderation_videos
WHERE dt BETWEEN ? AND ?
  AND completed_at >= CAST(? AS timestamp)
  AND completed_at < CAST(? AS timestamp)
  AND status = 'SUCCEEDED'
  AND flagged
ORDER BY max_confidence DESC, completed_at, video_id
LIMIT 10

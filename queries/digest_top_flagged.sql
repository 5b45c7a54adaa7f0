-- Purpose: The daily digest's most severe flagged videos of the digest day: the 10 most severe uploads
-- and the 5 most severe backfill videos (a quota per source, so a backfill of thousands cannot crowd the
-- uploads out), in one list ordered by highest max confidence, then the earliest completed. source is
-- 'upload' or 'backfill' (rows written before the source column existed count as 'upload').
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
WITH ranked AS (
  SELECT
    video_id,
    bucket,
    object_key,
    version_id,
    coalesce(source, 'upload') AS source,
    max_confidence,
    first_flagged_ms,
    array_join(flagged_categories, ', ') AS flagged_categories,
    flagged_label_count,
    duration_ms,
    completed_at,
    row_number() OVER (
      PARTITION BY coalesce(source, 'upload')
      ORDER BY max_confidence DESC, completed_at, video_id
    ) AS rank_in_source
  FROM moderation_videos
  WHERE dt BETWEEN ? AND ?
    AND completed_at >= CAST(? AS timestamp)
    AND completed_at < CAST(? AS timestamp)
    AND status = 'SUCCEEDED'
    AND flagged
)
SELECT
  video_id,
  bucket,
  object_key,
  version_id,
  source,
  max_confidence,
  first_flagged_ms,
  flagged_categories,
  flagged_label_count,
  duration_ms,
  completed_at
FROM ranked
WHERE rank_in_source <= IF(source = 'backfill', 5, 10)
ORDER BY max_confidence DESC, completed_at, video_id

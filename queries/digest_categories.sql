-- Purpose: The daily digest's categories: per source and top-level moderation category, how many videos
-- of the digest day it was detected in and how many it flagged. source is 'upload' or 'backfill' (rows
-- written before the source column existed count as 'upload'), so a backfill does not swamp the uploads.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
SELECT
  coalesce(source, 'upload') AS source,
  category,
  count(*) AS detected_videos,
  count_if(contains(flagged_categories, category)) AS flagged_videos
FROM moderation_videos
CROSS JOIN UNNEST(categories) AS detected(category)
WHERE dt BETWEEN ? AND ?
  AND completed_at >= CAST(? AS timestamp)
  AND completed_at < CAST(? AS timestamp)
  AND status = 'SUCCEEDED'
GROUP BY coalesce(source, 'upload'), category
ORDER BY coalesce(source, 'upload') DESC, flagged_videos DESC, detected_videos DESC, category

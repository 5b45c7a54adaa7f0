-- Purpose: The daily digest's categories: per top-level moderation category, how many videos of
-- the digest day it was detected in and how many it flagged.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
SELECT
  category,
  count(*) AS detected_videos,
  count_if(contains(flagged_categories, category)) AS flagged_videos
FROM moderation_videos
CROSS JOIN UNNEST(categories) AS detected(category)
WHERE dt BETWEEN ? AND ?
  AND completed_at >= CAST(? AS timestamp)
  AND completed_at < CAST(? AS timestamp)
  AND status = 'SUCCEEDED'
GROUP BY category
ORDER BY flagged_videos DESC, detected_videos DESC, category

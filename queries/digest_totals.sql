-- Purpose: The daily digest's totals: videos with an outcome in one digest day, by source and outcome.
-- The digest day is a calendar day in the digest's time zone: [period_start, period_end) in UTC,
-- and day_from..day_to are the UTC dt partitions that period touches (so Athena reads only those).
-- source is 'upload' or 'backfill' (rows written before the source column existed count as 'upload'):
-- one row per source the day had videos from, so a day without backfill has only the upload row.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
SELECT
  coalesce(source, 'upload') AS source,
  count(*) AS videos,
  count_if(status = 'SUCCEEDED') AS moderated,
  count_if(status = 'SUCCEEDED' AND flagged) AS flagged,
  count_if(status = 'FAILED') AS failed,
  count_if(status = 'SKIPPED') AS skipped,
  coalesce(sum(IF(status = 'SUCCEEDED', duration_ms)), 0) AS moderated_duration_ms
FROM moderation_videos
WHERE dt BETWEEN ? AND ?
  AND completed_at >= CAST(? AS timestamp)
  AND completed_at < CAST(? AS timestamp)
GROUP BY coalesce(source, 'upload')
ORDER BY coalesce(source, 'upload') DESC

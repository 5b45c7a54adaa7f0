-- Purpose: The daily digest's 7-day trend: outcomes per 15-minute UTC bucket and source over the digest's
-- last seven days. The digest folds the buckets into calendar days of its time zone (every time
-- zone offset is a multiple of 15 minutes, so each bucket falls in exactly one local day), and keeps
-- backfill apart so a backfill's day does not flatten the uploads' chart. source is 'upload' or
-- 'backfill' (rows written before the source column existed count as 'upload').
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the first trend day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
SELECT
  CAST(floor(to_unixtime(completed_at) / 900) AS bigint) * 900 AS bucket_start_epoch,
  coalesce(source, 'upload') AS source,
  count_if(status = 'SUCCEEDED') AS moderated,
  count_if(status = 'SUCCEEDED' AND flagged) AS flagged,
  count_if(status = 'FAILED') AS failed,
  count_if(status = 'SKIPPED') AS skipped
FROM moderation_videos
WHERE dt BETWEEN ? AND ?
  AND completed_at >= CAST(? AS timestamp)
  AND completed_at < CAST(? AS timestamp)
GROUP BY 1, 2
ORDER BY 1, 2 DESC

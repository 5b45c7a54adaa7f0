-- Purpose: Volume per UTC day and source over a range of days: videos with an outcome, how many were
-- moderated, flagged, failed and skipped, the hours of video moderated, and the bytes received and moderated.
-- source is how the videos reached modlake: 'upload' (their S3 upload event) or 'backfill' (`modlake
-- backfill` over stored objects); rows written before the source column existed count as 'upload'.
-- One row per day and source, uploads first: a day without backfill has only its upload row, and days
-- without any video have no row.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
SELECT
  dt,
  coalesce(source, 'upload') AS source,
  count(*) AS videos,
  count_if(status = 'SUCCEEDED') AS moderated,
  count_if(status = 'SUCCEEDED' AND flagged) AS flagged,
  count_if(status = 'FAILED') AS failed,
  count_if(status = 'SKIPPED') AS skipped,
  coalesce(sum(IF(status = 'SUCCEEDED', duration_ms)), 0) / 3.6e6 AS moderated_hours,
  coalesce(sum(size_bytes), 0) AS received_bytes,
  coalesce(sum(IF(status = 'SUCCEEDED', size_bytes)), 0) AS moderated_bytes
FROM moderation_videos
WHERE dt BETWEEN ? AND ?
GROUP BY dt, coalesce(source, 'upload')
ORDER BY dt, coalesce(source, 'upload') DESC

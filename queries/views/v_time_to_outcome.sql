-- Purpose: One row per UTC processing day (dt) and source with videos: how long videos took from their upload
-- (uploaded_at) to their outcome (completed_at, moderated, failed or skipped), in seconds: the median (p50),
-- the 95th percentile (p95, both approximate, as Athena's approx_percentile computes them) and the longest,
-- for QuickSight latency charts. source is 'upload' or 'backfill' (rows written before the source column
-- existed count as 'upload'); a backfilled video's upload was long before modlake saw it, so split on source.
-- Filter on dt so Athena reads only the partitions you need.
-- Parameters: none
SELECT
  dt,
  CAST(dt AS date) AS processed_date,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  CAST(count(*) AS bigint) AS videos,
  CAST(approx_percentile(date_diff('millisecond', uploaded_at, completed_at), 0.5) / 1e3 AS double) AS p50_seconds,
  CAST(approx_percentile(date_diff('millisecond', uploaded_at, completed_at), 0.95) / 1e3 AS double) AS p95_seconds,
  CAST(max(date_diff('millisecond', uploaded_at, completed_at)) / 1e3 AS double) AS max_seconds
FROM moderation_videos
WHERE uploaded_at IS NOT NULL
  AND completed_at IS NOT NULL
GROUP BY dt, coalesce(source, 'upload')

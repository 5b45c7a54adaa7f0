-- Purpose: One row per UTC processing day (dt) and source with videos: how many videos reached an outcome,
-- how many were moderated, flagged, failed and skipped, the hours of video moderated, the bytes received, the
-- detections and the highest label confidence, for QuickSight trend charts. source is 'upload' or
-- 'backfill' (rows written before the source column existed count as 'upload'): split or filter on it, or
-- sum over it for a day's total. Filter on dt so Athena reads only the partitions you need.
-- Parameters: none
SELECT
  dt,
  CAST(dt AS date) AS processed_date,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  CAST(count(*) AS bigint) AS videos,
  CAST(count_if(status = 'SUCCEEDED') AS bigint) AS moderated,
  CAST(count_if(status = 'SUCCEEDED' AND flagged) AS bigint) AS flagged,
  CAST(count_if(status = 'FAILED') AS bigint) AS failed,
  CAST(count_if(status = 'SKIPPED') AS bigint) AS skipped,
  CAST(coalesce(sum(IF(status = 'SUCCEEDED', duration_ms)), 0) / 3.6e6 AS double) AS moderated_hours,
  CAST(coalesce(sum(size_bytes), 0) AS bigint) AS received_bytes,
  CAST(coalesce(sum(label_count), 0) AS bigint) AS detections,
  CAST(coalesce(sum(flagged_label_count), 0) AS bigint) AS flagged_detections,
  CAST(max(max_confidence) AS double) AS max_confidence
FROM moderation_videos
GROUP BY dt, coalesce(source, 'upload')

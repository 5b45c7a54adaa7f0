-- Purpose: One row per UTC processing day (dt), source and top-level moderation category: the detections,
-- how many reached the flag threshold, the distinct videos the category was detected in and flagged, and
-- the highest and average confidence, for QuickSight category charts. source is 'upload' or 'backfill'
-- (rows written before the source column existed count as 'upload'). Filter on dt so Athena reads only
-- the partitions you need.
-- Parameters: none
SELECT
  dt,
  CAST(dt AS date) AS processed_date,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  top_category,
  CAST(count(*) AS bigint) AS detections,
  CAST(count_if(flagged) AS bigint) AS flagged_detections,
  CAST(count(DISTINCT video_id) AS bigint) AS videos,
  CAST(count(DISTINCT IF(flagged, video_id)) AS bigint) AS flagged_videos,
  CAST(max(confidence) AS double) AS max_confidence,
  CAST(avg(confidence) AS double) AS avg_confidence
FROM moderation_labels
GROUP BY dt, coalesce(source, 'upload'), top_category

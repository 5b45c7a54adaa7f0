-- Purpose: The review queue as the lake sees it: one row per flagged video that has no verdict yet, with its
-- S3 URI and source, the categories that flagged it, its highest confidence and when it was flagged (processed).
-- Sort on processed_at for oldest first. The review API answers the same question from DynamoDB at once; this
-- view is for dashboards and SQL. It reads every verdict (a small table: one row per human decision); filter on
-- dt (the UTC day the video was processed) to read only those days of moderation_videos.
-- Parameters: none
SELECT
  v.video_id,
  CAST(concat('s3://', v.bucket, '/', v.object_key) AS varchar) AS video_uri,
  v.bucket,
  v.object_key,
  v.version_id,
  CAST(coalesce(v.source, 'upload') AS varchar) AS source,
  CAST(array_join(v.flagged_categories, ', ') AS varchar) AS flagged_categories,
  v.max_confidence,
  v.completed_at AS processed_at,
  CAST(v.completed_at AS date) AS processed_date,
  v.dt
FROM moderation_videos AS v
LEFT JOIN (
  SELECT DISTINCT video_id
  FROM moderation_verdicts
) AS reviewed
  ON reviewed.video_id = v.video_id
WHERE v.status = 'SUCCEEDED'
  AND v.flagged
  AND reviewed.video_id IS NULL

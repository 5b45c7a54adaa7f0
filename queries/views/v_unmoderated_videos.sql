-- Purpose: One row per video modlake could not moderate: FAILED (Rekognition refused the request or the job
-- failed) or SKIPPED (not a video it moderates), with the reason, the S3 URI and key, when it was uploaded and
-- reached its outcome, and its source: 'upload' or 'backfill' (rows written before the source column existed
-- count as 'upload'), for QuickSight charts of failures and skips by reason. Filter on dt (the UTC processing
-- date, yyyy-MM-dd) so Athena reads only the partitions you need.
-- Parameters: none
SELECT
  video_id,
  CAST(concat('s3://', bucket, '/', object_key) AS varchar) AS video_uri,
  bucket,
  object_key,
  version_id,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  status,
  CAST(coalesce(nullif(status_reason, ''), 'unknown') AS varchar) AS reason,
  job_id,
  size_bytes,
  uploaded_at,
  completed_at AS processed_at,
  CAST(completed_at AS date) AS processed_date,
  dt
FROM moderation_videos
WHERE status IN ('FAILED', 'SKIPPED')

-- Purpose: Videos modlake could not moderate over a range of UTC days: FAILED (Rekognition refused the
-- request or the job failed) and SKIPPED (not a video it moderates), with the reason and the source ('upload'
-- or 'backfill'; rows written before the source column existed count as 'upload'), newest first.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
SELECT
  status,
  status_reason,
  concat('s3://', bucket, '/', object_key) AS video_uri,
  coalesce(source, 'upload') AS source,
  object_key,
  version_id,
  job_id,
  size_bytes,
  uploaded_at,
  completed_at,
  video_id
FROM moderation_videos
WHERE dt BETWEEN ? AND ?
  AND status IN ('FAILED', 'SKIPPED')
ORDER BY completed_at DESC, video_id

-- Purpose: One row per reviewer's verdict on a flagged video (the append-only history, a re-review is a new
-- row): the video's S3 URI and source, confirmed or overturned, the category the verdict is about (the one the
-- reviewer named, else the video's top flagged category), the reviewer's IAM ARN and note, and the video's
-- highest confidence at review time. Filter on dt (the UTC day the verdict was recorded, yyyy-MM-dd) so Athena
-- reads only the partitions you need.
-- Parameters: none
SELECT
  verdict_id,
  video_id,
  CAST(concat('s3://', bucket, '/', object_key) AS varchar) AS video_uri,
  bucket,
  object_key,
  version_id,
  CAST(coalesce(source, 'upload') AS varchar) AS source,
  verdict,
  CAST(coalesce(category, top_category) AS varchar) AS category,
  category AS reviewer_category,
  top_category,
  max_confidence,
  reviewer,
  note,
  recorded_at,
  CAST(recorded_at AS date) AS recorded_date,
  dt
FROM moderation_verdicts

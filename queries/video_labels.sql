-- Purpose: One video's detections in video-time order (what `modlake labels` shows when DynamoDB does
-- not hold all of them). A video's labels live in the dt partition of the day its results were collected.
-- Parameters:
--   day: the dt partition of the video's results (UTC date of its completed_at), yyyy-MM-dd
--   video_id: the modlake video id
SELECT
  timestamp_ms,
  label_name,
  parent_name,
  top_category,
  confidence,
  flagged
FROM moderation_labels
WHERE dt = ?
  AND video_id = ?
ORDER BY timestamp_ms, detection_index

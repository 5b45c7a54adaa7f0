-- Purpose: Detections per top-level moderation category over a range of UTC days: how many detections,
-- how many of them reached their category's flag threshold, in how many distinct videos, and the
-- highest confidence seen.
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
SELECT
  top_category,
  count(*) AS detections,
  count_if(flagged) AS flagged_detections,
  count(DISTINCT video_id) AS videos,
  max(confidence) AS max_confidence
FROM moderation_labels
WHERE dt BETWEEN ? AND ?
GROUP BY top_category
ORDER BY flagged_detections DESC, detections DESC, top_category

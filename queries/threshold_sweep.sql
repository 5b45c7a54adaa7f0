-- Purpose: Which flag threshold would have kept what reviewers confirmed, and how many overturned videos it
-- would still flag: per top-level category (the one the verdict names, else the video's top flagged category)
-- and per threshold from 50 to 95 in steps of 5, over the videos whose latest verdict in the range was
-- recorded between day_from and day_to (UTC days), judged by each video's highest confidence at review time.
-- A threshold keeps a video when that confidence is at least the threshold.
-- Parameters:
--   day_from: first dt partition of moderation_verdicts (the day verdicts were recorded), yyyy-MM-dd
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
WITH ranked AS (
  SELECT
    verdict,
    coalesce(category, top_category) AS category,
    max_confidence,
    row_number() OVER (PARTITION BY video_id ORDER BY recorded_at DESC, verdict_id DESC) AS newest_first
  FROM moderation_verdicts
  WHERE dt BETWEEN ? AND ?
),
latest AS (
  SELECT verdict, category, max_confidence
  FROM ranked
  WHERE newest_first = 1
),
thresholds AS (
  SELECT threshold
  FROM UNNEST(sequence(50, 95, 5)) AS t (threshold)
)
SELECT
  l.category,
  t.threshold,
  count_if(l.verdict = 'confirmed') AS confirmed,
  count_if(l.verdict = 'confirmed' AND l.max_confidence >= t.threshold) AS confirmed_still_flagged,
  count_if(l.verdict = 'overturned') AS overturned,
  count_if(l.verdict = 'overturned' AND l.max_confidence >= t.threshold) AS overturned_still_flagged
FROM latest AS l
CROSS JOIN thresholds AS t
GROUP BY l.category, t.threshold
ORDER BY l.category, t.threshold

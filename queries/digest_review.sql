-- Purpose: The daily digest's review line: the flagged videos awaiting a verdict at the end of the digest day
-- (as the lake saw them then: flagged before period_end, no verdict recorded before it) and since when the
-- oldest has waited, and the verdicts recorded during the day and how many of them overturned a flag. The
-- digest day is [period_start, period_end) in UTC; day_from..day_to are the dt partitions of moderation_verdicts
-- that period touches. The queue is counted over every partition of moderation_videos and moderation_verdicts
-- (a few columns of one row per video, and one row per human decision).
-- Parameters:
--   day_from: first dt partition, yyyy-MM-dd (inclusive)
--   day_to: last dt partition, yyyy-MM-dd (inclusive)
--   period_start: start of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (inclusive)
--   period_end: end of the digest day in UTC, 'yyyy-MM-dd HH:mm:ss' (exclusive)
WITH bounds AS (
  SELECT
    ? AS day_from,
    ? AS day_to,
    CAST(? AS timestamp) AS period_start,
    CAST(? AS timestamp) AS period_end
),
verdicts AS (
  SELECT r.video_id, r.verdict, r.recorded_at, r.dt
  FROM moderation_verdicts AS r
  CROSS JOIN bounds AS b
  WHERE r.recorded_at < b.period_end
),
awaiting AS (
  SELECT v.video_id, v.completed_at
  FROM moderation_videos AS v
  CROSS JOIN bounds AS b
  WHERE v.status = 'SUCCEEDED'
    AND v.flagged
    AND v.completed_at < b.period_end
    AND NOT EXISTS (SELECT 1 FROM verdicts AS r WHERE r.video_id = v.video_id)
),
today AS (
  SELECT r.verdict
  FROM verdicts AS r
  CROSS JOIN bounds AS b
  WHERE r.dt BETWEEN b.day_from AND b.day_to
    AND r.recorded_at >= b.period_start
)
SELECT
  (SELECT count(*) FROM awaiting) AS awaiting,
  (SELECT min(completed_at) FROM awaiting) AS oldest_awaiting_since,
  (SELECT count(*) FROM today) AS reviewed,
  (SELECT count_if(verdict = 'overturned') FROM today) AS overturned

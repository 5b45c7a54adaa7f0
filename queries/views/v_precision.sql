-- Purpose: How often reviewers confirm what modlake flags, per top-level category (top_category: the one the
-- verdict names, else the video's top flagged category), source and confidence band
-- (10 points wide, by the video's highest confidence at review time): videos reviewed, confirmed, overturned and
-- the overturn rate, counting each video once, by its latest verdict. dt is the UTC day of that latest verdict:
-- sum reviewed, confirmed and overturned over the days you want (then divide) rather than averaging
-- overturn_rate. It reads every verdict (a small table: one row per human decision).
-- Parameters: none
SELECT
  CAST(category AS varchar) AS top_category,
  CAST(source AS varchar) AS source,
  CAST(band_from AS bigint) AS confidence_from,
  CAST(band_from + 10 AS bigint) AS confidence_to,
  CAST(count(*) AS bigint) AS reviewed,
  CAST(count_if(verdict = 'confirmed') AS bigint) AS confirmed,
  CAST(count_if(verdict = 'overturned') AS bigint) AS overturned,
  CAST(CAST(count_if(verdict = 'overturned') AS double) / count(*) AS double) AS overturn_rate,
  CAST(dt AS date) AS recorded_date,
  dt
FROM (
  SELECT
    dt,
    verdict,
    coalesce(category, top_category) AS category,
    coalesce(source, 'upload') AS source,
    CAST(least(floor(max_confidence / 10) * 10, 90) AS bigint) AS band_from,
    row_number() OVER (PARTITION BY video_id ORDER BY recorded_at DESC, verdict_id DESC) AS newest_first
  FROM moderation_verdicts
) AS ranked
WHERE newest_first = 1
GROUP BY dt, category, source, band_from

WITH "b_policy_snapshot" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ)) AS "bucket",
    MAX("e"."snapshot_date") AS "last_time",
    LAG(MAX("e"."snapshot_date")) OVER (
      ORDER BY TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ))
    ) AS "opening_time"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  WHERE
    "e"."snapshot_date" >= %(lookback_start_date)s
    AND "e"."snapshot_date" < %(end_date)s
    AND "e"."lob" = %(p5)s
  GROUP BY
    1
), "o_start_count" AS (
  SELECT
    "b"."bucket" AS "bucket",
    COUNT(DISTINCT "e"."policy_id") FILTER(WHERE
      (
        "e"."status" = %(p4)s
      )) AS "a0"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  JOIN "b_policy_snapshot" AS "b"
    ON "e"."snapshot_date" = "b"."opening_time"
  WHERE
    "e"."snapshot_date" >= %(lookback_start_date)s
    AND "e"."snapshot_date" < %(end_date)s
    AND "e"."lob" = %(p3)s
  GROUP BY
    1
), "k_start_count" AS (
  SELECT
    "bucket"
  FROM "o_start_count"
), "m_start_count" AS (
  SELECT
    "k"."bucket" AS "bucket",
    "o"."a0" AS "value"
  FROM "k_start_count" AS "k"
  LEFT JOIN "o_start_count" AS "o"
    ON "o"."bucket" IS NOT DISTINCT FROM "k"."bucket"
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."value" AS "value"
FROM "m_start_count" AS "m"
ORDER BY
  "m"."bucket"

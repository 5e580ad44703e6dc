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
  GROUP BY
    1
), "m_end_count" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ)) AS "bucket",
    COUNT(DISTINCT "e"."policy_id") FILTER(WHERE
      (
        "e"."status" = %(p3)s
      ) AND "e"."snapshot_date" = "b"."last_time") AS "value"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  JOIN "b_policy_snapshot" AS "b"
    ON "b"."bucket" = TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ))
  WHERE
    "e"."snapshot_date" >= %(start_date)s AND "e"."snapshot_date" < %(end_date)s
  GROUP BY
    1
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."value" AS "value"
FROM "m_end_count" AS "m"
ORDER BY
  "m"."bucket"

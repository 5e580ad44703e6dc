WITH "m_last_premium" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ)) AS "bucket",
    "e"."lob" AS "d0",
    LAST("e"."premium", "e"."snapshot_date") AS "value"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  WHERE
    "e"."snapshot_date" >= %(start_date)s AND "e"."snapshot_date" < %(end_date)s
  GROUP BY
    1,
    2
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."d0" AS "d0",
  "m"."value" AS "value"
FROM "m_last_premium" AS "m"
ORDER BY
  "m"."bucket",
  "m"."d0"

WITH "m_active_premium" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ)) AS "bucket",
    SUM("e"."premium") FILTER(WHERE
      (
        "e"."status" = %(p3)s
      )) AS "value"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  WHERE
    "e"."snapshot_date" >= %(start_date)s AND "e"."snapshot_date" < %(end_date)s
  GROUP BY
    1
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."value" AS "value"
FROM "m_active_premium" AS "m"
ORDER BY
  "m"."bucket"

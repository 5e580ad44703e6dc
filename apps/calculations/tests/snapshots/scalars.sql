WITH "m_premium_mix" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ)) AS "bucket",
    (
      ROUND(
        CAST((
          CAST(COALESCE(
            SUM(CASE WHEN (
              "e"."status" = %(p3)s
            ) THEN "e"."premium" ELSE %(p4)s END),
            %(p5)s
          ) AS DECIMAL) / NULLIF(CAST(COUNT(*) AS DECIMAL), 0)
        ) AS DECIMAL),
        CAST(%(p6)s AS INT)
      ) + SUM(
        CASE
          WHEN (
            "e"."premium" > %(p7)s
          )
          THEN %(p8)s
          WHEN NOT "e"."lob" IS NULL
          THEN %(p9)s
          ELSE %(p10)s
        END
      )
    ) AS "value"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  WHERE
    "e"."snapshot_date" >= %(start_date)s AND "e"."snapshot_date" < %(end_date)s
  GROUP BY
    1
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."value" AS "value"
FROM "m_premium_mix" AS "m"
ORDER BY
  "m"."bucket"

WITH "m_p95_order" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."ordered_at" AS TIMESTAMPTZ)) AS "bucket",
    PERCENTILE_CONT(CAST(%(p3)s AS DOUBLE PRECISION)) WITHIN GROUP (ORDER BY
      "e"."amount") FILTER(WHERE
      (
        "e"."amount" > %(p4)s
      )) AS "value"
  FROM "analytics_data"."c7_sales_orders" AS "e"
  WHERE
    "e"."ordered_at" >= %(start)s AND "e"."ordered_at" < %(end)s
  GROUP BY
    1
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."value" AS "value"
FROM "m_p95_order" AS "m"
ORDER BY
  "m"."bucket"

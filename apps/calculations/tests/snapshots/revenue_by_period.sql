WITH "m_revenue" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."ordered_at" AS TIMESTAMPTZ)) AS "bucket",
    SUM("e"."amount") AS "value"
  FROM "analytics_data"."c7_sales_orders" AS "e"
  WHERE
    "e"."ordered_at" >= %(start)s AND "e"."ordered_at" < %(end)s
  GROUP BY
    1
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."value" AS "value"
FROM "m_revenue" AS "m"
ORDER BY
  "m"."bucket"

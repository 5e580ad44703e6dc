WITH "m_average_order" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."ordered_at" AS TIMESTAMPTZ)) AS "bucket",
    "e"."salesperson_id" AS "d0",
    AVG("e"."amount") AS "value"
  FROM "analytics_data"."c7_sales_orders" AS "e"
  WHERE
    "e"."ordered_at" >= %(start)s AND "e"."ordered_at" < %(end)s
  GROUP BY
    1,
    2
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."d0" AS "d0",
  "m"."value" AS "value"
FROM "m_average_order" AS "m"
ORDER BY
  "m"."bucket",
  "m"."d0"

WITH "m_revenue" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."ordered_at" AS TIMESTAMPTZ)) AS "bucket",
    "j1"."region" AS "d0",
    SUM("e"."amount") AS "value"
  FROM "analytics_data"."c7_sales_orders" AS "e"
  LEFT JOIN "analytics_data"."c7_sales_people" AS "j1"
    ON "e"."salesperson_id" = "j1"."salesperson_id"
  WHERE
    "e"."ordered_at" >= %(start)s
    AND "e"."ordered_at" < %(end)s
    AND "j1"."region" IN (%(p3)s, %(p4)s)
    AND "e"."paid" = %(p5)s
    AND "j1"."region" = %(p6)s
    AND "e"."amount" >= %(p7)s
    AND "j1"."left_on" IS NULL
  GROUP BY
    1,
    2
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."d0" AS "d0",
  "m"."value" AS "value"
FROM "m_revenue" AS "m"
ORDER BY
  "m"."bucket",
  "m"."d0"

WITH "m_headcount" AS (
  SELECT
    CAST(NULL AS TIMESTAMPTZ) AS "bucket",
    "e"."region" AS "d0",
    COUNT(DISTINCT "e"."salesperson_id") AS "value"
  FROM "analytics_data"."c7_sales_people" AS "e"
  GROUP BY
    2
), "m_revenue" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."ordered_at" AS TIMESTAMPTZ)) AS "bucket",
    "j1"."region" AS "d0",
    SUM("e"."amount") AS "value"
  FROM "analytics_data"."c7_sales_orders" AS "e"
  LEFT JOIN "analytics_data"."c7_sales_people" AS "j1"
    ON "e"."salesperson_id" = "j1"."salesperson_id"
  WHERE
    "e"."ordered_at" >= %(start)s AND "e"."ordered_at" < %(end)s
  GROUP BY
    1,
    2
), "k_sales_efficiency" AS (
  SELECT
    "bucket",
    "d0"
  FROM "m_revenue"
), "m_sales_efficiency" AS (
  SELECT
    "k"."bucket" AS "bucket",
    "k"."d0" AS "d0",
    (
      CAST("r1"."value" AS DECIMAL) / NULLIF(CAST("r0"."value" AS DECIMAL), 0)
    ) AS "value"
  FROM "k_sales_efficiency" AS "k"
  LEFT JOIN "m_headcount" AS "r0"
    ON "r0"."d0" IS NOT DISTINCT FROM "k"."d0"
  LEFT JOIN "m_revenue" AS "r1"
    ON "r1"."bucket" IS NOT DISTINCT FROM "k"."bucket"
    AND "r1"."d0" IS NOT DISTINCT FROM "k"."d0"
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."d0" AS "d0",
  "m"."value" AS "value"
FROM "m_sales_efficiency" AS "m"
ORDER BY
  "m"."bucket",
  "m"."d0"

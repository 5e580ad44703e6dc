WITH "m__q0" AS (
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
), "m__q1" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."ordered_at" AS TIMESTAMPTZ)) AS "bucket",
    "j1"."region" AS "d0",
    COUNT("e"."order_id") FILTER(WHERE
      (
        "e"."amount" > %(p3)s
      )) AS "value"
  FROM "analytics_data"."c7_sales_orders" AS "e"
  LEFT JOIN "analytics_data"."c7_sales_people" AS "j1"
    ON "e"."salesperson_id" = "j1"."salesperson_id"
  WHERE
    "e"."ordered_at" >= %(start)s AND "e"."ordered_at" < %(end)s
  GROUP BY
    1,
    2
), "k" AS (
  SELECT
    "bucket",
    "d0"
  FROM "m__q0"
  UNION
  SELECT
    "bucket",
    "d0"
  FROM "m__q1"
)
SELECT
  "k"."bucket" AS "bucket",
  "k"."d0" AS "d0",
  "r0"."value" AS "v0",
  "r1"."value" AS "v1"
FROM "k" AS "k"
LEFT JOIN "m__q0" AS "r0"
  ON "r0"."bucket" IS NOT DISTINCT FROM "k"."bucket"
  AND "r0"."d0" IS NOT DISTINCT FROM "k"."d0"
LEFT JOIN "m__q1" AS "r1"
  ON "r1"."bucket" IS NOT DISTINCT FROM "k"."bucket"
  AND "r1"."d0" IS NOT DISTINCT FROM "k"."d0"
ORDER BY
  "k"."bucket",
  "k"."d0"

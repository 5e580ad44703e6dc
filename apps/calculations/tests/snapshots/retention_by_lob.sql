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
    "e"."lob" AS "d0",
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
    1,
    2
), "m_new_count" AS (
  SELECT
    TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ)) AS "bucket",
    "e"."lob" AS "d0",
    COUNT(DISTINCT "e"."policy_id") FILTER(WHERE
      (
        (
          "e"."status" = %(p5)s
        )
        AND (
          "e"."start_date" >= TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ))
        )
      )
      AND "e"."snapshot_date" = "b"."last_time") AS "value"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  JOIN "b_policy_snapshot" AS "b"
    ON "b"."bucket" = TIME_BUCKET(CAST(%(width)s AS INTERVAL), CAST("e"."snapshot_date" AS TIMESTAMPTZ))
  WHERE
    "e"."snapshot_date" >= %(start_date)s AND "e"."snapshot_date" < %(end_date)s
  GROUP BY
    1,
    2
), "o_start_count" AS (
  SELECT
    "b"."bucket" AS "bucket",
    "e"."lob" AS "d0",
    COUNT(DISTINCT "e"."policy_id") FILTER(WHERE
      (
        "e"."status" = %(p6)s
      )) AS "a0"
  FROM "analytics_data"."c7_policy_snapshot" AS "e"
  JOIN "b_policy_snapshot" AS "b"
    ON "e"."snapshot_date" = "b"."opening_time"
  WHERE
    "e"."snapshot_date" >= %(lookback_start_date)s
    AND "e"."snapshot_date" < %(end_date)s
  GROUP BY
    1,
    2
), "k_start_count" AS (
  SELECT
    "bucket",
    "d0"
  FROM "o_start_count"
), "m_start_count" AS (
  SELECT
    "k"."bucket" AS "bucket",
    "k"."d0" AS "d0",
    "o"."a0" AS "value"
  FROM "k_start_count" AS "k"
  LEFT JOIN "o_start_count" AS "o"
    ON "o"."bucket" IS NOT DISTINCT FROM "k"."bucket"
    AND "o"."d0" IS NOT DISTINCT FROM "k"."d0"
), "k_retention_rate" AS (
  SELECT
    "bucket",
    "d0"
  FROM "m_end_count"
  UNION
  SELECT
    "bucket",
    "d0"
  FROM "m_new_count"
  UNION
  SELECT
    "bucket",
    "d0"
  FROM "m_start_count"
), "m_retention_rate" AS (
  SELECT
    "k"."bucket" AS "bucket",
    "k"."d0" AS "d0",
    (
      CAST((
        "r0"."value" - "r1"."value"
      ) AS DECIMAL) / NULLIF(CAST("r2"."value" AS DECIMAL), 0)
    ) AS "value"
  FROM "k_retention_rate" AS "k"
  LEFT JOIN "m_end_count" AS "r0"
    ON "r0"."bucket" IS NOT DISTINCT FROM "k"."bucket"
    AND "r0"."d0" IS NOT DISTINCT FROM "k"."d0"
  LEFT JOIN "m_new_count" AS "r1"
    ON "r1"."bucket" IS NOT DISTINCT FROM "k"."bucket"
    AND "r1"."d0" IS NOT DISTINCT FROM "k"."d0"
  LEFT JOIN "m_start_count" AS "r2"
    ON "r2"."bucket" IS NOT DISTINCT FROM "k"."bucket"
    AND "r2"."d0" IS NOT DISTINCT FROM "k"."d0"
)
SELECT
  "m"."bucket" AS "bucket",
  "m"."d0" AS "d0",
  "m"."value" AS "value"
FROM "m_retention_rate" AS "m"
ORDER BY
  "m"."bucket",
  "m"."d0"

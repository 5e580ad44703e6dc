"""`ae_tdigest_percentile_cont(digest, p)`: a percentile read from a t-digest
with `percentile_cont`'s definition, so approximate mode agrees with exact
mode (issue #14, item 4).

The extension's own `tdigest_percentile` places the i-th of n values at
(i - 0.5) / n; `percentile_cont` places it at i / (n - 1) and interpolates
linearly between the two values around p * (n - 1). This function does the
latter over the digest's centroids: a centroid of weight w whose values take
ranks s .. s + w - 1 (0-based, in mean order) stands at rank s + (w - 1) / 2,
and the answer interpolates between the two centroids around p * (n - 1).
A centroid of weight 1 is a value itself, so a digest that kept every value
(a small bucket) answers exactly what `percentile_cont` answers, with the
same floating-point operations. It is applied when reading, to a digest
aggregated over the rows or merged from rollup states, so digests stay
mergeable. The app's role creates it (plpgsql: no superuser needed)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION ae_tdigest_percentile_cont(digest tdigest, fraction double precision)
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
DECLARE
    -- {flags, count, compression, number of centroids, mean 1, weight 1, mean 2, weight 2, ...}
    parts double precision[] := tdigest_double_array(digest);
    k integer := parts[4]::integer;
    means double precision[];
    weights double precision[];
    target double precision;
    below double precision := 0;
    center double precision;
    previous_center double precision;
    previous_mean double precision;
BEGIN
    IF fraction < 0 OR fraction > 1 OR fraction = 'NaN' THEN
        -- What percentile_cont says (numeric_value_out_of_range).
        RAISE EXCEPTION 'percentile value % is not between 0 and 1', fraction USING ERRCODE = '22003';
    END IF;
    IF k = 0 THEN
        RETURN NULL;
    END IF;
    -- Compaction leaves the centroids in mean order; order them anyway.
    SELECT array_agg(parts[3 + 2 * i] ORDER BY parts[3 + 2 * i], parts[4 + 2 * i]),
           array_agg(parts[4 + 2 * i] ORDER BY parts[3 + 2 * i], parts[4 + 2 * i])
      INTO means, weights
      FROM generate_series(1, k) AS i;
    target := fraction * (parts[2] - 1);
    FOR i IN 1 .. k LOOP
        center := below + (weights[i] - 1) / 2;
        IF center >= target THEN
            IF center = target OR i = 1 THEN
                RETURN means[i];
            END IF;
            -- percentile_cont's lerp: lower + proportion * (upper - lower)
            RETURN previous_mean + ((target - previous_center) / (center - previous_center)) * (means[i] - previous_mean);
        END IF;
        previous_center := center;
        previous_mean := means[i];
        below := below + weights[i];
    END LOOP;
    RETURN means[k];
END
$fn$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("calculations", "0003_threshold_rules"),
        ("warehouse", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS ae_tdigest_percentile_cont(tdigest, double precision);"
        ),
    ]

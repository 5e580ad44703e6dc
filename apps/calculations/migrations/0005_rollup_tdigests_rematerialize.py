"""Rollups materialized before t-digests were built with compression 500
(rollup_spec.py) hold digests of compression 100, which keep every value
only up to 35 rows: merged with new ones they would not answer small buckets
exactly (issue #14, item 4). Each such rollup gets an invalidation from its
first old bucket to its watermark: the router answers that range from the raw
rows until the next refresh re-materializes it with the new compression."""

from django.conf import settings
from django.db import migrations

COMPRESSION = 500  # rollup_spec.py TDIGEST_COMPRESSION when this migration was written


def invalidate_old_digests(apps, schema_editor):
    from psycopg import sql

    Rollup = apps.get_model("calculations", "Rollup")
    RollupInvalidation = apps.get_model("calculations", "RollupInvalidation")
    schema = settings.ANALYTICS_SCHEMA
    with schema_editor.connection.cursor() as cursor:
        for rollup in Rollup.objects.exclude(watermark=None).order_by("pk"):
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "AND udt_name = 'tdigest' ORDER BY column_name",
                [schema, rollup.table_name],
            )
            columns = [row[0] for row in cursor.fetchall()]
            if not columns:
                continue
            old = sql.SQL(" OR ").join(
                sql.SQL("(tdigest_double_array({}))[3] <> {}").format(sql.Identifier(c), sql.Literal(COMPRESSION))
                for c in columns
            )
            cursor.execute(
                sql.SQL("SELECT min(bucket) FROM {} WHERE {}").format(sql.Identifier(schema, rollup.table_name), old)
            )
            first = cursor.fetchone()[0]
            if first is not None:
                RollupInvalidation.objects.create(rollup_id=rollup.pk, time_min=first, time_max=rollup.watermark)


class Migration(migrations.Migration):
    dependencies = [("calculations", "0004_tdigest_percentile_cont")]

    operations = [migrations.RunPython(invalidate_old_digests, migrations.RunPython.noop)]

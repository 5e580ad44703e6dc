"""The stream aggregator's tables (docs/live.md, "Stream aggregator").

`streams_telemetry_second` is a Zone 1 hypertable created by explicit SQL:
its primary key (client_id, sensor, device_id, bucket) ends with the time
column, as every unique index of a hypertable must, and is the natural key
of one second of one series, which the flush's upsert conflicts on. The
Django state is declared alongside (SeparateDatabaseAndState) so the ORM
knows the model without Django generating the DDL.

`streams_telemetry_dirty` (seconds to recompute, a queue) and
`streams_aggregator_state` (the per-client watermark) are small plain tables.
"""

import django.db.models.deletion
from django.db import migrations, models

SECOND_TABLE_SQL = """
CREATE TABLE streams_telemetry_second (
    client_id bigint NOT NULL REFERENCES core_client (id) DEFERRABLE INITIALLY DEFERRED,
    sensor varchar(100) NOT NULL,
    device_id varchar(100) NOT NULL,
    bucket timestamptz NOT NULL,
    count bigint NOT NULL,
    sum double precision NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    PRIMARY KEY (client_id, sensor, device_id, bucket)
);
-- "this sensor across devices over the last N seconds" (the current view)
CREATE INDEX streams_telemetry_second_sensor ON streams_telemetry_second (client_id, sensor, bucket DESC);
SELECT create_hypertable('streams_telemetry_second', by_range('bucket', INTERVAL '1 day'),
                         create_default_indexes => false);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("streams", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AggregatorState",
            fields=[
                (
                    "client",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="core.client",
                    ),
                ),
                ("watermark", models.DateTimeField(blank=True, null=True)),
                ("flushed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"db_table": "streams_aggregator_state"},
        ),
        migrations.CreateModel(
            name="TelemetryDirtySecond",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "client",
                        "sensor",
                        "device_id",
                        "bucket",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("sensor", models.CharField(max_length=100)),
                ("device_id", models.CharField(max_length=100)),
                ("bucket", models.DateTimeField()),
                ("touched_at", models.DateTimeField()),
                (
                    "client",
                    models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="core.client"
                    ),
                ),
            ],
            options={"db_table": "streams_telemetry_dirty"},
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(sql=SECOND_TABLE_SQL, reverse_sql="DROP TABLE streams_telemetry_second"),
            ],
            state_operations=[
                migrations.CreateModel(
                    name="TelemetrySecond",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "client",
                                "sensor",
                                "device_id",
                                "bucket",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("sensor", models.CharField(max_length=100)),
                        ("device_id", models.CharField(max_length=100)),
                        ("bucket", models.DateTimeField()),
                        ("count", models.BigIntegerField()),
                        ("sum", models.FloatField()),
                        ("min", models.FloatField()),
                        ("max", models.FloatField()),
                        (
                            "client",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="core.client",
                            ),
                        ),
                    ],
                    options={"db_table": "streams_telemetry_second"},
                ),
            ],
        ),
    ]

"""Retention and archival end to end, in one process, with simulated time
passage: rows older than the policy -> retention scan publishes an
ArchivalEvent -> the archival worker writes and verifies Parquet and publishes
a confirmation per chunk -> the warehouse drops exactly those chunks. Newer
chunks and their rows are untouched. Events travel through the real bus
(Redis Streams) and are applied the way the consumer runner applies them."""

from datetime import timedelta

import pyarrow.dataset as ds
import pytest
from django.db import connection
from django.utils import timezone
from psycopg import sql

from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.messaging.registry import handlers_discover
from apps.messaging.services import event_apply
from apps.warehouse.models import RetentionPolicy
from apps.warehouse.retention import RetentionManager, chunks_list
from apps.warehouse.services import ColumnSpec, hypertable_create

pytestmark = pytest.mark.django_db(transaction=True)
TABLE = "e2e_readings"


def _stream(topic: str):
    return [envelope_decode(fields) for _, fields in bus_connection().xrange(stream_key(topic))]


def _count(before=None) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE %s IS NULL OR observed_at < %s")
    with connection.cursor() as cursor:
        cursor.execute(query.format(sql.Identifier("analytics_data", TABLE)), [before, before])
        return cursor.fetchone()[0]


def test_old_chunks_are_archived_confirmed_and_dropped_newer_ones_stay(settings, tmp_path):
    settings.LAKEHOUSE_TARGETS = {
        "default": {"BACKEND": "apps.core.lakehouse.local.LocalLakehouse", "ROOT": str(tmp_path)}
    }
    hypertable_create(
        table=TABLE,
        columns=[
            ColumnSpec("observed_at", "timestamp", nullable=False),
            ColumnSpec("series", "string"),
            ColumnSpec("value", "double"),
        ],
        time_column="observed_at",
        chunk_interval="1 day",
    )
    now = timezone.now()
    old_days = [now - timedelta(days=d) for d in (42, 41, 40)]
    with connection.cursor() as cursor:
        for day_index, day in enumerate([*old_days, now - timedelta(hours=1)]):
            rows = [(day.replace(minute=i % 60), f"s{i % 5}", float(i + day_index)) for i in range(100 + day_index)]
            cursor.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(sql.Identifier("analytics_data", TABLE)), rows
            )
    old_rows = _count(before=now - timedelta(days=30))
    assert old_rows == 100 + 101 + 102
    RetentionPolicy.objects.create(table_name=TABLE, keep_for=timedelta(days=30))
    chunks_before = {c.chunk_name for c in chunks_list(table_name=TABLE)}
    assert len(chunks_before) >= 4

    RetentionManager().scan()
    handlers_discover()
    [request] = [e for e in _stream("archival.events") if e.payload["table_name"] == TABLE]
    requested = {c["chunk_name"] for c in request.payload["chunks"]}
    assert len(requested) == 3 and requested < chunks_before

    assert event_apply(envelope=request, group="archival")  # the archival worker
    confirmations = [e for e in _stream("archival.confirmations") if e.payload["table_name"] == TABLE]
    assert {c.payload["chunk_name"] for c in confirmations} == requested
    assert sum(c.payload["verified_row_count"] for c in confirmations) == old_rows
    assert _count() == old_rows + 103  # nothing dropped before the confirmations are applied

    for confirmation in confirmations:
        assert event_apply(envelope=confirmation, group="warehouse")  # the database side

    remaining = {c.chunk_name for c in chunks_list(table_name=TABLE)}
    assert remaining == chunks_before - requested
    assert _count() == 103  # the recent day's rows, untouched
    dataset = ds.dataset(tmp_path / TABLE, format="parquet", partitioning="hive")
    assert dataset.count_rows() == old_rows
    assert set(dataset.schema.names) >= {"observed_at", "series", "value"}

    # Applying the same events again changes nothing (idempotent per group).
    assert not event_apply(envelope=request, group="archival")
    assert not event_apply(envelope=confirmations[0], group="warehouse")
    assert ds.dataset(tmp_path / TABLE, format="parquet", partitioning="hive").count_rows() == old_rows

"""Fixtures of the archival worker tests: a small hypertable with old rows in
several 1-day chunks, the lakehouse in tmp_path, ArchivalEvents built from
the real chunks, and the confirmations read back from the bus."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from psycopg import sql

from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.warehouse.services import ColumnSpec, hypertable_create
from apps.warehouse.services.copy import rows_copy
from apps.warehouse.types import ARCHIVAL_CONFIRMATIONS_TOPIC, ArchivalEvent, ChunkRef

SCHEMA = "analytics_data"
LOCAL_BACKEND = "apps.core.lakehouse.local.LocalLakehouse"
COLUMNS = [
    ColumnSpec("observed_at", "timestamp", nullable=False),
    ColumnSpec("policy_code", "string", nullable=False),
    ColumnSpec("premium", "decimal"),
    ColumnSpec("claims", "integer"),
    ColumnSpec("score", "double"),
    ColumnSpec("active", "boolean"),
    ColumnSpec("effective_on", "date"),
    ColumnSpec("attrs", "json"),
]
OLD_DAYS = {
    datetime(2020, 1, 1, tzinfo=UTC): 40,
    datetime(2020, 1, 2, tzinfo=UTC): 25,
    datetime(2020, 1, 3, tzinfo=UTC): 7,
}
RECENT_DAY = datetime(2026, 11, 1, tzinfo=UTC)


def arch_rows(day: datetime, count: int) -> list[tuple]:
    return [
        (
            day + timedelta(minutes=7 * i),
            f"P-{day:%d}-{i:04d}",
            Decimal(f"{i}.{i:02d}"),
            i,
            i / 3,
            i % 2 == 0,
            day.date(),
            f'{{"i": {i}, "tag": "t{i % 3}"}}',
        )
        for i in range(count)
    ]


def arch_table_create(name: str, days: dict[datetime, int]) -> None:
    hypertable_create(table=name, columns=COLUMNS, time_column="observed_at", chunk_interval="1 day")
    rows = [row for day, count in days.items() for row in arch_rows(day, count)]
    rows_copy(table=name, schema=SCHEMA, columns=[c.name for c in COLUMNS], rows=rows)


def arch_table_drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA, name)))


def arch_chunks(name: str, *, before: datetime | None = None) -> list[ChunkRef]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT chunk_schema, chunk_name, range_start, range_end FROM timescaledb_information.chunks
            WHERE hypertable_schema = %s AND hypertable_name = %s ORDER BY range_start
            """,
            [SCHEMA, name],
        )
        chunks = cursor.fetchall()
        refs = []
        for chunk_schema, chunk_name, start, end in chunks:
            if before is not None and end > before:
                continue
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(chunk_schema, chunk_name)))
            refs.append(
                ChunkRef(
                    chunk_schema=chunk_schema,
                    chunk_name=chunk_name,
                    range_start=start,
                    range_end=end,
                    row_count=cursor.fetchone()[0],
                )
            )
    return refs


def arch_event(name: str, *, before: datetime = datetime(2021, 1, 1, tzinfo=UTC)) -> ArchivalEvent:
    return ArchivalEvent(
        event_id=uuid.uuid4(),
        table_schema=SCHEMA,
        table_name=name,
        chunks=arch_chunks(name, before=before),
        requested_at=datetime.now(UTC),
    )


def arch_confirmations() -> list:
    entries = bus_connection().xrange(stream_key(ARCHIVAL_CONFIRMATIONS_TOPIC))
    return [envelope_decode(fields) for _, fields in entries]


@pytest.fixture
def arch_lake(settings, tmp_path):
    root = tmp_path / "lake"
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": LOCAL_BACKEND, "ROOT": str(root)}}
    return root


@pytest.fixture
def arch_table():
    name = f"arch_t_{uuid.uuid4().hex[:8]}"
    arch_table_create(name, {**OLD_DAYS, RECENT_DAY: 3})
    yield name
    arch_table_drop(name)

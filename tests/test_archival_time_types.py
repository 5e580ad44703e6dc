"""Archival of a hypertable keyed by each kind of time column PostgreSQL has:
`date`, `timestamp` (without time zone) and `timestamptz`. Each goes the
whole way, through the real bus as the consumers apply it: retention requests
the old chunks -> the archival worker writes and verifies Parquet -> the
warehouse drops the chunks on the confirmations -> restore brings back the
same rows. And a chunk the worker gives up on ends `failed` with its error in
the retention ledger, never `requested` for ever."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection
from psycopg import sql

from apps.archival.models import ArchivalJob
from apps.archival.services import archive_restore
from apps.archival.tests.arch_fixtures import LOCAL_BACKEND, SCHEMA, arch_table_drop
from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.messaging.registry import handlers_discover
from apps.messaging.services import event_apply
from apps.warehouse.models import ChunkArchival
from apps.warehouse.retention import RetentionManager, chunks_list

pytestmark = pytest.mark.django_db(transaction=True)

# Four months of rows in 30-day chunks; everything before CUTOFF is archived.
FIRST_DAY = date(2012, 1, 1)
DAYS = 121
CUTOFF = datetime(2013, 1, 1, tzinfo=UTC)
RANGE = (datetime(2011, 1, 1, tzinfo=UTC), CUTOFF)
TIME_TYPES = {
    "date": ("date", pa.date32()),
    "timestamp": ("timestamp without time zone", pa.timestamp("us")),
    "timestamptz": ("timestamp with time zone", pa.timestamp("us", tz="UTC")),
}


def _time_value(kind: str, day: date, i: int):
    moment = datetime(day.year, day.month, day.day, 6 + i % 12, 30)
    return {"date": day, "timestamp": moment, "timestamptz": moment.replace(tzinfo=UTC)}[kind]


def _table_create(name: str, kind: str) -> None:
    pg_type = TIME_TYPES[kind][0]
    table = sql.Identifier(SCHEMA, name)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE TABLE {} (t {} NOT NULL, station text NOT NULL, tmax double precision)").format(
                table, sql.SQL(pg_type)
            )
        )
        cursor.execute(
            "SELECT create_hypertable(%s::regclass, by_range('t', '30 days'::interval))", [f"{SCHEMA}.{name}"]
        )
        rows = [
            (_time_value(kind, FIRST_DAY + timedelta(days=i), i), f"ST{i % 3}", i / 4 - 10.5 if i % 17 else None)
            for i in range(DAYS)
        ]
        cursor.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(table), rows)


def _rows(name: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT t, station, tmax FROM {} ORDER BY t, station").format(sql.Identifier(SCHEMA, name))
        )
        return cursor.fetchall()


def _stream(topic: str, table: str):
    entries = bus_connection().xrange(stream_key(topic))
    return [e for e in (envelope_decode(fields) for _, fields in entries) if e.payload["table_name"] == table]


@pytest.fixture
def lake(settings, tmp_path):
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": LOCAL_BACKEND, "ROOT": str(tmp_path / "lake")}}
    return tmp_path / "lake"


@pytest.mark.parametrize("kind", list(TIME_TYPES))
def test_a_table_of_each_time_type_is_archived_verified_dropped_and_restored(kind, bus_prefix, lake):
    name = f"arch_{kind}_{uuid.uuid4().hex[:6]}"
    _table_create(name, kind)
    try:
        before = _rows(name)
        chunks = {c.chunk_name for c in chunks_list(table_name=name)}
        assert len(before) == DAYS and len(chunks) >= 4

        RetentionManager().trigger(table_name=name, older_than=CUTOFF)
        handlers_discover()
        [request] = _stream("archival.events", name)
        assert event_apply(envelope=request, group="archival")  # the worker

        jobs = ArchivalJob.objects.filter(table_name=name)
        assert {j.status for j in jobs} == {ArchivalJob.Status.COMPLETED} and jobs.count() == len(chunks)
        assert sum(j.row_count for j in jobs) == DAYS
        a_file = pq.read_table(lake / jobs.first().files[0])
        assert a_file.schema.field("t").type == TIME_TYPES[kind][1]  # the time column stays a time of its kind

        confirmations = _stream("archival.confirmations", name)
        for confirmation in confirmations:
            assert event_apply(envelope=confirmation, group="warehouse")  # the database side drops
        assert chunks_list(table_name=name) == [] and _rows(name) == []
        assert set(ChunkArchival.objects.filter(table_name=name).values_list("status", flat=True)) == {"dropped"}

        result = archive_restore(table_schema=SCHEMA, table_name=name, range_start=RANGE[0], range_end=RANGE[1])
        assert result.rows == DAYS
        assert _rows(name) == before
    finally:
        arch_table_drop(name)


def test_a_chunk_the_worker_gives_up_on_ends_failed_with_its_error(settings, bus_prefix, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lakehouse folder should be")
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": LOCAL_BACKEND, "ROOT": str(blocker)}}
    settings.ARCHIVAL_MAX_ATTEMPTS = 1
    name = f"arch_fail_{uuid.uuid4().hex[:6]}"
    _table_create(name, "date")
    try:
        RetentionManager().trigger(table_name=name, older_than=CUTOFF)
        handlers_discover()
        [request] = _stream("archival.events", name)
        with pytest.raises(Exception):  # noqa: B017 (the lakehouse's error, whatever it is)
            event_apply(envelope=request, group="archival")
        [job] = ArchivalJob.objects.filter(table_name=name)
        assert job.status == ArchivalJob.Status.FAILED and job.error

        [failure] = _stream("archival.failures", name)
        assert event_apply(envelope=failure, group="warehouse")
        entry = ChunkArchival.objects.get(chunk_name=job.chunk_name)
        assert entry.status == ChunkArchival.Status.FAILED
        assert job.error in entry.error
        assert len(chunks_list(table_name=name)) >= 4  # nothing dropped

        # The chunk is not settled: the next scan asks for it again.
        again = RetentionManager().trigger(table_name=name, older_than=CUTOFF)
        assert job.chunk_name in {c.chunk_name for c in again.requested}
    finally:
        arch_table_drop(name)

"""The SQL adapter's extraction against real PostgreSQL and MariaDB sources:
streamed in batches, after a watermark, in its order; a query as a subquery."""

from datetime import UTC, date, datetime

import pytest

from apps.connectors.adapters import adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.types import ExtractRequest, RecordBatch


def _spec(source: dict) -> ConnectionSpec:
    return ConnectionSpec(kind=source["kind"], settings=source["settings"], credentials=source["credentials"])


def test_postgresql_streams_batches_after_the_watermark_in_its_order(pg_source):
    pg_source["execute"]('CREATE TABLE "Policies" ("POL_ID" int, "EFF_DT" date)')
    pg_source["execute"]("""INSERT INTO "Policies" SELECT g, DATE '2026-01-01' + g FROM generate_series(25, 1, -1) g""")
    request = ExtractRequest(
        source_object="public.Policies", watermark_column="EFF_DT", watermark_after=date(2026, 1, 20), batch_size=2
    )
    extraction = adapter_for(_spec(pg_source)).extract(request)
    batches = list(extraction.batches)
    extraction.close()
    assert [len(b) for b in batches] == [2, 2, 2]
    assert [row["POL_ID"] for batch in batches for row in batch] == [20, 21, 22, 23, 24, 25]


def test_postgresql_moments_come_in_utc_whatever_the_database_zone_and_as_tuples_when_asked(pg_source):
    pg_source["execute"](f"ALTER DATABASE \"{pg_source['database']}\" SET timezone = 'America/New_York'")
    pg_source["execute"]("CREATE TABLE t (at timestamptz)")
    pg_source["execute"]("INSERT INTO t VALUES ('2026-01-15 23:30:00+00')")
    request = ExtractRequest(source_query="SELECT at, at::date AS day FROM t", as_tuples=True)
    extraction = adapter_for(_spec(pg_source)).extract(request)
    (batch,) = list(extraction.batches)
    extraction.close()
    assert isinstance(batch, RecordBatch) and batch.fields == ("at", "day")
    ((at, day),) = batch.rows
    assert at == datetime(2026, 1, 15, 23, 30, tzinfo=UTC) and at.tzinfo is UTC  # a fixed offset, not a zone
    assert day == date(2026, 1, 15)  # the query's own arithmetic is in UTC too (New York: the 15th, 18:30)


def test_mariadb_is_read_in_a_utc_session_so_timestamps_come_in_utc(mariadb_source):
    mariadb_source["execute"]("CREATE TABLE t (at TIMESTAMP NULL)")
    mariadb_source["execute"]("SET time_zone = '+05:00'")
    mariadb_source["execute"]("INSERT INTO t VALUES ('2026-01-15 10:00:00')")  # 05:00 UTC
    adapter = adapter_for(_spec(mariadb_source))
    extraction = adapter.extract(ExtractRequest(source_object="t"))
    rows = [row for batch in extraction.batches for row in batch]
    extraction.close()
    assert rows == [{"at": datetime(2026, 1, 15, 5, 0)}]  # naive, read as UTC by the mapping
    extraction = adapter.extract(ExtractRequest(source_query="SELECT @@session.time_zone AS tz"))
    assert [row for batch in extraction.batches for row in batch] == [{"tz": "+00:00"}]  # whatever the server's
    extraction.close()


def test_mariadb_reads_a_query(mariadb_source):
    mariadb_source["execute"]("CREATE TABLE t (STAT_CD char(1), N int)")
    mariadb_source["execute"]("INSERT INTO t VALUES ('A', 1), ('T', 2), ('A', 3)")
    extraction = adapter_for(_spec(mariadb_source)).extract(
        ExtractRequest(source_query="SELECT STAT_CD, N FROM t WHERE N > 1", batch_size=1)
    )
    rows = [row for batch in extraction.batches for row in batch]
    extraction.close()
    assert rows == [{"STAT_CD": "T", "N": 2}, {"STAT_CD": "A", "N": 3}]


@pytest.mark.parametrize("kind", ["mssql", "oracle"])
def test_unreachable_kinds_build_their_urls(kind):
    from apps.connectors.adapters.sql import url_build

    url = url_build(ConnectionSpec(kind=kind, settings={"host": "db.example", "database": "ledger",
                                                          "service_name": "LEDGER"},
                                   credentials={"username": "u", "password": "p@ss"}))  # fmt: skip
    assert url.host == "db.example" and url.password == "p@ss"
    assert url.drivername == {"mssql": "mssql+pyodbc", "oracle": "oracle+oracledb"}[kind]

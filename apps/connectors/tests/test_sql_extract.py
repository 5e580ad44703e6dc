"""The SQL adapter's extraction against real PostgreSQL and MariaDB sources:
streamed in batches, after a watermark, in its order; a query as a subquery."""

from datetime import date

import pytest

from apps.connectors.adapters import adapter_for
from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.types import ExtractRequest


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

"""The lakehouse layout as outside readers see it: DuckDB and pyarrow.dataset
read the Hive folders `year=2020/month=1/day=2` as integers, so a filter
`month = 1` finds the rows; restore still reads the zero-padded folders
(`month=01`) that archives written before used."""

import shutil
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from django.db import connection
from psycopg import sql

from apps.archival.events import archival_event_handle
from apps.archival.models import ArchivalJob
from apps.archival.services import archive_restore
from apps.archival.tests.arch_fixtures import OLD_DAYS, SCHEMA, arch_event
from apps.messaging.bus import envelope_build
from apps.warehouse.types import ARCHIVAL_EVENTS_TOPIC

pytestmark = pytest.mark.django_db(transaction=True)
ARCHIVED_ROWS = sum(OLD_DAYS.values())  # 40 + 25 + 7 rows on 2020-01-01, -02, -03


@pytest.fixture
def archived(bus_prefix, arch_table, arch_lake):
    archival_event_handle(envelope_build(ARCHIVAL_EVENTS_TOPIC, arch_event(arch_table)))
    assert ArchivalJob.objects.filter(table_name=arch_table, status=ArchivalJob.Status.COMPLETED).count() == 3
    return arch_table


def _files(root, table: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / table).rglob("*.parquet"))


def test_folders_are_unpadded_integers_duckdb_finds_month_1(archived, arch_lake):
    files = _files(arch_lake, archived)
    assert [f.split("/")[1:4] for f in files] == [
        ["year=2020", "month=1", "day=1"],
        ["year=2020", "month=1", "day=2"],
        ["year=2020", "month=1", "day=3"],
    ]
    glob = str(arch_lake / archived / "**" / "*.parquet")
    with duckdb.connect() as db:
        query = "SELECT count(*) FROM read_parquet(?, hive_partitioning = true) WHERE {}"
        assert db.execute(query.format("month = 1"), [glob]).fetchone()[0] == ARCHIVED_ROWS
        assert db.execute(query.format("year = 2020 AND month = 1 AND day = 2"), [glob]).fetchone()[0] == 25
        types = dict(
            db.execute(
                "SELECT column_name, column_type"
                " FROM (DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = true))",
                [glob],
            ).fetchall()
        )
    assert (types["year"], types["month"], types["day"]) == ("BIGINT", "BIGINT", "BIGINT")  # VARCHAR for month=01


def test_pyarrow_dataset_filter_month_1_finds_the_rows(archived, arch_lake):
    dataset = ds.dataset(arch_lake / archived, format="parquet", partitioning="hive")
    assert pa.types.is_integer(dataset.schema.field("month").type)
    assert dataset.count_rows(filter=ds.field("month") == 1) == ARCHIVED_ROWS
    assert dataset.count_rows(filter=(ds.field("month") == 1) & (ds.field("day") == 3)) == 7


def test_restore_still_reads_zero_padded_folders_written_before(archived, arch_lake):
    for relative in _files(arch_lake, archived):  # the layout archives had before: month=01/day=02
        table, year, month, day, name = relative.split("/")
        padded = arch_lake / table / year / f"month={int(month[6:]):02d}" / f"day={int(day[4:]):02d}" / name
        padded.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(arch_lake / relative, padded)
    shutil.rmtree(arch_lake / archived / "year=2020" / "month=1")
    assert all("/month=01/day=0" in f for f in _files(arch_lake, archived))
    with connection.cursor() as cursor:
        cursor.execute("SELECT drop_chunks(%s, older_than => %s::timestamptz)", [f"{SCHEMA}.{archived}", "2021-01-01"])

    result = archive_restore(
        table_schema=SCHEMA,
        table_name=archived,
        range_start=datetime(2020, 1, 2, tzinfo=UTC),
        range_end=datetime(2020, 1, 4, tzinfo=UTC),
    )

    assert result.rows == 25 + 7 and len(result.files) == 2
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE observed_at < '2021-01-01'").format(sql.Identifier(SCHEMA, archived))
        )
        assert cursor.fetchone()[0] == 25 + 7

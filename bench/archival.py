"""Archival throughput and memory: `chunk_archive` against a bare COPY TO +
pyarrow write of the same rows.

    .venv/bin/python bench/archival.py --rows 5000000

Creates a throwaway hypertable (observed_at timestamptz, series text, value
numeric, reading double, ok boolean) holding N rows in ONE chunk, then
archives that chunk

- through `chunk_archive` (server-side cursor in batches, Arrow, Parquet zstd
  to a spool file, write to a local lakehouse in a temp folder, read back and
  verify, the job rows, the confirmation on the bus under a throwaway key
  prefix);
- bare: psycopg `COPY (SELECT ... ORDER BY observed_at) TO STDOUT (FORMAT
  BINARY)`, the same batches to Arrow, one pq.ParquetWriter (zstd) to a local
  file: no verification, no lakehouse, no bookkeeping.

Each path runs in a forked child so its peak memory is its own: peak RSS
above the child's RSS at start (VmHWM reset through /proc/self/clear_refs).
Prints rows/s, peak memory and the ratio, then drops everything it created.
Not a test: it prints numbers.
"""

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from _bootstrap import django_setup

django_setup()

import pyarrow.parquet as pq  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from psycopg import sql  # noqa: E402

from apps.archival.models import ArchivalJob  # noqa: E402
from apps.archival.services import chunk_archive  # noqa: E402
from apps.archival.services.parquet import archive_columns, arrow_schema, rows_to_table  # noqa: E402
from apps.messaging.bus import bus_connection  # noqa: E402
from apps.warehouse.selectors import table_columns  # noqa: E402
from apps.warehouse.services import ColumnSpec, ddl_execute, hypertable_create, table_drop_ddl  # noqa: E402

SCHEMA = settings.ANALYTICS_SCHEMA
COLUMNS = [
    ColumnSpec("observed_at", "timestamp", nullable=False),
    ColumnSpec("series", "string", nullable=False),
    ColumnSpec("value", "decimal"),
    ColumnSpec("reading", "double"),
    ColumnSpec("ok", "boolean"),
]
BATCH = 100_000


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def in_child(func) -> dict:
    """Run func() in a forked child; its result plus the child's peak memory."""
    connections.close_all()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        code = 0
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            base = _kib("VmRSS")
            started = time.perf_counter()
            result = func()
            result["seconds"] = time.perf_counter() - started
            result["peak_mib"] = (_kib("VmHWM") - base) / 1024
            connections.close_all()
        except BaseException as exc:  # report, never return into the parent's code
            result, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
        os.write(write_fd, json.dumps(result).encode())
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def table_fill(table: str, rows: int) -> tuple[str, str]:
    """N rows one second apart inside one 400-day chunk; returns the chunk."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} SELECT timestamptz '2020-01-01' + i * interval '1 second' / 16, "
                "'series-' || (i %% 500), (i %% 100000) / 100.0, i / 7.0, i %% 3 = 0 "
                "FROM generate_series(0, %s - 1) AS i"
            ).format(sql.Identifier(SCHEMA, table)),
            [rows],
        )
        cursor.execute(f"ANALYZE {SCHEMA}.{table}")
        cursor.execute(
            "SELECT chunk_schema, chunk_name, range_start, range_end FROM timescaledb_information.chunks "
            "WHERE hypertable_schema = %s AND hypertable_name = %s",
            [SCHEMA, table],
        )
        found = cursor.fetchall()
    assert len(found) == 1, f"expected one chunk, found {len(found)}"
    return found[0]


def ours(table: str, chunk: tuple, rows: int) -> dict:
    chunk_schema, chunk_name, start, end = chunk
    job = ArchivalJob.objects.create(
        event_id=uuid.uuid4(),
        table_schema=SCHEMA,
        table_name=table,
        chunk_schema=chunk_schema,
        chunk_name=chunk_name,
        range_start=start,
        range_end=end,
        expected_row_count=rows,
        lakehouse_target="bench",
        correlation_id="bench",
    )
    with transaction.atomic():  # as in the bus handler
        job = chunk_archive(job=job)
    assert job.row_count == rows, (job.row_count, rows)
    return {"rows": job.row_count, "bytes": job.bytes}


def bare(table: str, chunk: tuple, rows: int, out: Path) -> dict:
    chunk_schema, chunk_name, _, _ = chunk
    columns = archive_columns(table_columns(table=table, schema=SCHEMA))
    schema = arrow_schema(columns)
    query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY observed_at) TO STDOUT (FORMAT BINARY)").format(
        sql.SQL(", ").join(sql.Identifier(c.name) for c in columns), sql.Identifier(chunk_schema, chunk_name)
    )
    connection.ensure_connection()
    count = 0
    with connection.connection.cursor() as cursor, cursor.copy(query) as copy:
        copy.set_types(["timestamptz", "text", "numeric", "float8", "bool"])
        with pq.ParquetWriter(out, schema, compression="zstd") as writer:
            batch: list[tuple] = []
            for row in copy.rows():
                batch.append(row)
                if len(batch) == BATCH:
                    writer.write_table(rows_to_table(batch, columns, schema), row_group_size=BATCH)
                    count += len(batch)
                    batch = []
            if batch:
                writer.write_table(rows_to_table(batch, columns, schema), row_group_size=BATCH)
                count += len(batch)
    assert count == rows and pq.read_metadata(out).num_rows == rows
    return {"rows": count, "bytes": out.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()

    table = f"bench_arch_{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-archival-"))
    settings.LAKEHOUSE_TARGETS = {
        **settings.LAKEHOUSE_TARGETS,
        "bench": {"BACKEND": "apps.core.lakehouse.local.LocalLakehouse", "ROOT": str(folder / "lake")},
    }
    settings.MESSAGING_KEY_PREFIX = f"ae-bench-{uuid.uuid4().hex[:8]}:"
    try:
        hypertable_create(table=table, columns=COLUMNS, time_column="observed_at", chunk_interval="400 days")
        started = time.perf_counter()
        chunk = table_fill(table, args.rows)
        print(f"{args.rows:,} rows in one chunk ({chunk[1]}), filled in {time.perf_counter() - started:.1f} s")
        results = {
            "bare": in_child(lambda: bare(table, chunk, args.rows, folder / "bare.parquet")),
            "ours": in_child(lambda: ours(table, chunk, args.rows)),
        }
        print(f"{'path':<48}{'rows/s':>12}{'peak MiB':>11}{'file MiB':>11}")
        print("-" * 82)
        labels = {
            "ours": "chunk_archive (extract, write, verify, confirm)",
            "bare": "bare COPY TO + pyarrow ParquetWriter",
        }
        for key in ("ours", "bare"):
            r = results[key]
            print(
                f"{labels[key]:<48}{r['rows'] / r['seconds']:>12,.0f}{r['peak_mib']:>11.1f}{r['bytes'] / 2**20:>11.1f}"
            )
        ratio = results["bare"]["seconds"] / results["ours"]["seconds"]
        print(f"ratio ours/bare throughput: {ratio:.2f}")
    finally:
        ddl_execute([table_drop_ddl(schema=SCHEMA, table=table)])
        ArchivalJob.objects.filter(table_name=table).delete()
        client = bus_connection()
        keys = list(client.scan_iter(match=settings.MESSAGING_KEY_PREFIX + "*"))
        if keys:
            client.delete(*keys)
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()


if __name__ == "__main__":
    main()

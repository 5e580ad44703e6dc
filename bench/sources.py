"""Source ingestion throughput: an ingestion job against a bare COPY pipe.

    .venv/bin/python bench/sources.py --rows 1000000 --memory-check

Creates a PostgreSQL database of its own on the platform's server (the
source: a table `READINGS` with its own column names and a status code),
fills it with N rows, and loads them into a hypertable twice:

- through an **ingestion job** (connection, discovery, mapping with a value
  map `A`/`T` -> `Active`/`Terminated`, incremental on `OBS_TS`), run by the
  real runner in this process (`apps.ingestion.runner.job_run`: extraction
  through a server-side cursor, the mapping, the entity's validator, one
  binary COPY, the watermark, the run record);
- through the **bare path**: `COPY (SELECT ...) TO STDOUT (FORMAT binary)`
  on the source piped into `COPY ... FROM STDIN (FORMAT binary)` into an
  identical hypertable (the status code recoded by a CASE in the SELECT):
  no Python per row, the ceiling.

Each run starts from empty tables; the median of `--repeat` runs is
reported, with the job's peak memory (the process's peak RSS above its RSS
at the start of the run; Linux's VmHWM, reset before each run).
`--memory-check` then runs the job once more at N rows and once at 5 x N
rows under tracemalloc (Python's own peak allocation, which the allocator's
reuse of freed memory cannot hide), to show that the run's memory does not
grow with the source. Prints a table and ratios, then drops everything it
created (the source database too). Not a test: it prints numbers
(docs/benchmarks.md).
"""

import argparse
import contextlib
import re
import statistics
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

from _bootstrap import django_setup

django_setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import DatabaseError, connection  # noqa: E402
from psycopg import sql  # noqa: E402

from apps.connectors.services import connections as connection_services  # noqa: E402
from apps.core.models import Client  # noqa: E402
from apps.ingestion.models import IngestionJob  # noqa: E402
from apps.ingestion.runner import job_run  # noqa: E402
from apps.ingestion.services import jobs as job_services  # noqa: E402
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create, entity_delete  # noqa: E402
from apps.warehouse.services import ColumnSpec, ddl_execute, hypertable_create, table_drop_ddl  # noqa: E402
from apps.warehouse.services.copy import copy_statement  # noqa: E402

SCHEMA = settings.ANALYTICS_SCHEMA
COLUMNS = ["observed_at", "series", "value", "status"]
SOURCE_TABLE = "READINGS"
MAPPING = {
    "fields": {
        "observed_at": {"source": "OBS_TS"},
        "series": {"source": "SENSOR_CD"},
        "value": {"source": "VAL"},
        "status": {"source": "STAT_CD"},
    },
    "value_maps": {"status": {"A": "Active", "T": "Terminated"}},
}
BARE_SELECT = (
    'SELECT "OBS_TS", "SENSOR_CD", "VAL", CASE "STAT_CD" WHEN \'A\' THEN \'Active\' ELSE \'Terminated\' END'
    ' FROM "READINGS"'
)


def _server(dbname: str) -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=dbname, autocommit=True
    )


def source_fill(source: psycopg.Connection, start: int, count: int) -> None:
    """Rows start+1 .. start+count: one a second from 2026-01-01, 100 sensors,
    one status in seven terminated."""
    source.execute(
        """INSERT INTO "READINGS" ("OBS_TS", "SENSOR_CD", "VAL", "STAT_CD")
        SELECT TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * INTERVAL '1 second',
               'sensor-' || lpad((g %% 100)::text, 4, '0'), (g %% 99991) / 100.0 + 1.25,
               CASE WHEN g %% 7 = 0 THEN 'T' ELSE 'A' END
        FROM generate_series(%s::bigint, %s::bigint) g""",
        [start + 1, start + count],
    )
    source.execute('ANALYZE "READINGS"')


def tables_reset(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SCHEMA, table)))
        # Start each run with no dirty buffers to write. Needs superuser or
        # pg_checkpoint; without them the bench still runs, a little noisier.
        with contextlib.suppress(DatabaseError):
            cursor.execute("CHECKPOINT")


def _kib(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(found.group(1)) if found else 0


def peak_rss_reset() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS; False where
    the kernel does not allow it (the figure is then the process's peak)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def bare_pipe(source: psycopg.Connection, table: str) -> tuple[float, int]:
    connection.ensure_connection()
    pg = connection.connection  # psycopg's own connection, no Django in between
    into = copy_statement(schema=SCHEMA, table=table, columns=COLUMNS, binary=True)
    started = time.perf_counter()
    with (
        pg.transaction(),
        source.cursor() as out_cursor,
        out_cursor.copy(f"COPY ({BARE_SELECT}) TO STDOUT (FORMAT binary)") as out,
        pg.cursor() as in_cursor,
        in_cursor.copy(into) as into_copy,
    ):
        for chunk in out:
            into_copy.write(chunk)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))
        return elapsed, cursor.fetchone()[0]


def job_once(job: IngestionJob, expected: int, *, traced: bool = False) -> dict:
    """One run of the job from an empty watermark: seconds, the peak RSS
    above the start's (KiB), and under `traced` tracemalloc's peak (bytes)."""
    IngestionJob.objects.filter(pk=job.pk).update(watermark="")
    if traced:
        tracemalloc.start()
    reset = peak_rss_reset()
    rss_before = _kib("VmRSS")
    started = time.perf_counter()
    run = job_run(client_id=job.client_id, code=job.code)
    elapsed = time.perf_counter() - started
    rss_peak = _kib("VmHWM")
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else None
    if traced:
        tracemalloc.stop()
    if run is None or run.status != "succeeded" or run.rows_written != expected:
        raise SystemExit(
            f"the job's run did not load {expected:,} rows: {run and (run.status, run.rows_written, run.error)}"
        )
    return {
        "seconds": elapsed,
        "rss_delta_kib": rss_peak - rss_before if reset else None,
        "rss_peak_kib": rss_peak,
        "traced_peak": traced_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median is reported")
    parser.add_argument("--batch-size", type=int, default=10_000, help="the job's batch size")
    parser.add_argument(
        "--memory-check", action="store_true", help="also run the job under tracemalloc at --rows and 5 x --rows"
    )
    args = parser.parse_args()
    # The source is this machine's own PostgreSQL: a loopback address.
    settings.SOURCES_ALLOW_PRIVATE_NETWORKS = True

    db = settings.DATABASES["default"]
    source_name = f"bench_src_{uuid.uuid4().hex[:10]}"
    admin = _server("postgres")
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(source_name)))
    source = _server(source_name)
    client = Client.objects.create(code=f"bench_{uuid.uuid4().hex[:10]}", name="Sources benchmark (throwaway)")
    entity = bare_table = None
    try:
        print(f"Filling the source with {args.rows:,} rows...", flush=True)
        source.execute(
            'CREATE TABLE "READINGS" ("ID" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "OBS_TS" timestamptz'
            ' NOT NULL, "SENSOR_CD" varchar(20) NOT NULL, "VAL" numeric(12, 2), "STAT_CD" char(1) NOT NULL)'
        )
        source.execute('CREATE INDEX ON "READINGS" ("OBS_TS")')
        source_fill(source, 0, args.rows)

        entity = entity_create(
            client_id=client.id,
            data=EntityInput(
                code="feed_reading",
                name="Feed reading",
                kind="time_series",
                time_attribute="observed_at",
                attributes=[
                    AttributeInput("observed_at", "timestamp", nullable=False),
                    AttributeInput("series", "string", nullable=False),
                    AttributeInput("value", "decimal"),
                    AttributeInput("status", "string", enum_values=["Active", "Terminated"]),
                ],
            ),
        )
        bare_table = f"{entity.table_name}_bare"
        hypertable_create(
            table=bare_table,
            columns=[ColumnSpec(a.code, a.data_type, a.nullable) for a in entity.attributes.all()],
            time_column="observed_at",
        )
        connection_services.connection_create(
            client_id=client.id,
            user=None,
            fields={"code": "sensor_db", "name": "Sensor database", "kind": "postgresql",
                    "settings": {"host": db["HOST"], "port": int(db["PORT"]), "database": source_name},
                    "credentials": {"username": db["USER"], "password": db["PASSWORD"]}},
        )  # fmt: skip
        connection_services.connection_discover(client_id=client.id, code="sensor_db")
        job_services.job_create(
            client_id=client.id,
            user=None,
            fields={"code": "readings", "connection": "sensor_db", "object": SOURCE_TABLE, "entity": "feed_reading",
                    "mapping": MAPPING, "incremental": {"column": "OBS_TS"}, "batch_size": args.batch_size},
        )  # fmt: skip
        job = IngestionJob.objects.get(client=client, code="readings")

        timings: dict[str, list[float]] = {"bare": [], "job": []}
        memory: list[dict] = []
        for run in range(1, args.repeat + 1):
            print(f"Run {run}/{args.repeat}...", flush=True)
            tables_reset(bare_table, entity.table_name)
            elapsed, copied = bare_pipe(source, bare_table)
            if copied != args.rows:
                raise SystemExit(f"the bare pipe copied {copied:,} rows of {args.rows:,}")
            timings["bare"].append(elapsed)
            tables_reset(bare_table, entity.table_name)
            outcome = job_once(job, args.rows)
            timings["job"].append(outcome["seconds"])
            memory.append(outcome)
        checks = []
        if args.memory_check:
            for size in (args.rows, 5 * args.rows):
                if size > args.rows:
                    print(f"Filling the source up to {size:,} rows...", flush=True)
                    source_fill(source, args.rows, size - args.rows)
                print(f"Memory check: the job at {size:,} rows under tracemalloc...", flush=True)
                tables_reset(entity.table_name)
                checks.append({"rows": size, **job_once(job, size, traced=True)})
        report(args, timings, memory, checks)
    finally:
        with contextlib.suppress(Exception):
            job_services.job_delete(client_id=client.id, code="readings")
        with contextlib.suppress(Exception):
            connection_services.connection_delete(client_id=client.id, code="sensor_db")
        if entity is not None:
            entity_delete(entity=entity, drop_data=True)
        if bare_table is not None:
            ddl_execute([table_drop_ddl(schema=SCHEMA, table=bare_table)])
        client.delete()
        source.close()
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(source_name)))
        admin.close()


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def report(args, timings: dict[str, list[float]], memory: list[dict], checks: list[dict]) -> None:
    n = args.rows

    def rate(key: str) -> float:
        return n / statistics.median(timings[key])

    print()
    print(f"Sources: {n:,} rows x {len(COLUMNS)} columns (timestamp, string, decimal, status code) from a")
    print(f"PostgreSQL source table into a hypertable, median of {args.repeat} run(s), batch size {args.batch_size:,},")
    print(f"PostgreSQL {connection.pg_version // 10000}, Python {sys.version.split()[0]}")
    print()
    print(f"{'path':<52}{'rows/s':>12}{'seconds':>10}{'runs (s)':>24}")
    print("-" * 98)
    for label, key in (
        ("bare COPY TO STDOUT | COPY FROM STDIN (binary)", "bare"),
        ("ingestion job (extract + map + validate + COPY)", "job"),
    ):
        runs = " ".join(f"{t:.2f}" for t in timings[key])
        print(f"{label:<52}{rate(key):>12,.0f}{statistics.median(timings[key]):>10.2f}{runs:>24}")
    print("-" * 98)
    print(f"ratio ingestion job / bare COPY pipe: {rate('job') / rate('bare'):.2f}")
    deltas = [m["rss_delta_kib"] for m in memory if m["rss_delta_kib"] is not None]
    print(
        "job's peak RSS above its start (MiB), per run: "
        + (" ".join(_mib(d) for d in deltas) if deltas else "n/a (VmHWM cannot be reset here)")
    )
    if checks:
        print()
        print(
            f"{'memory check: the job at':<28}{'rows':>12}{'seconds':>10}"
            f"{'tracemalloc peak (MiB)':>26}{'RSS above start (MiB)':>24}"
        )
        print("-" * 100)
        for check in checks:
            print(
                f"{'':<28}{check['rows']:>12,}{check['seconds']:>10.2f}{check['traced_peak'] / 2**20:>26.1f}"
                f"{_mib(check['rss_delta_kib']):>24}"
            )
        print("-" * 100)
        small, large = checks[0]["traced_peak"], checks[-1]["traced_peak"]
        print(f"peak memory at {checks[-1]['rows']:,} / at {checks[0]['rows']:,} rows: {large / small:.2f}")


if __name__ == "__main__":
    main()

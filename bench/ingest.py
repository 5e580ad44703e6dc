"""Ingest throughput: our load path against a bare COPY.

    .venv/bin/python bench/ingest.py --rows 1000000

Creates a throwaway client and a narrow time-series entity through the
services (observed_at timestamp, series string, value decimal), generates N
rows and loads them

- through `entity_rows_load`, from the rows the API hands it (dicts of
  JSON values: ISO 8601 strings, floats), so validation, conversion, COPY,
  commit and the DataLoad record are all timed;
- through a bare psycopg COPY of pre-built tuples (datetime, str, Decimal)
  into an identical hypertable, binary and text format: the ceiling.

Each run starts from empty tables after a CHECKPOINT; the median of
`--repeat` runs is reported. Prints rows/s and the ratio, then drops
everything it created. Not a test: it prints numbers (docs/benchmarks.md).
"""

import argparse
import contextlib
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from _bootstrap import django_setup

django_setup()

from django.conf import settings  # noqa: E402
from django.db import DatabaseError, connection  # noqa: E402
from psycopg import sql  # noqa: E402

from apps.core.models import Client  # noqa: E402
from apps.ontology.row_validation import RowValidator  # noqa: E402
from apps.ontology.services.data_load import entity_rows_load, gc_paused, json_rows_parse  # noqa: E402
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create, entity_delete  # noqa: E402
from apps.warehouse.services import ColumnSpec, ddl_execute, hypertable_create, table_drop_ddl  # noqa: E402
from apps.warehouse.services.copy import copy_statement  # noqa: E402

SCHEMA = settings.ANALYTICS_SCHEMA
COLUMNS = ["observed_at", "series", "value"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def rows_generate(count: int, series: int) -> tuple[bytes, list[tuple]]:
    """The same rows twice: as a JSON request body, and as ready-made tuples
    for the bare COPY."""
    step = timedelta(seconds=max(1, 14 * 24 * 3600 * series // max(count, 1)))  # about two weeks of data
    as_json, as_tuples = [], []
    for i in range(count):
        moment = START + step * (i // series)
        name = f"sensor-{i % series:04d}"
        value = Decimal(i % 99991) / 100 + Decimal("1.25")
        as_json.append(
            {"observed_at": moment.isoformat().replace("+00:00", "Z"), "series": name, "value": float(value)}
        )
        as_tuples.append((moment, name, value))
    return json.dumps(as_json).encode(), as_tuples


def tables_reset(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(SCHEMA, table)))
        # Start each run with no dirty buffers to write. Needs superuser or
        # pg_checkpoint; without them the bench still runs, a little noisier.
        with contextlib.suppress(DatabaseError):
            cursor.execute("CHECKPOINT")


def bare_copy(table: str, rows: list[tuple], *, binary: bool) -> float:
    connection.ensure_connection()
    pg = connection.connection  # psycopg's own connection, no Django in between
    statement = copy_statement(schema=SCHEMA, table=table, columns=COLUMNS, binary=binary)
    started = time.perf_counter()
    with pg.transaction(), pg.cursor() as cursor, cursor.copy(statement) as copy:
        if binary:
            copy.set_types(["timestamptz", "text", "numeric"])
        for row in rows:
            copy.write_row(row)
    return time.perf_counter() - started


def our_load(entity, rows: list[dict]) -> float:
    started = time.perf_counter()
    result = entity_rows_load(entity=entity, rows=rows, source="bench")
    elapsed = time.perf_counter() - started
    if result.inserted != len(rows):
        raise SystemExit(f"entity_rows_load inserted {result.inserted} of {len(rows)}: {result.rejected[:3]}")
    return elapsed


def validation_only(entity, rows: list[dict]) -> float:
    started = time.perf_counter()
    with gc_paused():
        for _ in RowValidator.for_entity(entity).json_rows(rows):
            pass
    return time.perf_counter() - started


def json_parse(body: bytes) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    rows = json_rows_parse(body)
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=100, help="distinct series ids")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median is reported")
    args = parser.parse_args()

    print(f"Generating {args.rows:,} rows ({args.series} series)...", flush=True)
    body, as_tuples = rows_generate(args.rows, args.series)
    parse_time, as_json = json_parse(body)

    client = Client.objects.create(code=f"bench_{uuid.uuid4().hex[:10]}", name="Ingest benchmark (throwaway)")
    entity = bare_table = None
    try:
        entity = entity_create(
            client_id=client.id,
            data=EntityInput(
                code="reading",
                name="Reading",
                kind="time_series",
                time_attribute="observed_at",
                attributes=[
                    AttributeInput("observed_at", "timestamp", nullable=False),
                    AttributeInput("series", "string", nullable=False),
                    AttributeInput("value", "decimal"),
                ],
            ),
        )
        bare_table = f"{entity.table_name}_bare"
        hypertable_create(
            table=bare_table,
            columns=[ColumnSpec(a.code, a.data_type, a.nullable) for a in entity.attributes.all()],
            time_column="observed_at",
        )
        timings: dict[str, list[float]] = {"bare_binary": [], "bare_text": [], "load": [], "validate": []}
        timings["parse"] = [parse_time]
        for run in range(1, args.repeat + 1):
            print(f"Run {run}/{args.repeat}...", flush=True)
            tables_reset(bare_table, entity.table_name)
            timings["bare_binary"].append(bare_copy(bare_table, as_tuples, binary=True))
            tables_reset(bare_table, entity.table_name)
            timings["load"].append(our_load(entity, as_json))
            tables_reset(bare_table, entity.table_name)
            timings["bare_text"].append(bare_copy(bare_table, as_tuples, binary=False))
            timings["validate"].append(validation_only(entity, as_json))
        report(args, timings)
    finally:
        if entity is not None:
            entity_delete(entity=entity, drop_data=True)
        if bare_table is not None:
            ddl_execute([table_drop_ddl(schema=SCHEMA, table=bare_table)])
        client.delete()


def report(args, timings: dict[str, list[float]]) -> None:
    n = args.rows

    def rate(key: str) -> float:
        return n / statistics.median(timings[key])

    best_bare = max(rate("bare_binary"), rate("bare_text"))
    lines = [
        ("bare COPY, binary (psycopg, pre-built tuples)", "bare_binary"),
        ("bare COPY, text (psycopg, pre-built tuples)", "bare_text"),
        ("entity_rows_load (validate + COPY + record)", "load"),
        ("  of which validation alone (no COPY)", "validate"),
        ("JSON parse of the body (the view; timed apart)", "parse"),
    ]
    print()
    print(f"Ingest: {n:,} rows x {len(COLUMNS)} columns (timestamp, string, decimal) into a hypertable,")
    print(
        f"median of {args.repeat} run(s), PostgreSQL {connection.pg_version // 10000}, Python {sys.version.split()[0]}"
    )
    print()
    print(f"{'path':<48}{'rows/s':>12}{'seconds':>10}{'runs (s)':>28}")
    print("-" * 98)
    for label, key in lines:
        runs = " ".join(f"{t:.2f}" for t in timings[key])
        print(f"{label:<48}{rate(key):>12,.0f}{statistics.median(timings[key]):>10.2f}{runs:>28}")
    print("-" * 98)
    print(f"ratio entity_rows_load / best bare COPY: {rate('load') / best_bare:.2f}")
    print(f"ratio entity_rows_load / bare binary COPY: {rate('load') / rate('bare_binary'):.2f}")


if __name__ == "__main__":
    main()

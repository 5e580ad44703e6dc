"""The chunks of a hypertable: list, size, count, lock and drop one."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from psycopg import sql

from apps.core.advisory_locks import advisory_xact_lock
from apps.core.transactions import after_commit
from apps.warehouse.services.hooks import chunk_dropped_listeners
from apps.warehouse.types import ChunkDropped, ChunkRef


@dataclass(frozen=True)
class ChunkInfo:
    chunk_schema: str
    chunk_name: str
    range_start: datetime
    range_end: datetime


# -- reads ------------------------------------------------------------------


def chunks_list(
    *,
    table_name: str,
    table_schema: str = settings.ANALYTICS_SCHEMA,
    older_than: datetime | None = None,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
) -> list[ChunkInfo]:
    """Chunks of a hypertable in time order; with bounds, only the chunks that
    lie WHOLLY inside them (range_end <= older_than, range_start >= range_start,
    range_end <= range_end). Chunks of integer-time hypertables have no
    timestamp range and are never listed."""
    query = """
        SELECT chunk_schema, chunk_name, range_start, range_end
        FROM timescaledb_information.chunks
        WHERE hypertable_schema = %s AND hypertable_name = %s
          AND range_start IS NOT NULL AND range_end IS NOT NULL
    """
    params: list = [table_schema, table_name]
    if older_than is not None:
        query += " AND range_end <= %s"
        params.append(older_than)
    if range_start is not None:
        query += " AND range_start >= %s"
        params.append(range_start)
    if range_end is not None:
        query += " AND range_end <= %s"
        params.append(range_end)
    query += " ORDER BY range_start, chunk_name"
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [ChunkInfo(*row) for row in cursor.fetchall()]


def chunk_exists(*, chunk_schema: str, chunk_name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM timescaledb_information.chunks WHERE chunk_schema = %s AND chunk_name = %s",
            [chunk_schema, chunk_name],
        )
        return cursor.fetchone() is not None


def chunk_row_count(*, chunk_schema: str, chunk_name: str) -> int:
    """Exact current row count of one chunk (count(*) on the chunk table)."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT count(*) FROM {}")
            .format(sql.Identifier(chunk_schema, chunk_name))
            .as_string(cursor.connection)
        )
        return cursor.fetchone()[0]


def chunk_sizes(*, table_name: str, table_schema: str = settings.ANALYTICS_SCHEMA) -> dict[tuple[str, str], int]:
    """Total bytes (table + indexes + toast) per chunk, from chunks_detailed_size."""
    relation = sql.Identifier(table_schema, table_name)
    with connection.cursor() as cursor:
        query = sql.SQL("SELECT chunk_schema, chunk_name, total_bytes FROM chunks_detailed_size({}::regclass)")
        cursor.execute(query.format(sql.Literal(relation.as_string(cursor.connection))).as_string(cursor.connection))
        return {(schema, name): total or 0 for schema, name, total in cursor.fetchall()}


def hypertables_list(*, table_schema: str = settings.ANALYTICS_SCHEMA) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s ORDER BY hypertable_name",
            [table_schema],
        )
        return [row[0] for row in cursor.fetchall()]


# -- writes -------------------------------------------------------------------


def chunk_lock(*, chunk_schema: str, chunk_name: str) -> None:
    # Nothing may write to the chunk between counting its rows and dropping it.
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE")
            .format(sql.Identifier(chunk_schema, chunk_name))
            .as_string(cursor.connection)
        )


def chunk_drop(*, chunk_schema: str, chunk_name: str) -> None:
    """Drop exactly one chunk. TimescaleDB (2.x) supports DROP TABLE on a chunk:
    its catalog entry goes with it. drop_chunks() would drop by range and, on a
    hypertable with a space dimension, take the chunk's neighbours too."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP TABLE {}").format(sql.Identifier(chunk_schema, chunk_name)).as_string(cursor.connection)
        )


def chunk_dropped_tell(*, table_schema: str, table_name: str, ref: ChunkRef) -> None:
    """After the drop commits, tell the listeners (the calculation engine drops
    the cached results over the range: they were computed with its rows)."""
    dropped = ChunkDropped(table_schema, table_name, ref.range_start, ref.range_end)
    for listener in chunk_dropped_listeners():
        after_commit(listener, dropped)


def table_lock(*, table_schema: str, table_name: str) -> None:
    # Serializes scans of one table (beat and a manual trigger at once).
    advisory_xact_lock(f"retention:{table_schema}.{table_name}")

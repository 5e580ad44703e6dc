"""Reads about storage: TimescaleDB edition, hypertables."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connections

from apps.warehouse.models import ChunkArchival


@dataclass(frozen=True)
class TimescaleInfo:
    version: str | None
    license: str | None

    @property
    def has_continuous_aggregates(self) -> bool:
        # The Apache-2 edition has hypertables but no continuous aggregates.
        return self.license == "timescale"


def timescaledb_info(*, using: str = "default") -> TimescaleInfo:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        row = cursor.fetchone()
        if row is None:
            return TimescaleInfo(version=None, license=None)
        cursor.execute("SELECT current_setting('timescaledb.license', true)")
        return TimescaleInfo(version=row[0], license=cursor.fetchone()[0])


@dataclass(frozen=True)
class HypertableInfo:
    schema: str
    table: str
    time_column: str
    num_chunks: int


def hypertable_get(
    *, table: str, schema: str = settings.ANALYTICS_SCHEMA, using: str = "default"
) -> HypertableInfo | None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT h.hypertable_schema, h.hypertable_name, d.column_name, h.num_chunks
            FROM timescaledb_information.hypertables h
            JOIN timescaledb_information.dimensions d
              ON d.hypertable_schema = h.hypertable_schema AND d.hypertable_name = h.hypertable_name
             AND d.dimension_number = 1
            WHERE h.hypertable_schema = %s AND h.hypertable_name = %s
            """,
            [schema, table],
        )
        row = cursor.fetchone()
    return HypertableInfo(*row) if row else None


# information_schema's names for our storage types, back to platform types.
_PG_TO_PLATFORM = {
    "text": "string",
    "bigint": "integer",
    "numeric": "decimal",
    "double precision": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp with time zone": "timestamp",
    "jsonb": "json",
}


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    pg_type: str
    nullable: bool

    @property
    def data_type(self) -> str | None:
        """The platform type stored this way, or None for a type we never create."""
        return _PG_TO_PLATFORM.get(self.pg_type)


def table_columns(*, table: str, schema: str = settings.ANALYTICS_SCHEMA, using: str = "default") -> list[ColumnInfo]:
    """The table's columns in order; empty when the table does not exist."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT column_name, data_type, is_nullable = 'YES'
            FROM information_schema.columns
            WHERE table_schema = %s AND table_name = %s
            ORDER BY ordinal_position
            """,
            [schema, table],
        )
        return [ColumnInfo(*row) for row in cursor.fetchall()]


def table_exists(*, table: str, schema: str = settings.ANALYTICS_SCHEMA, using: str = "default") -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s", [schema, table]
        )
        return cursor.fetchone() is not None


def index_names(*, table: str, schema: str = settings.ANALYTICS_SCHEMA, using: str = "default") -> set[str]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s", [schema, table])
        return {row[0] for row in cursor.fetchall()}


def table_ref_parse(name: str, *, schema: str = settings.ANALYTICS_SCHEMA) -> tuple[str, str]:
    """(schema, table) from a table name as a person writes it: `c1_weather`,
    or qualified as the ontology shows it, `analytics_data.c1_weather`. Messages
    then print `schema.table` once, never `analytics_data.analytics_data.x`."""
    qualifier, dot, table = name.strip().partition(".")
    if dot and qualifier and table:
        return qualifier, table
    return schema, name.strip()


@dataclass(frozen=True)
class ArchivedRange:
    """Rows of a hypertable in [start, end) were archived (or dropped) by retention."""

    start: datetime
    end: datetime


def archived_ranges(
    *, table_schema: str, table_name: str, start: datetime | None = None, end: datetime | None = None
) -> list[ArchivedRange]:
    """The ranges of the table's chunks retention has dropped that overlap
    [start, end), in time order, adjacent chunks merged into one range."""
    entries = ChunkArchival.objects.filter(
        table_schema=table_schema,
        table_name=table_name,
        status__in=(ChunkArchival.Status.DROPPED, ChunkArchival.Status.CONFIRMED),
    )
    if start is not None:
        entries = entries.filter(range_end__gt=start)
    if end is not None:
        entries = entries.filter(range_start__lt=end)
    merged: list[ArchivedRange] = []
    for low, high in entries.order_by("range_start").values_list("range_start", "range_end"):
        if merged and low <= merged[-1].end:
            merged[-1] = ArchivedRange(merged[-1].start, max(merged[-1].end, high))
        else:
            merged.append(ArchivedRange(low, high))
    return merged

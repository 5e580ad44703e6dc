"""Reads about storage: TimescaleDB edition, hypertables."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connections


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

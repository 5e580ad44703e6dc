"""Storage primitives for Zone 2 (`analytics_data`): schemas, hypertables and the
read-only role. Identifiers are quoted with psycopg.sql, values are bound; the
warehouse knows tables and columns, not business meaning."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from psycopg import sql

from apps.core.errors import AppError

# Platform data types (API.md) and the Postgres types that store them.
COLUMN_TYPES = {
    "string": "text",
    "integer": "bigint",
    "decimal": "numeric",
    "double": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
    "json": "jsonb",
}
TIME_TYPES = {"date", "timestamp"}
MAX_IDENTIFIER_BYTES = 63  # Postgres silently truncates longer names; we refuse them.


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    data_type: str
    nullable: bool = True


def identifier_validate(name: object, *, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise AppError(f"The {what} name must be a non-empty string.", code="invalid_identifier")
    if "\x00" in name or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise AppError(
            f"The {what} name {name!r} must be at most {MAX_IDENTIFIER_BYTES} bytes with no NUL character.",
            code="invalid_identifier",
            details={what: name},
        )
    return name


def _columns_validate(columns: Sequence[ColumnSpec]) -> dict[str, ColumnSpec]:
    if not columns:
        raise AppError("A table needs at least one column.", code="invalid_columns")
    by_name: dict[str, ColumnSpec] = {}
    for column in columns:
        identifier_validate(column.name, what="column")
        if column.data_type not in COLUMN_TYPES:
            raise AppError(
                f"Column {column.name!r} has unknown type {column.data_type!r}; use one of {', '.join(COLUMN_TYPES)}.",
                code="invalid_column_type",
                details={"column": column.name, "data_type": column.data_type},
            )
        if column.name in by_name:
            raise AppError(f"Column {column.name!r} appears twice.", code="duplicate_column")
        by_name[column.name] = column
    return by_name


def schema_ensure(*, schema: str = settings.ANALYTICS_SCHEMA, using: str = "default") -> None:
    identifier_validate(schema, what="schema")
    with connections[using].cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def hypertable_create(
    *,
    table: str,
    columns: Sequence[ColumnSpec],
    time_column: str,
    primary_key: Sequence[str] = (),
    chunk_interval: str = "7 days",
    schema: str = settings.ANALYTICS_SCHEMA,
    using: str = "default",
) -> None:
    """Create `schema.table` from a column spec and make it a hypertable
    partitioned on `time_column`. Idempotent: an existing hypertable is kept."""
    identifier_validate(table, what="table")
    by_name = _columns_validate(columns)
    time_spec = by_name.get(time_column)
    if time_spec is None:
        raise AppError(f"The time column {time_column!r} is not among the columns.", code="invalid_time_column")
    if time_spec.data_type not in TIME_TYPES:
        raise AppError(
            f"The time column {time_column!r} must be a date or timestamp, not {time_spec.data_type}.",
            code="invalid_time_column",
        )
    for name in primary_key:
        if name not in by_name:
            raise AppError(f"Primary key column {name!r} is not among the columns.", code="invalid_primary_key")
    if primary_key and time_column not in primary_key:
        # TimescaleDB requires every unique index to include the partitioning column.
        raise AppError(
            f"The primary key of a hypertable must include its time column {time_column!r}.",
            code="invalid_primary_key",
        )

    column_sql = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name),
            sql.SQL(COLUMN_TYPES[c.data_type]),
            sql.SQL("" if c.nullable and c.name != time_column and c.name not in primary_key else " NOT NULL"),
        )
        for c in columns
    ]
    if primary_key:
        column_sql.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, primary_key))))
    qualified = sql.Identifier(schema, table)

    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        schema_ensure(schema=schema, using=using)
        cursor.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(qualified, sql.SQL(", ").join(column_sql)))
        cursor.execute(
            "SELECT create_hypertable(%s::regclass, by_range(%s, %s::interval), if_not_exists => true)",
            [qualified.as_string(cursor.connection), time_column, chunk_interval],
        )


def readonly_role_ensure(*, role: str, password: str, using: str = "default") -> None:
    """The CQRS read side's role: may connect and SELECT from `analytics_data`
    (tables created later included), nothing else; every transaction it opens
    is read-only."""
    identifier_validate(role, what="role")
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        cursor.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(role)))
        cursor.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(connection.settings_dict["NAME"]), sql.Identifier(role)
            )
        )
        # `public` holds the extensions' functions (time_bucket, hll, tdigest):
        # usage only. Platform tables there (users, sessions) stay unreadable.
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        ident = sql.Identifier(settings.ANALYTICS_SCHEMA)
        cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, sql.Identifier(role)))
        cursor.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(ident, sql.Identifier(role)))
        cursor.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                ident, sql.Identifier(role)
            )
        )

"""Storage primitives for Zone 2 (`analytics_data`): schemas, tables and
hypertables from a column spec, additive column changes, COPY, and the
read-only role. Identifiers are quoted with psycopg.sql, values are bound or
rendered as literals by psycopg; the warehouse knows tables and columns, not
business meaning. Bulk writes with COPY are copy.py; the hooks higher layers
register (table owners, chunk drops, archival jobs) are hooks.py."""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, transaction
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
# A hypertable's chunk interval when none is given, by the time column's type.
# Dates come at most one row per day and series: one month per chunk (30 days
# for TimescaleDB) keeps a daily table of four years at ~50 chunks instead of
# ~210 weekly ones. Timestamps keep TimescaleDB's own default, 7 days.
DEFAULT_CHUNK_INTERVALS = {"date": "1 month", "timestamp": "7 days"}
CHUNK_INTERVAL_MIN, CHUNK_INTERVAL_MAX = "1 hour", "1 year"
MAX_IDENTIFIER_BYTES = 63  # Postgres silently truncates longer names; we refuse them.


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    data_type: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """A table in `schema`; a hypertable partitioned on `time_column` when set."""

    table: str
    columns: Sequence[ColumnSpec]
    time_column: str | None = None
    primary_key: Sequence[str] = ()
    indexes: Sequence[Sequence[str]] = field(default_factory=tuple)
    chunk_interval: str | None = None  # None: DEFAULT_CHUNK_INTERVALS of the time column's type
    schema: str = settings.ANALYTICS_SCHEMA


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


def _spec_validate(spec: TableSpec) -> None:
    identifier_validate(spec.schema, what="schema")
    identifier_validate(spec.table, what="table")
    by_name = _columns_validate(spec.columns)
    if spec.time_column is not None:
        time_spec = by_name.get(spec.time_column)
        if time_spec is None:
            raise AppError(
                f"The time column {spec.time_column!r} is not among the columns.", code="invalid_time_column"
            )
        if time_spec.data_type not in TIME_TYPES:
            raise AppError(
                f"The time column {spec.time_column!r} must be a date or timestamp, not {time_spec.data_type}.",
                code="invalid_time_column",
            )
    for name in spec.primary_key:
        if name not in by_name:
            raise AppError(f"Primary key column {name!r} is not among the columns.", code="invalid_primary_key")
    if spec.primary_key and spec.time_column and spec.time_column not in spec.primary_key:
        # TimescaleDB requires every unique index to include the partitioning column.
        raise AppError(
            f"The primary key of a hypertable must include its time column {spec.time_column!r}.",
            code="invalid_primary_key",
        )
    for index in spec.indexes:
        for name in index:
            if name not in by_name:
                raise AppError(f"Index column {name!r} is not among the columns.", code="invalid_index")


def index_name(table: str, columns: Sequence[str]) -> str:
    """A deterministic index name within Postgres' 63 bytes."""
    name = f"ix_{table}_{'_'.join(columns)}"
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"ix_{digest}_{name.encode()[: MAX_IDENTIFIER_BYTES - 14].decode(errors='ignore')}"


def table_ddl(spec: TableSpec) -> list[sql.Composed]:
    """The statements that create `spec` (each idempotent), in order."""
    _spec_validate(spec)
    not_null = {spec.time_column, *spec.primary_key}
    column_sql = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name),
            sql.SQL(COLUMN_TYPES[c.data_type]),
            sql.SQL(" NOT NULL" if (not c.nullable or c.name in not_null) else ""),
        )
        for c in spec.columns
    ]
    if spec.primary_key:
        column_sql.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, spec.primary_key))))
    qualified = sql.Identifier(spec.schema, spec.table)
    statements = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(spec.schema)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(qualified, sql.SQL(", ").join(column_sql)),
    ]
    if spec.time_column:
        time_type = next(c.data_type for c in spec.columns if c.name == spec.time_column)
        interval = spec.chunk_interval or DEFAULT_CHUNK_INTERVALS[time_type]
        statements.append(
            sql.SQL("SELECT create_hypertable({}::regclass, by_range({}, {}::interval), if_not_exists => true)").format(
                sql.Literal(f"{spec.schema}.{sql_identifier_text(spec.table)}"),
                sql.Literal(spec.time_column),
                sql.Literal(interval),
            )
        )
    for columns in spec.indexes:
        statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(index_name(spec.table, columns)),
                qualified,
                sql.SQL(", ").join(map(sql.Identifier, columns)),
            )
        )
    return statements


def chunk_interval_validate(value: object, *, time_type: str) -> str:
    """`value` if PostgreSQL reads it as an interval between 1 hour and 1 year
    (whole days for a `date` time column, which has no finer unit); else a
    400 naming `chunk_interval`."""
    what = {"chunk_interval": value}
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise AppError(
            "chunk_interval must be a PostgreSQL interval such as '1 month' or '7 days'.",
            code="invalid_chunk_interval",
            details=what,
        )
    try:
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT extract(epoch FROM v), extract(epoch FROM %s::interval), extract(epoch FROM %s::interval),"
                " justify_hours(v) = date_trunc('day', justify_hours(v))"
                " FROM (SELECT %s::interval AS v) AS given",
                [CHUNK_INTERVAL_MIN, CHUNK_INTERVAL_MAX, value],
            )
            seconds, low, high, whole_days = cursor.fetchone()
    except DatabaseError as exc:
        raise AppError(
            f"chunk_interval {value!r} is not a PostgreSQL interval (e.g. '1 month', '7 days', '12 hours').",
            code="invalid_chunk_interval",
            details=what,
        ) from exc
    if not low <= seconds <= high:
        raise AppError(
            f"chunk_interval {value!r} must be between {CHUNK_INTERVAL_MIN} and {CHUNK_INTERVAL_MAX}.",
            code="invalid_chunk_interval",
            details=what,
        )
    if time_type == "date" and not whole_days:
        raise AppError(
            f"chunk_interval {value!r} must be whole days: the time column is a date.",
            code="invalid_chunk_interval",
            details=what,
        )
    return value.strip()


def chunk_interval_ddl(*, schema: str, table: str, interval: str) -> sql.Composed:
    """Change the hypertable's chunk interval; TimescaleDB applies it to chunks
    created from now on (existing chunks keep their range)."""
    return sql.SQL("SELECT set_chunk_time_interval({}::regclass, {}::interval)").format(
        sql.Literal(f"{sql_identifier_text(schema)}.{sql_identifier_text(table)}"), sql.Literal(interval)
    )


def sql_identifier_text(name: str) -> str:
    """`name` as a double-quoted SQL identifier, for places that take a
    regclass string (create_hypertable)."""
    return '"' + name.replace('"', '""') + '"'


def ddl_render(statements: Iterable[sql.Composable], *, using: str = "default") -> list[str]:
    connection = connections[using]
    connection.ensure_connection()
    return [statement.as_string(connection.connection) for statement in statements]


def ddl_execute(statements: Iterable[sql.Composable], *, using: str = "default") -> None:
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def table_create(*, spec: TableSpec, using: str = "default") -> None:
    """Create the table (and hypertable, and indexes) described by `spec`.
    Idempotent: what exists is kept."""
    ddl_execute(table_ddl(spec), using=using)


def hypertable_create(
    *,
    table: str,
    columns: Sequence[ColumnSpec],
    time_column: str,
    primary_key: Sequence[str] = (),
    chunk_interval: str | None = None,
    schema: str = settings.ANALYTICS_SCHEMA,
    using: str = "default",
) -> None:
    """Create `schema.table` from a column spec as a hypertable partitioned on
    `time_column`. Idempotent: an existing hypertable is kept."""
    spec = TableSpec(
        table=table,
        columns=columns,
        time_column=time_column,
        primary_key=primary_key,
        chunk_interval=chunk_interval,
        schema=schema,
    )
    table_create(spec=spec, using=using)


def column_add_ddl(*, schema: str, table: str, column: ColumnSpec) -> sql.Composed:
    _columns_validate([column])
    # New columns start nullable: existing rows have no value for them.
    return sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
        sql.Identifier(schema, table), sql.Identifier(column.name), sql.SQL(COLUMN_TYPES[column.data_type])
    )


def column_type_ddl(*, schema: str, table: str, column: str, data_type: str) -> sql.Composed:
    if data_type not in COLUMN_TYPES:
        raise AppError(f"Unknown type {data_type!r}.", code="invalid_column_type")
    pg_type = sql.SQL(COLUMN_TYPES[data_type])
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
        sql.Identifier(schema, table), sql.Identifier(column), pg_type, sql.Identifier(column), pg_type
    )


def column_nullable_ddl(*, schema: str, table: str, column: str, nullable: bool) -> sql.Composed:
    action = "DROP NOT NULL" if nullable else "SET NOT NULL"
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} " + action).format(
        sql.Identifier(schema, table), sql.Identifier(column)
    )


def table_drop_ddl(*, schema: str, table: str) -> sql.Composed:
    return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table))


def readonly_role_ensure(*, role: str, password: str, using: str = "default") -> None:
    """The CQRS read side's role: may connect and SELECT from `analytics_data`
    (tables created later included), nothing else; every transaction it opens
    is read-only.

    The role itself is made here only when the connected role may manage it
    (a superuser, or CREATEROLE holding ADMIN on it). The application's role
    is neither (least privilege): then the role must already exist, made by a
    DBA (scripts/services.sh locally; docs/operations.md, "Database roles"),
    and only the grants, on objects the application's role owns, are made."""
    identifier_validate(role, what="role")
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT current_user, r.oid IS NOT NULL,
                   me.rolsuper OR (me.rolcreaterole
                                   AND (r.oid IS NULL OR pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION')))
            FROM pg_roles me LEFT JOIN pg_roles r ON r.rolname = %s
            WHERE me.rolname = current_user
            """,
            [role],
        )
        current, exists, may_manage = cursor.fetchone()
        if not exists and not may_manage:
            raise ImproperlyConfigured(
                f"The read-only role {role!r} does not exist, and {current!r} may not create roles (as it should "
                "not). A database administrator creates it once: see docs/operations.md, 'Database roles'."
            )
        if may_manage:
            _readonly_role_attributes_set(cursor, role=role, password=password, exists=exists)
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


def _readonly_role_attributes_set(cursor, *, role: str, password: str, exists: bool) -> None:
    verb = "ALTER" if exists else "CREATE"
    cursor.execute(
        sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
    cursor.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(role)))

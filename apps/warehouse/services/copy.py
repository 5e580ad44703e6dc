"""Bulk writes into Zone 2 with PostgreSQL's COPY (psycopg 3).

`rows_copy` streams tuples into one `COPY ... FROM STDIN` on the caller's
connection and transaction: it neither commits nor opens a transaction, so a
failure part way leaves nothing behind once the caller's `transaction.atomic`
rolls back.

Two wire formats, chosen by the caller:

- binary (`types` given): psycopg dumps each value with the binary dumper of
  the named Postgres type. Measured (bench/ingest.py) at about 1.5-2x the
  client-side throughput of text, and the server decodes it with less work.
  Values must be exactly what the type takes: `datetime` (aware) for
  timestamptz, `Decimal` or `int` for numeric, `int` for bigint, `str` for text,
  `psycopg.types.json.Jsonb` for jsonb.
- text (`types=None`): psycopg picks a dumper per Python type and the server
  parses the text. More forgiving (a `str` goes into any column), slower: an
  aware `datetime` alone costs about 2 us per value to render.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connections
from psycopg import sql

from apps.warehouse.services import COLUMN_TYPES, identifier_validate


def copy_types(data_types: Sequence[str]) -> list[str]:
    """Postgres type names for platform data types (`COLUMN_TYPES`), as
    `rows_copy(types=...)` takes them."""
    return [COLUMN_TYPES[data_type] for data_type in data_types]


def copy_statement(*, schema: str, table: str, columns: Sequence[str], binary: bool) -> sql.Composed:
    identifier_validate(schema, what="schema")
    identifier_validate(table, what="table")
    for column in columns:
        identifier_validate(column, what="column")
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(schema, table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(" (FORMAT BINARY)" if binary else ""),
    )


def rows_copy(
    *,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
    schema: str = settings.ANALYTICS_SCHEMA,
    using: str = "default",
) -> int:
    """Write `rows` (tuples in `columns` order) into `schema.table` with one
    COPY inside the caller's transaction; returns the number of rows the
    server stored. `types` (Postgres type names, one per column) selects the
    binary format; see the module docstring for what values each accepts.

    `rows` may be a generator: it is consumed while the server is already
    storing earlier rows, and an exception it raises aborts the COPY."""
    if not columns:
        raise ValueError("rows_copy needs at least one column")
    if types is not None and len(types) != len(columns):
        raise ValueError("rows_copy: one type per column")
    statement = copy_statement(schema=schema, table=table, columns=columns, binary=types is not None)
    connection = connections[using]
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        with cursor.copy(statement) as copy:
            if types is not None:
                copy.set_types(list(types))
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        return cursor.rowcount

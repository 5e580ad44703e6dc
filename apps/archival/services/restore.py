"""Restore: archived Parquet for a time range back into its hypertable.

It restores into the table itself, with COPY, in one transaction. Archived
rows carry no identity the table would recognise, so restoring twice would
duplicate them: `archive_restore` refuses a range that already has rows in
the table (restore the whole range after its chunks were dropped, or delete
the rows first)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db import connection, transaction
from psycopg import sql

from apps.core.errors import AppError, Conflict, NotFound
from apps.core.lakehouse import lakehouse_from_settings
from apps.warehouse.selectors import ColumnInfo, hypertable_get, table_columns
from apps.warehouse.services.copy import rows_copy

RESTORE_BATCH_ROWS = 50_000


@dataclass
class RestoreResult:
    table: str
    rows: int = 0
    files: list[str] = field(default_factory=list)


def _partition_day(path: str) -> tuple[int, int, int] | None:
    parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
    try:
        return int(parts["year"]), int(parts["month"]), int(parts["day"])
    except (KeyError, ValueError):
        return None


def _time_bounds(column: ColumnInfo, range_start: datetime, range_end: datetime) -> tuple:
    """The range in the time column's own type: dates for `date` (a day is in
    the range when it starts in it), wall-clock UTC times for `timestamp
    without time zone` (the chunks' ranges are UTC), aware times otherwise."""
    if column.data_type == "date":
        return _day_ceil(range_start), _day_ceil(range_end)
    if column.pg_type == "timestamp without time zone":
        return tuple(t.astimezone(UTC).replace(tzinfo=None) for t in (range_start, range_end))
    return range_start, range_end


def _day_ceil(moment: datetime) -> date:
    utc = moment.astimezone(UTC)
    day = utc.date()
    return day if utc.time() == time(0) else day + timedelta(days=1)


def archive_restore(
    *, table_schema: str, table_name: str, range_start: datetime, range_end: datetime, target: str | None = None
) -> RestoreResult:
    """Copy the archived rows of `table_schema.table_name` with time in
    [range_start, range_end) back into the table. Raises Conflict when the
    table already has rows in the range, NotFound when it is not a hypertable."""
    if range_start.tzinfo is None or range_end.tzinfo is None:
        raise AppError("range_start and range_end must carry a time zone.", code="invalid_range")
    if range_start >= range_end:
        raise AppError("range_start must be before range_end.", code="invalid_range")
    info = hypertable_get(table=table_name, schema=table_schema)
    if info is None:
        raise NotFound(f"{table_schema}.{table_name} is not a hypertable.")
    table_cols = {c.name: c for c in table_columns(table=table_name, schema=table_schema)}
    low, high = _time_bounds(table_cols[info.time_column], range_start, range_end)
    lakehouse = lakehouse_from_settings(target)
    result = RestoreResult(table=f"{table_schema}.{table_name}")

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT 1 FROM {} WHERE {t} >= %s AND {t} < %s LIMIT 1").format(
                    sql.Identifier(table_schema, table_name), t=sql.Identifier(info.time_column)
                ),
                [low, high],
            )
            if cursor.fetchone() is not None:
                raise Conflict(
                    f"{result.table} already has rows between {range_start} and {range_end}; "
                    "restoring would duplicate them.",
                    code="restore_range_not_empty",
                )
        last_day = range_end.astimezone(UTC).date().timetuple()[:3]
        for path in lakehouse.list_paths(f"{table_name}/"):
            day = _partition_day(path)
            # A file sits under its chunk's start day: one starting after the range holds none of it.
            if not path.endswith(".parquet") or day is None or day > last_day:
                continue
            parquet = pq.ParquetFile(pa.BufferReader(lakehouse.read_data(path)))
            columns = [name for name in parquet.schema_arrow.names if name in table_cols]
            copied = rows_copy(
                table=table_name,
                schema=table_schema,
                columns=columns,
                rows=_rows_in_range(parquet, columns, info.time_column, low, high),
            )
            if copied:
                result.rows += copied
                result.files.append(path)
    return result


def _rows_in_range(parquet: pq.ParquetFile, columns: list[str], time_column: str, low, high) -> Iterator[tuple]:
    for batch in parquet.iter_batches(batch_size=RESTORE_BATCH_ROWS, columns=columns):
        times = batch.column(time_column)
        mask = pc.and_(
            pc.greater_equal(times, pa.scalar(low, type=times.type)),
            pc.less(times, pa.scalar(high, type=times.type)),
        )
        selected = batch.filter(mask)
        if selected.num_rows:
            yield from zip(*(selected.column(name).to_pylist() for name in columns), strict=True)

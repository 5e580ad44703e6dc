"""The SQL of a rollup: its table, and the statements that re-materialize a
range of buckets from the entity's raw rows.

Column layout (apps/calculations/rollup_spec.py): `bucket timestamptz NOT
NULL`, `dim_<i>` typed like the dimension attribute, `row_count bigint NOT
NULL`, then per measure i the states it carries: `m<i>_sum numeric`,
`m<i>_count bigint`, `m<i>_min` and `m<i>_max` typed like the attribute,
`m<i>_hll hll`, `m<i>_tdigest tdigest`.
One unique index on (bucket, dim_0, ...) NULLS NOT DISTINCT: a NULL dimension
value is a group of its own, exactly once per bucket.

Identifiers go through psycopg.sql; range bounds are bound parameters."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from psycopg import sql

from apps.calculations.rollup_spec import HLL_LOG2M, TDIGEST_COMPRESSION
from apps.ontology.catalog import EntitySpec
from apps.warehouse.services import COLUMN_TYPES, MAX_IDENTIFIER_BYTES, index_name, sql_identifier_text

GRAIN_WIDTHS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
# Hypertable chunks: a minute rollup of a few series is ~45K rows a month, a day rollup ~365 a year.
CHUNK_INTERVALS = {"minute": "30 days", "hour": "30 days", "day": "365 days"}
NUMERIC_TYPES = frozenset({"integer", "decimal", "double"})
ORDERED_TYPES = frozenset({"string", "integer", "decimal", "double", "date", "timestamp"})
SKETCHED_TYPES = frozenset({"string", "integer", "decimal", "double", "boolean", "date", "timestamp"})
# The platform data types each state can be computed over.
STATE_DATA_TYPES = {
    "sum": NUMERIC_TYPES,
    "count": SKETCHED_TYPES,
    "min": ORDERED_TYPES,
    "max": ORDERED_TYPES,
    "hll": SKETCHED_TYPES,
    "tdigest": NUMERIC_TYPES,
}
BUCKET = "bucket"
ROW_COUNT = "row_count"


@dataclass(frozen=True)
class Measure:
    attribute: str
    states: tuple[str, ...]


def dim_column(index: int) -> str:
    return f"dim_{index}"


def state_column(index: int, state: str) -> str:
    return f"m{index}_{state}"


def bucket_floor(moment: datetime, grain: str) -> datetime:
    """The start of `moment`'s bucket, as time_bucket() computes it for
    minute/hour/day widths (UTC, aligned to the epoch)."""
    moment = moment.astimezone(UTC)
    if grain == "minute":
        return moment.replace(second=0, microsecond=0)
    if grain == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def rollup_table_name(*, client_id: int, entity: str, grain: str) -> str:
    """`r<client id>_<entity>_<grain>`; names past Postgres' 63 bytes keep a
    hash of the full name so two long entity codes never collide."""
    name = f"r{client_id}_{entity}_{grain}"
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    head = f"r{client_id}_{digest}_"
    tail = f"_{grain}"
    room = MAX_IDENTIFIER_BYTES - len(head) - len(tail)
    return head + entity[:room] + tail


def rollup_columns(
    *, entity: EntitySpec, dimensions: Sequence[str], measures: Sequence[Measure]
) -> list[tuple[str, str]]:
    """(column, Postgres type) in table order."""
    columns = [(BUCKET, "timestamptz")]
    columns += [(dim_column(i), COLUMN_TYPES[entity.attributes[code].data_type]) for i, code in enumerate(dimensions)]
    columns.append((ROW_COUNT, "bigint"))
    for i, measure in enumerate(measures):
        data_type = entity.attributes[measure.attribute].data_type
        for state in measure.states:
            pg_type = {"sum": "numeric", "count": "bigint", "hll": "hll", "tdigest": "tdigest"}.get(
                state, COLUMN_TYPES[data_type]
            )
            columns.append((state_column(i, state), pg_type))
    return columns


def rollup_table_ddl(
    *, schema: str, table: str, grain: str, columns: Sequence[tuple[str, str]], dimension_count: int
) -> list[sql.Composed]:
    """CREATE TABLE, hypertable on `bucket`, the unique (bucket, dims) index."""
    qualified = sql.Identifier(schema, table)
    not_null = {BUCKET, ROW_COUNT}
    column_sql = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(name), sql.SQL(pg_type), sql.SQL(" NOT NULL" if name in not_null else "")
        )
        for name, pg_type in columns
    )
    key = [BUCKET, *(dim_column(i) for i in range(dimension_count))]
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)),
        sql.SQL("CREATE TABLE {} ({})").format(qualified, column_sql),
        # No default (bucket DESC) index: the unique index leads with bucket.
        sql.SQL(
            "SELECT create_hypertable({}::regclass, by_range({}, {}::interval), create_default_indexes => false)"
        ).format(
            sql.Literal(f"{sql_identifier_text(schema)}.{sql_identifier_text(table)}"),
            sql.Literal(BUCKET),
            sql.Literal(CHUNK_INTERVALS[grain]),
        ),
        sql.SQL("CREATE UNIQUE INDEX {} ON {} ({}) NULLS NOT DISTINCT").format(
            sql.Identifier(index_name(table, ["key"])), qualified, sql.SQL(", ").join(map(sql.Identifier, key))
        ),
    ]


def state_expression(state: str, value: sql.Composable, data_type: str) -> sql.Composable:
    """The aggregate that computes one partial state over raw rows. A query
    answering from a rollup plus the raw tail must build the tail's states
    with these same expressions, or the sketches will not merge."""
    if state == "sum":
        return sql.SQL("sum({})::numeric").format(value)
    if state == "count":
        return sql.SQL("count({})").format(value)
    if state in ("min", "max"):
        return sql.SQL(state + "({})").format(value)
    if state == "hll":
        # 1.0 and 1.00 are one distinct value, but numeric hashes differ by scale.
        hashed = sql.SQL("trim_scale({})").format(value) if data_type == "decimal" else value
        return sql.SQL("hll_add_agg(hll_hash_any({}), {})").format(hashed, sql.Literal(HLL_LOG2M))
    if state == "tdigest":
        return sql.SQL("tdigest({}::double precision, {})").format(value, sql.Literal(TDIGEST_COMPRESSION))
    raise ValueError(f"unknown state {state!r}")


def range_bounds(start: datetime, end: datetime, time_type: str) -> tuple[date | datetime, date | datetime]:
    """[start, end) in the time column's own type, so chunk exclusion works:
    a date column holds day d at d 00:00 UTC, which lies in [start, end)
    exactly when ceil(start) <= d < ceil(end)."""
    if time_type != "date":
        return start, end

    def ceil_day(moment: datetime) -> date:
        moment = moment.astimezone(UTC)
        return moment.date() + (timedelta(days=1) if moment.time() != time(0) else timedelta(0))

    return ceil_day(start), ceil_day(end)


def rollup_delete_sql(*, schema: str, table: str) -> sql.Composed:
    """Params: start, end."""
    return sql.SQL("DELETE FROM {} WHERE {} >= %(start)s AND {} < %(end)s").format(
        sql.Identifier(schema, table), sql.Identifier(BUCKET), sql.Identifier(BUCKET)
    )


def rollup_insert_sql(
    *,
    schema: str,
    table: str,
    grain: str,
    entity: EntitySpec,
    dimensions: Sequence[str],
    measures: Sequence[Measure],
) -> sql.Composed:
    """INSERT ... SELECT of the partial states of every bucket whose raw
    rows have time in [start, end). Params: width, start, end (range_bounds)."""
    time_column = sql.Identifier("e", entity.time_attribute)
    bucket = sql.SQL("time_bucket(%(width)s::interval, {}::timestamptz)").format(time_column)
    selected: list[sql.Composable] = [bucket]
    selected += [sql.Identifier("e", code) for code in dimensions]
    selected.append(sql.SQL("count(*)"))
    for measure in measures:
        value = sql.Identifier("e", measure.attribute)
        data_type = entity.attributes[measure.attribute].data_type
        selected += [state_expression(state, value, data_type) for state in measure.states]
    columns = [name for name, _ in rollup_columns(entity=entity, dimensions=dimensions, measures=measures)]
    groups = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(1 + len(dimensions)))
    return sql.SQL(
        "INSERT INTO {target} ({columns}) SELECT {selected} FROM {raw} AS e "
        "WHERE {time} >= %(start)s AND {time} < %(end)s GROUP BY {groups}"
    ).format(
        target=sql.Identifier(schema, table),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        selected=sql.SQL(", ").join(selected),
        raw=sql.Identifier(entity.schema, entity.table),
        time=time_column,
        groups=groups,
    )


def raw_earliest_sql(entity: EntitySpec) -> sql.Composed:
    return sql.SQL("SELECT min({}) FROM {}").format(
        sql.Identifier(entity.time_attribute), sql.Identifier(entity.schema, entity.table)
    )


def raw_next_sql(entity: EntitySpec) -> sql.Composed:
    """The first raw time at or after %(start)s: one index probe (the
    hypertable's time index), chunks before `start` excluded."""
    return sql.SQL("SELECT min({t}) FROM {} WHERE {t} >= %(start)s").format(
        sql.Identifier(entity.schema, entity.table), t=sql.Identifier(entity.time_attribute)
    )


def grain_interval(grain: str) -> str:
    return f"1 {grain}"

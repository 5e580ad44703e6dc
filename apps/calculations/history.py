"""The history of computed series (ARCHITECTURE.md, section 5, step 6): the
service that records a result and the selector that reads it back. The
package's services/selectors modules re-export these."""

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from psycopg import sql

from apps.calculations.models import MetricHistory
from apps.calculations.types import ArchivedRange, Granularity, MetricResult


def _dims_json(dims: dict[str, Any]) -> str:
    # Sorted keys and fixed separators: equal dimension sets give equal text,
    # whatever order the compiler produced them in. default=str keeps dates
    # and decimals (group-by values) hashable instead of failing.
    return json.dumps(dims, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def dims_key(dims: dict[str, Any]) -> str:
    """The sha256 (hex) of the canonical JSON of `dims`: how a dimension set is
    identified in the primary key of the history."""
    return hashlib.sha256(_dims_json(dims).encode()).hexdigest()


def _column(name: str) -> sql.Identifier:
    return sql.Identifier(MetricHistory._meta.get_field(name).column)


_KEY_FIELDS = ("client", "metric_code", "granularity", "dims_key", "bucket")
_UPDATED_FIELDS = ("value", "unit", "computed_at", "dims")

# Constant per result: client, metric, granularity, unit, computed_at; per point,
# arrays unnested into rows, so one statement carries any number of points
# (no limit on bound parameters as with a multi-row VALUES).
_UPSERT = sql.SQL(
    """
    INSERT INTO {table} ({client}, {metric_code}, {granularity}, {unit}, {computed_at},
                         {bucket}, {dims}, {dims_key}, {value})
    SELECT %s, %s, %s, %s, %s, p.bucket, p.dims::jsonb, p.dims_key, p.value
    FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::float8[]) AS p(bucket, dims, dims_key, value)
    ON CONFLICT ({key}) DO UPDATE SET {updates}
    """
).format(
    table=sql.Identifier(MetricHistory._meta.db_table),
    **{name: _column(name) for name in ("client", "metric_code", "granularity", "unit", "computed_at")},
    **{name: _column(name) for name in ("bucket", "dims", "dims_key", "value")},
    key=sql.SQL(", ").join(_column(name) for name in _KEY_FIELDS),
    updates=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(_column(name)) for name in _UPDATED_FIELDS),
)


_STEPS = {Granularity.MINUTE: timedelta(minutes=1), Granularity.HOUR: timedelta(hours=1),
          Granularity.DAY: timedelta(days=1), Granularity.WEEK: timedelta(weeks=1)}  # fmt: skip
_MONTHS = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}


def _bucket_end(bucket: datetime, granularity: str) -> datetime:
    unit = Granularity(granularity)
    if unit in _STEPS:
        return bucket + _STEPS[unit]
    years, month = divmod(bucket.month - 1 + _MONTHS[unit], 12)
    return bucket.replace(year=bucket.year + years, month=month + 1)


def _partly_archived(bucket: datetime, granularity: str, archived: tuple[ArchivedRange, ...]) -> bool:
    end = _bucket_end(bucket, granularity)
    return any(span.start < end and span.end > bucket for span in archived)


def history_persist(*, client_id: int, result: MetricResult) -> int:
    """Record every point of `result` that has a bucket, replacing what an
    earlier computation stored for the same bucket and dimension set. Points
    without a bucket (a value over the whole range) have no place in a time
    series and are skipped, and so are buckets whose raw rows were partly
    archived (`result.archived`): the value computed before the drop, from
    all the rows, stays. Returns the number of rows written."""
    rows: dict[tuple[str, datetime], tuple[str, float | None]] = {}
    for point in result.series:
        if point.bucket is None:
            continue
        if result.archived and _partly_archived(point.bucket, result.granularity, result.archived):
            continue
        text = _dims_json(point.dims)
        key = hashlib.sha256(text.encode()).hexdigest()
        # One statement may not update a row twice: of repeated points the last wins, as if persisted in order.
        rows[(key, point.bucket)] = (text, point.value)
    if not rows:
        return 0
    constants = [client_id, result.metric, result.granularity, result.unit, result.computed_at]
    arrays = [
        [bucket for _, bucket in rows],
        [text for text, _ in rows.values()],
        [key for key, _ in rows],
        [value for _, value in rows.values()],
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_UPSERT, [*constants, *arrays])
        return cursor.rowcount


def history_list(
    *,
    client_id: int,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    granularity: str | None = None,
) -> QuerySet[MetricHistory]:
    """The stored history of one metric of one client, buckets in [start, end)
    (an open side when None), optionally at one granularity; in bucket order,
    then by dimension set."""
    queryset = MetricHistory.objects.filter(client_id=client_id, metric_code=metric)
    if start is not None:
        queryset = queryset.filter(bucket__gte=start)
    if end is not None:
        queryset = queryset.filter(bucket__lt=end)
    if granularity is not None:
        queryset = queryset.filter(granularity=granularity)
    return queryset.order_by("bucket", "dims_key")


def history_recent(
    *, client_id: int, metrics: list[str], granularity: str, per_metric: int
) -> dict[str, list[tuple[datetime, float | None]]]:
    """The latest `per_metric` recorded points of each metric as a whole (no
    breakdown) at one granularity, oldest first, in one query (a row number
    per metric): what a dashboard of many metrics shows at once. Metrics
    without history are absent."""
    ranked = (
        MetricHistory.objects.filter(client_id=client_id, metric_code__in=metrics, granularity=granularity, dims={})
        .annotate(rank=Window(RowNumber(), partition_by=[F("metric_code")], order_by=F("bucket").desc()))
        .filter(rank__lte=per_metric)
        .order_by("metric_code", "bucket")
        .values_list("metric_code", "bucket", "value")
    )
    found: dict[str, list[tuple[datetime, float | None]]] = {}
    for code, bucket, value in ranked:
        found.setdefault(code, []).append((bucket, value))
    return found

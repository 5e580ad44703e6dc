"""Refresh: bring a rollup up to date with its entity's raw rows.

A refresh re-materializes, bucket range by bucket range, with DELETE of the
rollup rows in the range and INSERT ... SELECT of the raw rows' partial
states:

- the ranges of pending invalidations (late rows that landed below the
  watermark), rounded out to whole buckets and clipped to the watermark;
- the refresh window [watermark - start_offset, now - end_offset), rounded
  down to whole buckets (on the first refresh: from the earliest raw row).
  Ranges are walked from raw row to raw row: a slice that would hold no
  raw rows is merged into the next one that does (`_data_slices`), so a
  rollup over data from years ago catches up to today (and a late load
  spanning years is re-materialized) in as many slices as there is data,
  not one slice per empty week.

Work is done in slices of at most SLICES[grain] per transaction, oldest
first, and the watermark advances as each window slice commits, so a long
backfill neither holds one huge transaction nor loses its progress when it
fails half way. Invalidations are deleted (by id: ones recorded meanwhile
stay) only once everything succeeded.

Each slice locks the rollup's row (FOR NO KEY UPDATE) before it reads raw
rows; `rollup_invalidate` tries the same lock, so rows that land during a
refresh are either read by the slice or recorded as an invalidation
(services.rollup_invalidate)."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.calculations.models import Rollup, RollupInvalidation
from apps.calculations.rollups import ddl
from apps.calculations.rollups.locks import refresh_lock
from apps.calculations.routing_state import routing_changed
from apps.core.errors import AppError
from apps.ontology.catalog import EntitySpec, catalog_load

# Raw rows scanned per transaction: a week of minute buckets, a month of hours or days.
SLICES = {"minute": timedelta(days=7), "hour": timedelta(days=30), "day": timedelta(days=30)}
Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class RefreshResult:
    rollup_id: int
    skipped: bool = False  # another refresh of this rollup was running
    watermark: datetime | None = None
    rows: int = 0  # rollup rows written
    ranges: tuple[Range, ...] = ()  # [start, end) re-materialized, in order
    invalidations: int = 0  # invalidation records resolved


def rollup_refresh(*, rollup: Rollup, now: datetime | None = None) -> RefreshResult:
    """Refresh `rollup` as of `now` (default: the current time). Returns at
    once with `skipped` when another refresh of it is running. Success is
    recorded in last_refresh_at/last_refresh_rows; a failure in last_error,
    and re-raised (a Celery task retries or reports it)."""
    now = now or timezone.now()
    with refresh_lock(rollup.pk) as acquired:
        if not acquired:
            return RefreshResult(rollup.pk, skipped=True, watermark=rollup.watermark)
        rollup.refresh_from_db()
        try:
            result = _refresh(rollup, now)
        except Exception as exc:
            message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
            Rollup.objects.filter(pk=rollup.pk).update(last_error=message[:4000], updated_at=timezone.now())
            raise
        Rollup.objects.filter(pk=rollup.pk).update(
            last_refresh_at=now, last_refresh_rows=result.rows, last_error="", updated_at=timezone.now()
        )
    rollup.refresh_from_db()
    return result


def _entity(rollup: Rollup) -> EntitySpec:
    entity = catalog_load(client_id=rollup.client_id).entities.get(rollup.entity_code)
    if entity is None:
        raise AppError(f"Entity {rollup.entity_code!r} no longer exists.", code="unknown_entity")
    used = [*rollup.dimensions, *(m["attribute"] for m in rollup.measures)]
    missing = sorted({code for code in used if code not in entity.attributes})
    if missing:
        raise AppError(
            f"Entity {entity.code!r} no longer has {', '.join(missing)}; change the rollup's dimensions or measures.",
            code="unknown_attribute",
            details={"attributes": missing},
        )
    return entity


def _bucket_of(value: date | datetime | None, grain: str) -> datetime | None:
    """The bucket a raw time value falls in, whatever the column's type."""
    if value is None:
        return None
    if not isinstance(value, datetime):  # a date column: the day at 00:00 UTC
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:  # a timestamp column: read in the connection's time zone, UTC
        value = value.replace(tzinfo=UTC)
    return ddl.bucket_floor(value, grain)


def _raw_earliest(entity: EntitySpec, grain: str) -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(ddl.raw_earliest_sql(entity))
        return _bucket_of(cursor.fetchone()[0], grain)


def _raw_next(entity: EntitySpec, grain: str, start: datetime) -> datetime | None:
    """The bucket of the first raw row at or after `start`, None past the last."""
    low, _ = ddl.range_bounds(start, start, entity.attributes[entity.time_attribute].data_type)
    with connection.cursor() as cursor:
        cursor.execute(ddl.raw_next_sql(entity), {"start": low})
        return _bucket_of(cursor.fetchone()[0], grain)


def _data_slices(entity: EntitySpec, grain: str, span: Range, size: timedelta) -> Iterator[Range]:
    """`span` cut into slices holding at most `size` of raw time each: a
    slice starts where the previous one ended and stretches over any empty
    stretch up to the next raw row, so empty ranges cost no slice of their
    own. Each slice still covers its whole span (its DELETE clears partials
    of rows gone since, its INSERT reads rows that landed meanwhile)."""
    start, end = span
    while start < end:
        following = _raw_next(entity, grain, start)
        stop = end if following is None else min(max(start, following) + size, end)
        yield start, stop
        start = stop


def _stale_ranges(
    pending: Sequence[Range], grain: str, watermark: datetime | None, window: Range | None
) -> list[Range]:
    """Invalidated ranges as whole buckets below the watermark, merged, minus
    the window (which re-materializes its part anyway)."""
    if watermark is None:
        return []
    width = ddl.GRAIN_WIDTHS[grain]
    spans = sorted(
        (ddl.bucket_floor(low, grain), min(ddl.bucket_floor(high, grain) + width, watermark)) for low, high in pending
    )
    merged: list[Range] = []
    for low, high in spans:
        if low >= high:
            continue
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    if window is None:
        return merged
    outside = []
    for low, high in merged:
        if low < window[0]:
            outside.append((low, min(high, window[0])))
        if high > window[1]:
            outside.append((max(low, window[1]), high))
    return outside


def _materialize(rollup: Rollup, entity: EntitySpec, span: Range, *, advance: bool) -> int:
    """Re-materialize the buckets in `span` in one transaction; with
    `advance`, move the watermark up to the span's end. Returns rows written."""
    start, end = span
    schema = settings.ANALYTICS_SCHEMA
    measures = [ddl.Measure(m["attribute"], tuple(m["states"])) for m in rollup.measures]
    insert = ddl.rollup_insert_sql(
        schema=schema,
        table=rollup.table_name,
        grain=rollup.grain,
        entity=entity,
        dimensions=rollup.dimensions,
        measures=measures,
    )
    low, high = ddl.range_bounds(start, end, entity.attributes[entity.time_attribute].data_type)
    with transaction.atomic():
        locked = Rollup.objects.select_for_update(no_key=True)
        watermark = locked.values_list("watermark", flat=True).get(pk=rollup.pk)
        with connection.cursor() as cursor:
            cursor.execute(ddl.rollup_delete_sql(schema=schema, table=rollup.table_name), {"start": start, "end": end})
            cursor.execute(insert, {"width": ddl.grain_interval(rollup.grain), "start": low, "end": high})
            rows = cursor.rowcount
        if advance and (watermark is None or end > watermark):
            Rollup.objects.filter(pk=rollup.pk).update(watermark=end)
            routing_changed(rollup.client_id)
    return rows


def _refresh(rollup: Rollup, now: datetime) -> RefreshResult:
    entity = _entity(rollup)
    grain = rollup.grain
    target = ddl.bucket_floor(now - rollup.end_offset, grain)
    earliest = _raw_earliest(entity, grain)
    watermark = rollup.watermark
    if earliest is None:
        start = target  # no raw rows (or none left): nothing to materialize, keep what the rollup holds
    elif watermark is None:
        start = earliest
    else:
        # Never below the earliest raw row: buckets whose raw rows were archived keep their partials.
        start = max(ddl.bucket_floor(min(watermark, target) - rollup.start_offset, grain), earliest)
    window = (start, target) if start < target else None
    pending = list(rollup.invalidations.values_list("id", "time_min", "time_max"))
    stale = _stale_ranges([(low, high) for _, low, high in pending], grain, watermark, window)
    size = SLICES[grain]
    done: list[Range] = []
    rows = 0
    for span in stale:
        for piece in _data_slices(entity, grain, span, size):
            rows += _materialize(rollup, entity, piece, advance=False)
            done.append(piece)
    if window is not None:
        for piece in _data_slices(entity, grain, window, size):
            rows += _materialize(rollup, entity, piece, advance=True)
            done.append(piece)
    new_watermark = target if watermark is None else max(watermark, target)
    with transaction.atomic():
        below = Q(watermark__isnull=True) | Q(watermark__lt=new_watermark)
        moved = Rollup.objects.filter(below, pk=rollup.pk).update(watermark=new_watermark)
        resolved, _ = RollupInvalidation.objects.filter(pk__in=[pk for pk, _, _ in pending]).delete()
        if moved or resolved:
            routing_changed(rollup.client_id)
    return RefreshResult(rollup.pk, watermark=new_watermark, rows=rows, ranges=tuple(done), invalidations=len(pending))

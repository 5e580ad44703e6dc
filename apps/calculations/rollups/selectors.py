"""Reads about rollups: what the router may answer from (`rollup_specs`),
and which backend stores them."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Q, QuerySet, Value

from apps.calculations.models import Rollup
from apps.calculations.rollup_spec import GRAINS, RollupSpec
from apps.calculations.rollups.ddl import dim_column, state_column
from apps.core.errors import NotFound
from apps.warehouse.selectors import timescaledb_info

BACKEND_TABLES = "tables"


def rollup_list(*, client_id: int, entity: str | None = None) -> QuerySet[Rollup]:
    rollups = Rollup.objects.filter(client_id=client_id).prefetch_related("invalidations")
    if entity:
        rollups = rollups.filter(entity_code=entity)
    return rollups.order_by("entity_code", "grain", "pk")


def rollup_get(*, client_id: int, rollup_id: int) -> Rollup:
    """A client's rollup; another client's answers 404 like a missing one."""
    rollup = Rollup.objects.filter(client_id=client_id, pk=rollup_id).prefetch_related("invalidations").first()
    if rollup is None:
        raise NotFound(f"No rollup {rollup_id}.", code="not_found", details={"id": rollup_id})
    return rollup


def _merged(ranges) -> tuple[tuple[datetime, datetime], ...]:
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def stale_ranges(rollup: Rollup) -> tuple[tuple[datetime, datetime], ...]:
    """The pending invalidations as [min, max] ranges, sorted, overlapping
    ones merged."""
    return _merged((i.time_min, i.time_max) for i in rollup.invalidations.all())


def _spec(
    *, pk: int, client_id: int, entity: str, table: str, grain: str, dimensions, measures, watermark, stale
) -> RollupSpec:
    return RollupSpec(
        id=pk,
        client_id=client_id,
        entity=entity,
        schema=settings.ANALYTICS_SCHEMA,
        table=table,
        grain=grain,
        dims={code: dim_column(i) for i, code in enumerate(dimensions)},
        states={
            (measure["attribute"], state): state_column(i, state)
            for i, measure in enumerate(measures)
            for state in measure["states"]
        },
        watermark=watermark,
        stale=stale,
    )


def rollup_spec(rollup: Rollup) -> RollupSpec:
    return _spec(
        pk=rollup.pk,
        client_id=rollup.client_id,
        entity=rollup.entity_code,
        table=rollup.table_name,
        grain=rollup.grain,
        dimensions=rollup.dimensions,
        measures=rollup.measures,
        watermark=rollup.watermark,
        stale=stale_ranges(rollup),
    )


def rollup_specs(*, client_id: int, entity: str) -> list[RollupSpec]:
    """The enabled rollups of one entity, finest grain first. A rollup
    answers for buckets before its `watermark` (None: never materialized)
    except those overlapping a `stale` range. One query (the router asks on
    every metric request): the invalidations come aggregated with their rollup."""
    pending = Q(invalidations__isnull=False)
    ordered = ("invalidations__id",)
    rows = (
        Rollup.objects.filter(client_id=client_id, entity_code=entity, enabled=True)
        .values("pk", "client_id", "entity_code", "table_name", "grain", "dimensions", "measures", "watermark")
        .annotate(
            lows=ArrayAgg("invalidations__time_min", filter=pending, order_by=ordered, default=Value([])),
            highs=ArrayAgg("invalidations__time_max", filter=pending, order_by=ordered, default=Value([])),
        )
    )
    specs = [
        _spec(
            pk=row["pk"],
            client_id=row["client_id"],
            entity=row["entity_code"],
            table=row["table_name"],
            grain=row["grain"],
            dimensions=row["dimensions"],
            measures=row["measures"],
            watermark=row["watermark"],
            stale=_merged(zip(row["lows"], row["highs"], strict=True)),
        )
        for row in rows
    ]
    return sorted(specs, key=lambda spec: GRAINS.index(spec.grain))


@dataclass(frozen=True)
class RollupBackend:
    """How rollups are stored. Only `tables` (tables refreshed by Celery)
    exists; on the Timescale-licensed edition a continuous-aggregate backend
    could serve the same RollupSpec interface (docs/rollups.md)."""

    backend: str
    timescaledb_version: str | None
    timescaledb_license: str | None
    continuous_aggregates_available: bool


def rollup_backend() -> RollupBackend:
    info = timescaledb_info()
    return RollupBackend(
        backend=BACKEND_TABLES,
        timescaledb_version=info.version,
        timescaledb_license=info.license,
        continuous_aggregates_available=info.has_continuous_aggregates,
    )

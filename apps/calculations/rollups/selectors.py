"""Reads about rollups: what the router may answer from (`rollup_specs`),
and which backend stores them."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from apps.calculations.models import Rollup
from apps.calculations.rollups.ddl import dim_column, state_column
from apps.calculations.rollups.spec import GRAINS, RollupSpec
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


def stale_ranges(rollup: Rollup) -> tuple[tuple[datetime, datetime], ...]:
    """The pending invalidations as [min, max] ranges, sorted, overlapping
    ones merged."""
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted((i.time_min, i.time_max) for i in rollup.invalidations.all()):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def rollup_spec(rollup: Rollup) -> RollupSpec:
    return RollupSpec(
        id=rollup.pk,
        client_id=rollup.client_id,
        entity=rollup.entity_code,
        schema=settings.ANALYTICS_SCHEMA,
        table=rollup.table_name,
        grain=rollup.grain,
        dims={code: dim_column(i) for i, code in enumerate(rollup.dimensions)},
        states={
            (measure["attribute"], state): state_column(i, state)
            for i, measure in enumerate(rollup.measures)
            for state in measure["states"]
        },
        watermark=rollup.watermark,
        stale=stale_ranges(rollup),
    )


def rollup_specs(*, client_id: int, entity: str) -> list[RollupSpec]:
    """The enabled rollups of one entity, finest grain first. A rollup
    answers for buckets before its `watermark` (None: never materialized)
    except those overlapping a `stale` range."""
    rollups = rollup_list(client_id=client_id, entity=entity).filter(enabled=True)
    specs = [rollup_spec(rollup) for rollup in rollups]
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

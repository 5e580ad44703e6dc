"""Rollups: create, change, delete (with their tables), record late-data
invalidations, and claim the rollups whose refresh is due. The refresh
itself lives in refresh.py and is re-exported here.

A rollup's table changes only by being dropped and recreated (new
dimensions or measures), which resets its watermark: the next refresh
materializes it again from the earliest raw row."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.calculations.models import Rollup, RollupInvalidation
from apps.calculations.rollup_spec import GRAINS, STATES
from apps.calculations.rollups import ddl
from apps.calculations.rollups.locks import (
    RefreshRunning,
    ensure_lock_for_transaction,
    refresh_lock,
    refresh_lock_for_transaction,
)
from apps.calculations.rollups.refresh import RefreshResult, rollup_refresh
from apps.calculations.routing_state import routing_changed
from apps.core.errors import AppError, Conflict
from apps.ontology.catalog import EntitySpec, catalog_load
from apps.warehouse.services import ddl_execute, table_drop_ddl

__all__ = [
    "RefreshResult",
    "RefreshRunning",
    "RollupPolicy",
    "rollup_create",
    "rollup_delete",
    "rollup_invalidate",
    "rollup_refresh",
    "rollup_update",
    "rollups_claim_due",
    "rollups_delete_for_entity",
]

MAX_DIMENSIONS = 16
MAX_MEASURES = 32
_UNSET: Any = object()


@dataclass(frozen=True)
class RollupPolicy:
    schedule: str = "*/5 * * * *"
    start_offset: timedelta = timedelta(days=1)
    end_offset: timedelta | None = None  # None: one grain


def _invalid(field: str, message: str, code: str = "invalid_rollup", **details: Any) -> AppError:
    return AppError(message, code=code, details={"field": field, **details})


def _entity_for(client_id: int, code: str) -> EntitySpec:
    entity = catalog_load(client_id=client_id).entities.get(code)
    if entity is None:
        raise _invalid("entity", f"Unknown entity {code!r}.", code="unknown_entity", entity=code)
    if not entity.is_time_series:
        raise _invalid(
            "entity",
            f"Entity {code!r} is a reference entity; only time-series entities have rollups.",
            entity=code,
        )
    return entity


def _attribute_check(entity: EntitySpec, code: object, field: str) -> str:
    if not isinstance(code, str) or code not in entity.attributes:
        raise _invalid(field, f"Entity {entity.code!r} has no attribute {code!r}.", code="unknown_attribute")
    if code == entity.time_attribute:
        raise _invalid(field, f"{code!r} is the time attribute; rollups bucket it, they do not group by it.")
    if entity.attributes[code].data_type == "json":
        raise _invalid(field, f"{code!r} is a json attribute; rollups cannot group or aggregate it.")
    return code


def dimensions_validate(entity: EntitySpec, dimensions: object) -> list[str]:
    if not isinstance(dimensions, list | tuple):
        raise _invalid("dimensions", "dimensions must be a list of attribute codes.")
    result = [_attribute_check(entity, code, "dimensions") for code in dimensions]
    if len(set(result)) != len(result):
        raise _invalid("dimensions", "A dimension appears twice.")
    if len(result) > MAX_DIMENSIONS:
        raise _invalid("dimensions", f"At most {MAX_DIMENSIONS} dimensions.")
    return result


def measures_validate(entity: EntitySpec, measures: object) -> list[dict]:
    """[{"attribute": code, "states": [...]}], states in STATES order."""
    if not isinstance(measures, list | tuple):
        raise _invalid("measures", 'measures must be a list of {"attribute": ..., "states": [...]}.')
    result, seen = [], set()
    for measure in measures:
        if not isinstance(measure, dict) or set(measure) != {"attribute", "states"}:
            raise _invalid("measures", 'Each measure is {"attribute": code, "states": [state, ...]}.')
        code = _attribute_check(entity, measure["attribute"], "measures")
        if code in seen:
            raise _invalid("measures", f"Attribute {code!r} is measured twice; list all its states once.")
        seen.add(code)
        states = measure["states"]
        if not isinstance(states, list | tuple) or not states or not all(isinstance(s, str) for s in states):
            raise _invalid("measures", f"Measure {code!r} needs a non-empty list of states.")
        data_type = entity.attributes[code].data_type
        for state in states:
            if state not in STATES:
                raise _invalid("measures", f"Unknown state {state!r}; use {', '.join(STATES)}.", state=state)
            if data_type not in ddl.STATE_DATA_TYPES[state]:
                raise _invalid("measures", f"State {state!r} cannot be computed over {code!r} ({data_type}).")
        result.append({"attribute": code, "states": [s for s in STATES if s in states]})
    if len(result) > MAX_MEASURES:
        raise _invalid("measures", f"At most {MAX_MEASURES} measures.")
    return result


def grain_validate(grain: object) -> str:
    if grain not in GRAINS:
        raise _invalid("grain", f"Unknown grain {grain!r}; use {', '.join(GRAINS)}.", code="invalid_grain")
    return grain


def schedule_validate(schedule: object) -> str:
    if not isinstance(schedule, str) or not schedule.strip() or not croniter.is_valid(schedule.strip()):
        raise _invalid("schedule", f"{schedule!r} is not a cron expression (e.g. '*/5 * * * *').")
    if len(re.split(r"\s+", schedule.strip())) != 5:
        raise _invalid("schedule", "Use a five-field cron expression (minute hour day month weekday), in UTC.")
    return schedule.strip()


def offset_validate(field: str, value: object) -> timedelta:
    if not isinstance(value, timedelta):
        raise _invalid(field, f"{field} must be a duration.")
    if value < timedelta(0):
        raise _invalid(field, f"{field} cannot be negative.")
    return value


def _measures(rollup_measures: Sequence[dict]) -> list[ddl.Measure]:
    return [ddl.Measure(m["attribute"], tuple(m["states"])) for m in rollup_measures]


def _table_create(rollup: Rollup, entity: EntitySpec) -> None:
    columns = ddl.rollup_columns(entity=entity, dimensions=rollup.dimensions, measures=_measures(rollup.measures))
    ddl_execute(
        [
            table_drop_ddl(schema=settings.ANALYTICS_SCHEMA, table=rollup.table_name),
            *ddl.rollup_table_ddl(
                schema=settings.ANALYTICS_SCHEMA,
                table=rollup.table_name,
                grain=rollup.grain,
                columns=columns,
                dimension_count=len(rollup.dimensions),
            ),
        ]
    )


@transaction.atomic
def rollup_create(
    *,
    client_id: int,
    entity: str,
    grain: str,
    dimensions: Sequence[str],
    measures: Sequence[dict],
    policy: RollupPolicy | None = None,
    enabled: bool = True,
    auto: bool = False,
) -> Rollup:
    """A rollup and its (empty) table; the next beat tick refreshes it."""
    policy = policy or RollupPolicy()
    spec = _entity_for(client_id, entity)
    grain = grain_validate(grain)
    if Rollup.objects.filter(client_id=client_id, entity_code=entity, grain=grain).exists():
        raise Conflict(
            f"Entity {entity!r} already has a {grain} rollup; change that one.",
            code="duplicate_rollup",
            details={"entity": entity, "grain": grain},
        )
    rollup = Rollup(
        client_id=client_id,
        entity_code=entity,
        grain=grain,
        table_name=ddl.rollup_table_name(client_id=client_id, entity=entity, grain=grain),
        dimensions=dimensions_validate(spec, dimensions),
        measures=measures_validate(spec, measures),
        schedule=schedule_validate(policy.schedule),
        start_offset=offset_validate("start_offset", policy.start_offset),
        end_offset=offset_validate(
            "end_offset", ddl.GRAIN_WIDTHS[grain] if policy.end_offset is None else policy.end_offset
        ),
        enabled=bool(enabled),
        auto=auto,
    )
    rollup.save()
    _table_create(rollup, spec)
    routing_changed(client_id)
    return rollup


def rollup_update(
    *,
    rollup: Rollup,
    dimensions: Sequence[str] = _UNSET,
    measures: Sequence[dict] = _UNSET,
    schedule: str = _UNSET,
    start_offset: timedelta = _UNSET,
    end_offset: timedelta = _UNSET,
    enabled: bool = _UNSET,
    auto: bool | None = None,
) -> Rollup:
    """Change what is given. New dimensions or measures recreate the table
    (refused with 409 while a refresh runs) and reset the watermark. Giving
    dimensions or measures clears `auto` (unless `auto` says otherwise): a
    rollup a person shaped is never reshaped by automatic generation. Policy
    changes keep `auto`; generation never touches the policy of a rollup."""
    spec = None
    changes: dict[str, Any] = {}
    if dimensions is not _UNSET or measures is not _UNSET:
        changes["auto"] = False
        spec = _entity_for(rollup.client_id, rollup.entity_code)
        if dimensions is not _UNSET:
            changes["dimensions"] = dimensions_validate(spec, dimensions)
        if measures is not _UNSET:
            changes["measures"] = measures_validate(spec, measures)
    if schedule is not _UNSET:
        changes["schedule"] = schedule_validate(schedule)
        if changes["schedule"] != Rollup.objects.values_list("schedule", flat=True).get(pk=rollup.pk):
            changes["next_refresh_at"] = None  # due at the next tick, then on the new schedule
    if start_offset is not _UNSET:
        changes["start_offset"] = offset_validate("start_offset", start_offset)
    if end_offset is not _UNSET:
        changes["end_offset"] = offset_validate("end_offset", end_offset)
    if enabled is not _UNSET:
        changes["enabled"] = bool(enabled)
    if auto is not None:
        changes["auto"] = auto
    structural = any(key in changes and changes[key] != getattr(rollup, key) for key in ("dimensions", "measures"))
    if not structural:
        with transaction.atomic():
            Rollup.objects.filter(pk=rollup.pk).update(**changes, updated_at=timezone.now())
            routing_changed(rollup.client_id)
        rollup.refresh_from_db()
        return rollup
    with refresh_lock(rollup.pk) as acquired:
        if not acquired:
            raise RefreshRunning(rollup.pk)
        with transaction.atomic():
            for key, value in changes.items():
                setattr(rollup, key, value)
            rollup.watermark = None
            rollup.last_refresh_rows = None
            rollup.next_refresh_at = None
            rollup.save()
            rollup.invalidations.all().delete()
            _table_create(rollup, spec)
            routing_changed(rollup.client_id)
    return rollup


def rollup_delete(*, rollup: Rollup) -> None:
    """The rollup, its invalidations and its table (409 while it refreshes)."""
    with refresh_lock(rollup.pk) as acquired:
        if not acquired:
            raise RefreshRunning(rollup.pk)
        with transaction.atomic():
            ddl_execute([table_drop_ddl(schema=settings.ANALYTICS_SCHEMA, table=rollup.table_name)])
            routing_changed(rollup.client_id)
            rollup.delete()


@transaction.atomic
def rollups_delete_for_entity(*, client_id: int, entity: str) -> int:
    """Every rollup of `entity`, automatic and manual (their source is going),
    with its invalidations and table; also the tables its grains' names
    would have when no rollup row claims them (left behind by entity
    deletes before rollups were removed with them). Returns the rollups
    deleted; a second run finds nothing and changes nothing.

    Runs in the caller's transaction (the entity's delete): it waits for a
    running automatic generation of the entity, then holds each rollup's
    refresh lock until that transaction ends, so no refresh starts on a
    rollup that is going. A refresh running now refuses it (409
    refresh_running), as deleting that one rollup would."""
    ensure_lock_for_transaction(client_id, entity)
    rollups = list(Rollup.objects.filter(client_id=client_id, entity_code=entity).order_by("pk"))
    for rollup in rollups:
        if not refresh_lock_for_transaction(rollup.pk):
            raise RefreshRunning(rollup.pk)
    tables = {rollup.table_name for rollup in rollups}
    tables |= {ddl.rollup_table_name(client_id=client_id, entity=entity, grain=grain) for grain in GRAINS}
    tables -= set(
        Rollup.objects.filter(table_name__in=tables)
        .exclude(pk__in=[r.pk for r in rollups])
        .values_list("table_name", flat=True)
    )
    ddl_execute([table_drop_ddl(schema=settings.ANALYTICS_SCHEMA, table=table) for table in sorted(tables)])
    Rollup.objects.filter(pk__in=[rollup.pk for rollup in rollups]).delete()
    routing_changed(client_id)
    return len(rollups)


def rollup_invalidate(*, client_id: int, entity: str, time_min: datetime, time_max: datetime) -> int:
    """Rows of `entity` with time in [time_min, time_max] landed (committed):
    record, for each rollup materialized past time_min, the part below its
    watermark. Returns the number of records.

    Every refresh slice locks its rollup's row (FOR NO KEY UPDATE) before it
    reads raw rows. A rollup this takes the same lock on is compared with
    its committed watermark: a slice that starts later reads the new rows. A
    rollup a slice holds now is not waited for (a load never waits for a
    refresh): it gets the whole range, and its next refresh clips it to the
    watermark it then has."""
    recorded = 0
    with transaction.atomic():
        ids = list(Rollup.objects.filter(client_id=client_id, entity_code=entity).values_list("pk", flat=True))
        if not ids:
            return 0
        free = Rollup.objects.select_for_update(no_key=True, skip_locked=True).filter(pk__in=ids)
        watermarks = dict(free.values_list("pk", "watermark"))
        for pk in ids:
            if pk not in watermarks:  # being refreshed right now
                RollupInvalidation.objects.create(rollup_id=pk, time_min=time_min, time_max=time_max)
            elif watermarks[pk] is not None and watermarks[pk] > time_min:
                high = min(time_max, watermarks[pk])
                RollupInvalidation.objects.create(rollup_id=pk, time_min=time_min, time_max=high)
            else:
                continue
            recorded += 1
        if recorded:
            routing_changed(client_id)
    return recorded


def rollups_claim_due(*, now: datetime | None = None) -> list[int]:
    """The enabled rollups whose schedule is due (next_refresh_at passed or
    unset), each moved to its schedule's next time after `now`. Rows a
    running refresh holds are skipped, and claimed on a later tick."""
    now = now or timezone.now()
    claimed = []
    with transaction.atomic():
        due = (
            Rollup.objects.select_for_update(skip_locked=True)
            .filter(enabled=True)
            .filter(Q(next_refresh_at__isnull=True) | Q(next_refresh_at__lte=now))
            .order_by("pk")
        )
        for rollup in due:
            following = croniter(rollup.schedule, now).get_next(datetime)
            Rollup.objects.filter(pk=rollup.pk).update(next_refresh_at=following)
            claimed.append(rollup.pk)
    return claimed

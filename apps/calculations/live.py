"""Live KPIs (ARCHITECTURE.md, section 5, step 6; docs/live.md): after a load,
recalculate every metric that reads the loaded entity, record the points in
`metric_history`, publish one `metric.calculated` event per point on the bus
(publishers.py) and push it to the `metric.<code>` channel of the tenant's
dashboards (realtime.py).

Which metrics: those whose compiled statement reads the entity, directly,
through a join, or through other metrics (the compiler lists every entity a
statement reads, the same list the cache invalidates by), except the KPIs
deactivated in the client's configuration (docs/client-config.md).

Which range: whole days, from the day of the load's earliest row to the end
of the day of its latest (a load without a time range, such as a reference
entity's, recomputes the default range: the last AE_CALC_DEFAULT_RANGE_DAYS
days); at most the last AE_LIVE_RECALC_MAX_DAYS days of it.

Which breakdowns (group-bys), at most AE_LIVE_MAX_GROUP_BYS per metric:
the metric as a whole, then
1. the dimension keys of the client's enabled threshold rules on the metric;
2. the group-bys of the metric's history series with buckets in the
   recalculated range or the AE_LIVE_DEMAND_DAYS before it (what dashboards
   and API callers asked for there, kept up to date);
3. each enum-valued attribute of the metric's entity that none of its
   formulas (its own and those of the metrics it refers to) mentions: an
   attribute a formula filters on (`status = 'Active'`) splits nothing useful.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import sql

from apps.calculations.compiler import metric_reads
from apps.calculations.models import MetricHistory, ThresholdRule
from apps.calculations.orchestrator import CalculationOrchestrator, default_range
from apps.calculations.publishers import point_payloads, points_publish
from apps.calculations.realtime import CHANNEL_FAMILY, metric_channel, points_push
from apps.calculations.restricted_push import restricted_channels, restrictions_recall
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.advisory_locks import advisory_lock
from apps.core.errors import AppError
from apps.core.realtime import listeners_active, realtime_publish_many
from apps.core.selectors import client_code_for_id
from apps.ontology.catalog import Catalog, catalog_get
from apps.ontology.selectors.client_config import kpis_inactive

logger = logging.getLogger(__name__)


# --- what to recalculate ------------------------------------------------------------


def metrics_reading(*, catalog: Catalog, entity: str) -> list[str]:
    """Codes of the time-series metrics whose statement reads `entity` (directly,
    by a join, or through the metrics they refer to), sorted."""
    found = []
    for code in sorted(catalog.metrics):
        reads = metric_reads(catalog=catalog, code=code)
        if reads.broken:  # a definition broken since it was saved: nothing to recalculate
            logger.warning("metric %s does not compile, not recalculated: %s", code, reads.broken)
        elif entity in reads.entities and reads.has_time:
            found.append(code)
    return found


def _formula_names(catalog: Catalog, code: str, seen: set[str] | None = None) -> set[str]:
    """The attributes the formula of `code` uses, with those of the metrics it
    refers to (parsed by the formula parser, so string literals and function
    names never count)."""
    seen = set() if seen is None else seen
    if code in seen:
        return set()
    seen.add(code)
    spec = catalog.metrics[code]
    formula = catalog.metric_formula(spec)
    names = set(formula.attributes)
    for name in formula.metrics:
        names |= _formula_names(catalog, catalog.metric_by_reference(name).code, seen)
    return names


def _history_group_bys(*, client_id: int, metric: str, start: datetime, end: datetime) -> list[tuple[str, ...]]:
    table = sql.Identifier(MetricHistory._meta.db_table)
    statement = sql.SQL(
        """
        SELECT DISTINCT ARRAY(SELECT jsonb_object_keys(h.dims) ORDER BY 1) AS keys
        FROM {table} AS h
        WHERE h.client_id = %s AND h.metric_code = %s AND h.bucket >= %s AND h.bucket < %s AND h.dims <> '{{}}'::jsonb
        LIMIT 50
        """
    ).format(table=table)
    with connection.cursor() as cursor:
        cursor.execute(statement, [client_id, metric, start, end])
        return [tuple(keys) for (keys,) in cursor.fetchall() if keys]


def live_group_bys(*, catalog: Catalog, metric: str, start: datetime, end: datetime) -> list[tuple[str, ...]]:
    """The breakdowns recalculated for `metric` (the rule in the module's
    docstring): `()` first, then at most AE_LIVE_MAX_GROUP_BYS - 1 others."""
    wanted: list[tuple[str, ...]] = [()]
    rules = ThresholdRule.objects.filter(client_id=catalog.client_id, metric_code=metric, enabled=True)
    wanted += [tuple(sorted(dims)) for dims in rules.values_list("dims", flat=True) if dims]
    demand_start = start - timedelta(days=settings.AE_LIVE_DEMAND_DAYS)
    wanted += _history_group_bys(client_id=catalog.client_id, metric=metric, start=demand_start, end=end)
    spec = catalog.metrics[metric]
    entity = catalog.entities.get(spec.entity) if spec.entity else None
    if entity is not None:
        mentioned = _formula_names(catalog, metric)
        wanted += [
            (code,)
            for code, attribute in sorted(entity.attributes.items())
            if attribute.enum_values and code != entity.time_attribute and code not in mentioned
        ]
    return list(dict.fromkeys(wanted))[: max(1, settings.AE_LIVE_MAX_GROUP_BYS)]


def recalculation_range(time_min: datetime | None, time_max: datetime | None) -> tuple[datetime, datetime]:
    """Whole UTC days covering [time_min, time_max], at most AE_LIVE_RECALC_MAX_DAYS
    (the latest ones); the default range when the load has no time range."""
    if time_min is None or time_max is None:
        return default_range()
    start = time_min.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = time_max.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return max(start, end - timedelta(days=settings.AE_LIVE_RECALC_MAX_DAYS)), end


# --- the recalculation ----------------------------------------------------------------


@dataclass(frozen=True)
class Recalculation:
    metrics: tuple[str, ...]
    start: datetime
    end: datetime
    points: tuple[dict, ...]  # the metric.calculated payloads, as published
    failed: tuple[str, ...] = ()  # "<metric> by <group-by>: <error>"


def live_recalculate(
    *, client_id: int, entity: str, time_min: datetime | None, time_max: datetime | None
) -> Recalculation:
    """Recalculate, at day granularity, every metric reading `entity` over the
    days a load touched, by each breakdown of `live_group_bys`; record the
    results in the history (the orchestrator does, for canonical results),
    then publish and push every point. Fresh computations only: a cached
    result from before the load must not pass for a new one. A metric or
    breakdown that fails (an AppError: a group-by it cannot take, a
    timeout) is logged and skipped; the others go on. Recalculations of one
    entity run one at a time (`_recalculation_lock`)."""
    with _recalculation_lock(client_id, entity):
        return _recalculate(client_id=client_id, entity=entity, time_min=time_min, time_max=time_max)


@contextmanager
def _recalculation_lock(client_id: int, entity: str) -> Iterator[None]:
    """One recalculation of an entity at a time, across workers, in the order
    they asked: without it, a recalculation that read the rows before a second
    load could record and publish its values after the second load's (newer)
    ones. A session-level advisory lock, released if the worker dies."""
    with advisory_lock(f"calculations.live:{client_id}:{entity}"):
        yield


def _recalculate(*, client_id: int, entity: str, time_min: datetime | None, time_max: datetime | None) -> Recalculation:
    catalog = catalog_get(client_id=client_id)
    start, end = recalculation_range(time_min, time_max)
    if entity not in catalog.entities:
        return Recalculation((), start, end, ())
    orchestrator = CalculationOrchestrator(context=AccessContext(client_id=client_id), catalog=catalog)
    # A KPI deactivated in the client's configuration is neither recomputed nor pushed (docs/client-config.md).
    inactive = kpis_inactive(client_id=client_id)
    codes = [code for code in metrics_reading(catalog=catalog, entity=entity) if code not in inactive]
    points: list[dict] = []
    failed: list[str] = []
    for code in codes:
        for group_by in live_group_bys(catalog=catalog, metric=code, start=start, end=end):
            query = MetricQuery(metric=code, start=start, end=end, granularity=Granularity.DAY, group_by=group_by)
            try:
                result = orchestrator.calculate(query, use_cache=False, persist=True, refresh_cache=True)
            except AppError as exc:
                failed.append(f"{code} by {','.join(group_by) or '(all)'}: {exc.message}")
                logger.warning("live recalculation of %s by %s skipped: %s", code, group_by, exc.message)
                continue
            points.extend(point_payloads(result, source="recalculation"))
    # Published before the push, so a dashboard never shows what the bus lost.
    points_publish(client_code=client_code_for_id(client_id=client_id), points=points)
    points_push(client_id=client_id, points=points)
    _restricted_push(catalog=catalog, codes=codes, start=start, end=end)
    logger.info(
        "live recalculation: client %s, entity %s, %s metrics, %s points, [%s, %s)",
        client_id,
        entity,
        len(codes),
        len(points),
        start.isoformat(),
        end.isoformat(),
    )
    return Recalculation(tuple(codes), start, end, tuple(points), tuple(failed))


def _restricted_push(*, catalog: Catalog, codes: list[str], start: datetime, end: datetime) -> None:
    """The same recalculation for subscribers under row policies: each
    `metric.<code>.r<fingerprint>` channel with listeners gets the metric
    computed under its restrictions (restricted_push.py); never recorded
    nor published on the bus."""
    client_id = catalog.client_id
    listened = [item.channel for item in listeners_active(prefix=f"{CHANNEL_FAMILY}.", client_id=client_id)]
    for suffix, listened_codes in sorted(restricted_channels(listened).items()):
        context = restrictions_recall(client_id=client_id, suffix=suffix)
        wanted = sorted(set(listened_codes) & set(codes))
        if context is None or not wanted:
            continue
        orchestrator = CalculationOrchestrator(context=context, catalog=catalog)
        events = []
        for code in wanted:
            for group_by in live_group_bys(catalog=catalog, metric=code, start=start, end=end):
                query = MetricQuery(metric=code, start=start, end=end, granularity=Granularity.DAY, group_by=group_by)
                try:
                    result = orchestrator.calculate(query, use_cache=False, persist=False, refresh_cache=True)
                except AppError as exc:
                    logger.warning("live recalculation (restricted) of %s skipped: %s", code, exc.message)
                    continue
                channel = f"{metric_channel(code)}.{suffix}"
                events += [(channel, p) for p in point_payloads(result, source="recalculation")]
        if events:
            realtime_publish_many(client_id=client_id, events=events)


def task_moment(value: str | None) -> datetime | None:
    """A task argument back to an aware datetime (tasks take JSON values)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else timezone.make_aware(moment, UTC)

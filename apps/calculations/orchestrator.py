"""CalculationOrchestrator: a metric request -> a result, through the cache,
the domain handler for the metric's domain, and the history.

A domain handler decides how a metric of its domain is computed; the
generic one compiles the formula to one SQL statement and runs it. A domain
registers its own handler with `@domain_handler("finance")` and overrides
`compile` or `compute` (e.g. a fiscal calendar, a currency conversion)."""

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from apps.calculations import cache
from apps.calculations.compiler import CompiledQuery, metric_compile
from apps.calculations.extent import data_extent
from apps.calculations.history import history_persist
from apps.calculations.rollup_spec import RollupSpec
from apps.calculations.routing_state import RoutingState, routing_state
from apps.calculations.runner import compiled_run
from apps.calculations.single_flight import single_flight
from apps.calculations.types import (
    AccessContext,
    ArchivedRange,
    Granularity,
    MetricQuery,
    MetricResult,
    TimeRange,
)
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog, MetricSpec
from apps.warehouse.selectors import archived_ranges

logger = logging.getLogger(__name__)

_NOMINAL_SECONDS = {
    Granularity.MINUTE: 60, Granularity.HOUR: 3600, Granularity.DAY: 86400, Granularity.WEEK: 7 * 86400,
}  # fmt: skip
_MONTHS = {Granularity.MONTH: 1, Granularity.QUARTER: 3, Granularity.YEAR: 12}


class DomainHandler:
    """The generic handler: one SQL statement per request, from the raw rows
    or the rollups the router picks."""

    def compile(
        self,
        *,
        catalog: Catalog,
        query: MetricQuery,
        context: AccessContext,
        rollups: Callable[[str], list[RollupSpec]] | None = None,
    ) -> CompiledQuery:
        return metric_compile(catalog=catalog, query=query, context=context, rollups=rollups)

    def compute(self, *, compiled: CompiledQuery, query: MetricQuery) -> MetricResult:
        spec = compiled.metric
        return MetricResult(
            metric=spec.code,
            unit=spec.unit,
            granularity=query.granularity.value,
            route=compiled.route,
            cached=False,
            computed_at=timezone.now(),
            series=compiled_run(compiled),
            domain=spec.domain,
            entities=compiled.entities,
            mode=compiled.mode,
        )


_handlers: dict[str, DomainHandler] = {}
_default_handler = DomainHandler()


def domain_handler(domain: str) -> Callable[[type[DomainHandler]], type[DomainHandler]]:
    """Class decorator: metrics whose domain is `domain` are computed by this handler."""

    def register(handler_class: type[DomainHandler]) -> type[DomainHandler]:
        _handlers[domain.strip().lower()] = handler_class()
        return handler_class

    return register


def handler_for(domain: str) -> DomainHandler:
    return _handlers.get((domain or "").strip().lower(), _default_handler)


def buckets_estimate(start: datetime, end: datetime, granularity: Granularity) -> int:
    """How many buckets [start, end) spans at `granularity` (at most one more
    than exact: the first bucket may begin before `start`)."""
    if granularity in _MONTHS:
        months = (end.year - start.year) * 12 + end.month - start.month
        return months // _MONTHS[granularity] + 2
    return math.ceil((end - start).total_seconds() / _NOMINAL_SECONDS[granularity]) + 1


def query_validate(query: MetricQuery) -> None:
    for name, moment in (("start", query.start), ("end", query.end)):
        if moment.tzinfo is None:
            raise AppError(f"{name} needs a UTC offset (ISO 8601).", code="invalid_range", details={name: str(moment)})
    for name, moment in (("start", query.start), ("end", query.end)):
        if not 1000 <= moment.year <= 9000:
            raise AppError(
                f"{name} {moment.isoformat()} is outside the supported years 1000-9000.",
                code="invalid_range",
                details={name: moment.isoformat()},
            )
    if query.end <= query.start:
        raise AppError(
            "end must be after start.",
            code="invalid_range",
            details={"start": query.start.isoformat(), "end": query.end.isoformat()},
        )
    buckets = buckets_estimate(query.start, query.end, query.granularity)
    limit = settings.AE_CALC_MAX_BUCKETS
    if buckets > limit:
        raise AppError(
            f"{query.start.isoformat()} to {query.end.isoformat()} by {query.granularity.value} is about {buckets} "
            f"buckets, more than the limit of {limit}; use a coarser granularity or a shorter range.",
            code="too_many_buckets",
            details={"buckets": buckets, "limit": limit},
        )
    if query.mode not in (None, "exact", "approximate"):
        raise AppError(
            f"Unknown mode {query.mode!r}; use 'exact' or 'approximate'.",
            code="invalid_mode",
            details={"mode": query.mode},
        )


def default_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last AE_CALC_DEFAULT_RANGE_DAYS whole days up to the end of today (UTC)."""
    now = now or timezone.now()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return end - timedelta(days=settings.AE_CALC_DEFAULT_RANGE_DAYS), end


COMPILED_CACHE_SIZE = 512
_compiled: OrderedDict[tuple, tuple[CompiledQuery, dict[str, tuple]]] = OrderedDict()
_compiled_lock = threading.Lock()


def _fingerprint(specs: list[RollupSpec]) -> tuple:
    return tuple(
        (r.id, r.table, r.grain, r.watermark, r.stale, tuple(r.dims.items()), tuple(r.states.items())) for r in specs
    )


@dataclass(frozen=True)
class BatchItem:
    query: MetricQuery
    result: MetricResult | None = None
    error: AppError | None = None


class CalculationOrchestrator:
    """Computes metrics for one caller (`context`): cached results first,
    then the metric's domain handler; fresh results are cached and, when
    they are canonical (no request filters, no row filters), recorded in
    `metric_history`."""

    def __init__(
        self, *, context: AccessContext, catalog: Catalog | None = None, routing: RoutingState | None = None
    ) -> None:
        self.context = context
        self._catalog = catalog
        self._routing = routing
        self._rollups: dict[str, list[RollupSpec]] = {}

    @property
    def routing(self) -> RoutingState:
        """The client's routing metadata, read once per orchestrator (one Redis
        GET when this process holds the current version: routing_state.py)."""
        if self._routing is None:
            self._routing = routing_state(client_id=self.context.client_id)
        return self._routing

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self.routing.catalog
        return self._catalog

    def metric(self, code: str) -> MetricSpec:
        return self.catalog.metric(code)

    def rollups(self, entity: str) -> list[RollupSpec]:
        """The entity's rollups (read once per orchestrator)."""
        if entity not in self._rollups:
            self._rollups[entity] = self.routing.rollups(entity)
        return self._rollups[entity]

    def compile(self, query: MetricQuery) -> CompiledQuery:
        """The statement for `query`, reused while the ontology (catalog
        version) and the rollups it consulted (watermarks, stale ranges) are
        unchanged: compiling costs milliseconds, a rollup answer about as much."""
        query_validate(query)
        spec = self.catalog.metric(query.metric)
        handler = handler_for(spec.domain)
        key = None
        if self.catalog.version:
            key = (
                self.context.client_id,
                self.catalog.version,
                id(handler),
                repr(query.key()),
                repr(self.context.key()),
            )
            with _compiled_lock:
                entry = _compiled.get(key)
            if entry is not None and all(_fingerprint(self.rollups(e)) == f for e, f in entry[1].items()):
                return entry[0]
        consulted: dict[str, tuple] = {}

        def rollups(entity: str) -> list[RollupSpec]:
            specs = self.rollups(entity)
            consulted[entity] = _fingerprint(specs)
            return specs

        compiled = handler.compile(catalog=self.catalog, query=query, context=self.context, rollups=rollups)
        if key is not None:
            with _compiled_lock:
                _compiled[key] = (compiled, consulted)
                while len(_compiled) > COMPILED_CACHE_SIZE:
                    _compiled.popitem(last=False)
        return compiled

    def explain(self, query: MetricQuery) -> dict:
        """How `query` is answered: the route of each fact scan and why, and the statement."""
        compiled = self.compile(query)
        archived = [{"start": a.start, "end": a.end} for a in self.archived(compiled, query)]
        return {
            "route": compiled.route,
            "mode": compiled.mode,
            "scans": list(compiled.routes),
            "sql": compiled.sql,
            "archived": archived,
        }

    def archived(self, compiled: CompiledQuery, query: MetricQuery) -> tuple[ArchivedRange, ...]:
        """The parts of [start, end) that the statement reads from raw rows
        retention has archived and dropped (merged, in time order). Only raw
        reads can miss them: a rollup scan reads the partial states the rollup
        materialized, which outlive the chunks (and asking costs a round trip
        the rollup route does not pay). A rollup+raw scan reads raw rows from
        its watermark on."""
        windows: dict[str, datetime] = {}
        for scan in compiled.routes:
            if scan.get("route") == "rollup":
                continue
            start = query.start
            if scan.get("route") == "rollup+raw" and scan.get("watermark"):
                start = max(start, datetime.fromisoformat(scan["watermark"]))
            entity = scan.get("entity")
            if entity and start < query.end:
                windows[entity] = min(windows.get(entity, start), start)
        spans: list[ArchivedRange] = []
        for code, start in sorted(windows.items()):
            entity = self.catalog.entities.get(code)
            if entity is None or not entity.is_time_series:
                continue
            for span in archived_ranges(
                table_schema=entity.schema, table_name=entity.table, start=start, end=query.end
            ):
                spans.append(ArchivedRange(max(span.start, start), min(span.end, query.end)))
        merged: list[ArchivedRange] = []
        for span in sorted(spans, key=lambda s: (s.start, s.end)):
            if merged and span.start <= merged[-1].end:
                merged[-1] = ArchivedRange(merged[-1].start, max(merged[-1].end, span.end))
            else:
                merged.append(span)
        return tuple(merged)

    def _compute(self, compiled: CompiledQuery, query: MetricQuery, handler: DomainHandler) -> MetricResult:
        result = handler.compute(compiled=compiled, query=query)
        return replace(result, archived=self.archived(compiled, query))

    def calculate(
        self, query: MetricQuery, *, use_cache: bool = True, persist: bool = True, refresh_cache: bool = False
    ) -> MetricResult:
        """Compute (or read from the cache) one metric query. `use_cache=False`
        computes fresh; with `refresh_cache` that fresh result is also stored in
        the cache, replacing what a read before a load may have left there (the
        live recalculation does so: the next dashboard read is a hit). The
        answer carries the range it computed and, when empty, the data's extent."""
        compiled = self.compile(query)
        result = self._calculate(compiled, query, use_cache=use_cache, persist=persist, refresh_cache=refresh_cache)
        return self.answer_describe(result, query, entities=result.entities or compiled.entities)

    def answer_describe(self, result: MetricResult, query: MetricQuery, *, entities: tuple[str, ...]) -> MetricResult:
        """`result` with the range it computed and, when its series is empty,
        the extent of the data of `entities` (so an empty answer says why)."""
        extent = None
        if not result.series:
            extent = data_extent(catalog=self.catalog, entities=entities, context=self.context)
        return replace(result, range=TimeRange(query.start, query.end), extent=extent)

    def _calculate(
        self, compiled: CompiledQuery, query: MetricQuery, *, use_cache: bool, persist: bool, refresh_cache: bool
    ) -> MetricResult:
        spec = compiled.metric
        handler = handler_for(spec.domain)
        if not cache.cache_enabled() or not (use_cache or refresh_cache):
            result = self._compute(compiled, query, handler)
        elif not use_cache:
            result = self._compute_and_store(self._result_key(compiled, query), compiled, query, handler)
        else:
            key = self._result_key(compiled, query)
            hit = cache.result_get(key)
            if hit is not None:
                return hit
            # Identical concurrent requests, in any process, compute once (single_flight.py).
            with single_flight(key) as flight:
                if flight.result is not None:
                    return flight.result
                result = cache.result_get(key)  # a flight that ended since our miss may have stored it
                if result is None:
                    result = self._compute_and_store(key, compiled, query, handler)
                flight.publish(result)
                if result.cached:
                    return result
        # Only canonical answers are recorded (and published from the history):
        # never one computed under a caller's row filters or row policies.
        if persist and not query.filters and not self.context.restricted:
            history_persist(client_id=self.context.client_id, result=result)
        return result

    def _result_key(self, compiled: CompiledQuery, query: MetricQuery) -> str:
        version = hashlib.sha256(f"{compiled.metric.version}\n{compiled.sql}".encode()).hexdigest()
        return cache.result_cache_key(query=query, context=self.context, version=version)

    def _compute_and_store(
        self, key: str, compiled: CompiledQuery, query: MetricQuery, handler: DomainHandler
    ) -> MetricResult:
        """Compute and cache under `key` for the domain's TTL (unless a load
        since the computation started made it stale: cache.result_store)."""
        seen = cache.generations(client_id=self.context.client_id, entities=compiled.entities)
        result = self._compute(compiled, query, handler)
        cache.result_store(
            key=key,
            result=result,
            client_id=self.context.client_id,
            entities=compiled.entities,
            start=query.start,
            end=query.end,
            ttl=cache.cache_ttl(compiled.metric.domain),
            generations_seen=seen,
        )
        return result

    def calculate_batch(
        self, queries: Sequence[MetricQuery], *, parallelism: int | None = None, persist: bool = True
    ) -> list[BatchItem]:
        """Many metrics at once, at most `parallelism` (AE_CALC_BATCH_PARALLELISM)
        running together, each on its own database connection; one failing
        metric does not stop the others. Results come back in request order."""
        catalog, routing = self.catalog, self.routing

        def one(query: MetricQuery) -> BatchItem:
            close_old_connections()
            try:
                orchestrator = CalculationOrchestrator(context=self.context, catalog=catalog, routing=routing)
                return BatchItem(query, result=orchestrator.calculate(query, persist=persist))
            except AppError as exc:
                return BatchItem(query, error=exc)
            finally:
                connections.close_all()

        workers = max(1, min(parallelism or settings.AE_CALC_BATCH_PARALLELISM, len(queries) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="calc") as pool:
            return list(pool.map(one, queries))

"""Pushes of calculations to browsers: the `metric.<code>` channels of a
tenant's dashboards (who may listen: `metric_channel_authorize`, registered
with apps.core.realtime at start), fed by live recalculation (live.py) and by
the period publisher.

The period publisher (docs/live.md): every minute (Celery beat), for each
metric some dashboard listens to (`metric.<code>` channels with live
listeners in the subscriber tracking of apps.core.realtime), compute the
current bucket and the one that just closed at the minute, hour and day
grains, and push the points whose value changed since the last push to the
metric's channel. Nobody listening: nothing computed. A KPI deactivated
in the client's configuration is skipped (docs/client-config.md).

The values come from the engine's router, so they read the 1m/1h/1d rollups
up to their watermark and the raw rows after it. They are pushed to
browsers only: buckets still filling are not history, and the bus hears of
settled values from the recalculation after each load (live.py).
"""

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.utils import timezone

from apps.calculations.cache import cache_connection
from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.publishers import point_payloads
from apps.calculations.restricted_push import restricted_channels, restrictions_recall, restrictions_remember
from apps.calculations.selectors import access_context_for
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.errors import AppError
from apps.core.realtime import ChannelRequest, listeners_active, realtime_publish_many
from apps.ontology.catalog import catalog_load
from apps.ontology.selectors import metric_exists
from apps.ontology.selectors.client_config import kpis_inactive
from apps.ontology.types.client_config import KpiDeactivated

logger = logging.getLogger(__name__)

CHANNEL_FAMILY = "metric"


def metric_channel(code: str) -> str:
    return f"{CHANNEL_FAMILY}.{code}"


def metric_channel_authorize(request: ChannelRequest) -> None:
    """`metric.<code>`: any member of the client may listen to one of the
    client's metrics (as any member may read it over the API); another name
    is refused. Its events carry values computed without row policies: a
    member under row policies is refused it and pointed to
    `metric.<code>.r<fingerprint>`, the metric computed under their own
    restrictions (restricted_push.py), which only they (and members with
    exactly the same restrictions) may listen to."""
    parts = request.channel.split(".")
    restricted_form = len(parts) == 3 and parts[2].startswith("r")
    if len(parts) != 2 and not restricted_form:
        raise AppError(
            "Metric channels are 'metric.<metric code>'.", code="unknown_channel", details={"channel": request.channel}
        )
    if not metric_exists(client_id=request.client_id, code=parts[1]):
        raise AppError(
            f"There is no metric {parts[1]!r} in this client to listen to.",
            code="unknown_channel",
            details={"channel": request.channel},
        )
    inactive = kpis_inactive(client_id=request.client_id).get(parts[1])
    if inactive is not None:  # refused with code kpi_deactivated (docs/client-config.md)
        raise KpiDeactivated(inactive)

    context = access_context_for(client_id=request.client_id, user_id=request.user_id, role=request.role)
    own = restrictions_remember(client_id=request.client_id, rows=context.rows) if context.restricted else None
    if restricted_form and parts[2] != own:
        raise AppError(
            "Metric channels are 'metric.<metric code>'.", code="unknown_channel", details={"channel": request.channel}
        )
    if not restricted_form and own is not None:
        raise AppError(
            "Row policies restrict what you see and this channel's values are computed without them; "
            f"listen to {metric_channel(parts[1])}.{own} for the values computed under your policies.",
            code="row_policy_restricted",
            status_code=403,
            details={"channel": request.channel, "restricted_channel": f"{metric_channel(parts[1])}.{own}"},
        )


def kpi_status_push(*, client_id: int, codes: Iterable[str], status: str) -> int:
    """Tell the listeners of each KPI's channel that it was deactivated or
    reactivated in the client's configuration (`status`). A deactivated
    KPI's channel stays subscribed but receives nothing more until it is
    reactivated; new subscriptions to it are refused meanwhile."""
    events = []
    # One read of the listened channels for all the codes (each read walks the whole index).
    listened = [item.channel for item in listeners_active(prefix=f"{CHANNEL_FAMILY}.", client_id=client_id)]
    for code in codes:
        message = (
            f"KPI {code!r} is deactivated for this client."
            if status == "deactivated"
            else f"KPI {code!r} is active again for this client."
        )
        payload = {"metric": code, "status": status, "message": message}
        # The metric's own channel and the channels of its listeners under row policies.
        restricted = [channel for channel in listened if channel.startswith(f"{metric_channel(code)}.r")]
        events.extend((channel, payload) for channel in [metric_channel(code), *restricted])
    return realtime_publish_many(client_id=client_id, events=events)


def points_push(*, client_id: int, points: Iterable[dict]) -> int:
    """Push metric.calculated payloads to the tenant's `metric.<code>` channels."""
    return realtime_publish_many(client_id=client_id, events=[(metric_channel(p["metric"]), p) for p in points])


GRAINS = {
    Granularity.MINUTE: timedelta(minutes=1),
    Granularity.HOUR: timedelta(hours=1),
    Granularity.DAY: timedelta(days=1),
}
LAST_KEY_PREFIX = "ae:live:last"
LAST_TTL_SECONDS = 2 * 86400


def bucket_floor(moment: datetime, granularity: Granularity) -> datetime:
    moment = moment.astimezone(UTC)
    if granularity == Granularity.MINUTE:
        return moment.replace(second=0, microsecond=0)
    if granularity == Granularity.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class PublishRound:
    channels: int  # metric channels with listeners
    computed: int  # (metric, grain) series computed
    pushed: int  # points pushed (changed since the last round)
    failed: int


def _last_key(client_id: int, metric: str) -> str:
    return f"{LAST_KEY_PREFIX}:{client_id}:{metric}"


def _point_field(point: dict) -> str:
    dims = json.dumps(point["dims"], sort_keys=True, default=str)
    return f"{point['granularity']}|{point['bucket']}|{hashlib.sha256(dims.encode()).hexdigest()[:16]}"


def _changed(store: redis.Redis, *, client_id: int, metric: str, points: list[dict]) -> list[dict]:
    """The points whose value differs from the one pushed last (remembered per
    metric, grain, bucket and dimension set for two days)."""
    if not points:
        return []
    key = _last_key(client_id, metric)
    fields = [_point_field(point) for point in points]
    seen = store.hmget(key, fields)
    changed, updates = [], {}
    for point, field, old in zip(points, fields, seen, strict=True):
        new = json.dumps(point["value"])
        if old is None or old.decode() != new:
            changed.append(point)
            updates[field] = new
    if updates:
        pipe = store.pipeline(transaction=False)
        pipe.hset(key, mapping=updates)
        pipe.expire(key, LAST_TTL_SECONDS)
        pipe.execute()
    return changed


def live_periods_publish(*, now: datetime | None = None) -> PublishRound:
    """One round of the period publisher (the beat task calls it every minute)."""
    now = now or timezone.now()
    watched: dict[int, list[str]] = defaultdict(list)
    listened = listeners_active(prefix=f"{CHANNEL_FAMILY}.")
    for item in listened:
        watched[item.client_id].append(item.channel.removeprefix(f"{CHANNEL_FAMILY}."))
    store = cache_connection()
    computed = pushed = failed = 0
    for client_id, codes in sorted(watched.items()):
        try:
            catalog = catalog_load(client_id=client_id)
        except Exception:
            logger.exception("period publisher: the ontology of client %s could not be read", client_id)
            failed += 1
            continue
        contexts = [(AccessContext(client_id=client_id), "", sorted(c for c in codes if "." not in c))]
        for suffix, restricted in sorted(restricted_channels([f"metric.{c}" for c in codes]).items()):
            context = restrictions_recall(client_id=client_id, suffix=suffix)
            if context is not None:  # unknown restrictions: nothing is computed for them
                contexts.append((context, suffix, sorted(restricted)))
        for context, suffix, context_codes in contexts:
            orchestrator = CalculationOrchestrator(context=context, catalog=catalog)
            counts = _publish_round(orchestrator, store, now=now, codes=context_codes, suffix=suffix)
            computed, pushed, failed = computed + counts[0], pushed + counts[1], failed + counts[2]
    return PublishRound(channels=len(listened), computed=computed, pushed=pushed, failed=failed)


def _publish_round(
    orchestrator: CalculationOrchestrator, store: redis.Redis, *, now: datetime, codes: list[str], suffix: str
) -> tuple[int, int, int]:
    """Compute and push the changed points of `codes` for one access context
    (the unrestricted one, suffix ""; or one under row policies, pushed to
    `metric.<code>.<suffix>`). Returns (computed, pushed, failed)."""
    client_id, catalog = orchestrator.context.client_id, orchestrator.catalog
    inactive = kpis_inactive(client_id=client_id)  # deactivated in the client's configuration
    computed = pushed = failed = 0
    for code in codes:
        if code not in catalog.metrics or code in inactive:
            continue
        points: list[dict] = []
        for granularity, width in GRAINS.items():
            current = bucket_floor(now, granularity)
            query = MetricQuery(metric=code, start=current - width, end=current + width, granularity=granularity)
            try:
                # Fresh each round and not recorded: these buckets are still filling.
                result = orchestrator.calculate(query, use_cache=False, persist=False)
            except AppError as exc:
                logger.warning("period publisher: %s by %s skipped: %s", code, granularity, exc.message)
                failed += 1
                continue
            except Exception:  # one metric must not stop the round for everyone else
                logger.exception("period publisher: %s by %s failed", code, granularity)
                failed += 1
                continue
            computed += 1
            points.extend(point_payloads(result, source="period"))
        channel = metric_channel(code) + (f".{suffix}" if suffix else "")
        changed = _changed(store, client_id=client_id, metric=channel.removeprefix("metric."), points=points)
        if changed:
            pushed += realtime_publish_many(client_id=client_id, events=[(channel, p) for p in changed])
    return computed, pushed, failed

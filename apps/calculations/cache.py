"""The result cache of the calculation engine (ARCHITECTURE.md, section 5.5).

Results live in Redis as JSON under a key of metric, parameters, tenant and
row-level-security context, for a TTL chosen by the metric's domain. Data
loads invalidate them two ways, so neither a race nor a forgotten key serves
stale numbers:

- a generation counter per (client, entity), bumped on every load: a result
  is stored only if the generations of its entities did not move while it
  was computed, so a computation that raced with a load is never cached;
- an index per (client, entity) of cached keys and the [start, end) range
  each covers: a load deletes the results whose range it touches and leaves
  the others (a late reading for January keeps March's numbers).

Loads in this process invalidate through the ontology's rows-loaded hook
(registered on import, from CalculationsConfig.ready()); loads in other
processes through the `ingestion.completed` handler in events.py.
"""

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime

import redis
from django.conf import settings
from redis.commands.core import Script

from apps.calculations.types import AccessContext, ArchivedRange, MetricQuery, MetricResult, Point
from apps.ontology.services.hooks import on_rows_loaded
from apps.ontology.types import RowsLoaded
from apps.warehouse.services.hooks import on_chunk_dropped, table_owner
from apps.warehouse.types import ChunkDropped

logger = logging.getLogger(__name__)

PREFIX = "ae:calc"
FORMAT = 1  # version of the stored JSON; other versions read as a miss
HSCAN_COUNT = 500
BATCH = 500  # keys per DEL / HDEL
# A cache must never hold a request up for long: on a slow or absent Redis the
# runner computes instead (see result_get / result_store).
SOCKET_TIMEOUT_SECONDS = 2.0

# KEYS: result key, then n generation keys, then n index keys.
# ARGV: payload, ttl, n, n generations seen, index value.
# Atomic, so a load's generation bump falls either before (refused) or after
# (the key is already indexed, and the load's invalidation deletes it).
_STORE_SCRIPT = """
local n = tonumber(ARGV[3])
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[1 + i]) or '0') ~= tonumber(ARGV[3 + i]) then
    return 0
  end
end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
for i = 1, n do
  local index = KEYS[1 + n + i]
  redis.call('HSET', index, KEYS[1], ARGV[4 + n])
  if redis.call('TTL', index) < ttl then
    redis.call('EXPIRE', index, ttl)
  end
end
return 1
"""

_clients: dict[str, tuple[redis.Redis, Script]] = {}
_clients_lock = threading.Lock()


def _connection() -> tuple[redis.Redis, Script]:
    """The cache's client and its store script, one per REDIS_URL (so tests that
    move REDIS_URL move the cache too); created on first use."""
    url = settings.REDIS_URL
    with _clients_lock:
        if url not in _clients:
            client = redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                health_check_interval=30,
            )
            _clients[url] = (client, client.register_script(_STORE_SCRIPT))
        return _clients[url]


def cache_connection() -> redis.Redis:
    return _connection()[0]


def cache_connection_reset() -> None:
    """Drop the clients and their pooled connections (tests, forked workers)."""
    with _clients_lock:
        clients = [client for client, _ in _clients.values()]
        _clients.clear()
    for client in clients:
        client.connection_pool.disconnect()


# --- keys and settings -------------------------------------------------------------


def result_cache_key(*, query: MetricQuery, context: AccessContext, version: str) -> str:
    """The key of one result. `version` is the metric definition's (and the
    compiler's) version, so an edited formula never reads an old result."""
    canonical = json.dumps(
        {"query": query.key(), "context": context.key(), "version": version},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{PREFIX}:{context.client_id}:{query.metric}:{digest}"


def _generation_key(client_id: int, entity: str) -> str:
    return f"{PREFIX}:gen:{client_id}:{entity}"


def _index_key(client_id: int, entity: str) -> str:
    return f"{PREFIX}:idx:{client_id}:{entity}"


def _domain_normalise(domain: str) -> str:
    return re.sub(r"[\s-]+", "_", (domain or "").strip().lower())


def cache_enabled() -> bool:
    return bool(settings.AE_CALC_CACHE_ENABLED)


def cache_ttl(domain: str) -> int:
    """Seconds a result of `domain` stays cached: AE_CALC_CACHE_TTL_BY_DOMAIN
    (keys normalised like the domain: "Supply Chain" is supply_chain), else
    AE_CALC_CACHE_TTL_DEFAULT. 0 or less means "do not cache"."""
    by_domain = {_domain_normalise(k): int(v) for k, v in settings.AE_CALC_CACHE_TTL_BY_DOMAIN.items()}
    return by_domain.get(_domain_normalise(domain), int(settings.AE_CALC_CACHE_TTL_DEFAULT))


def _epoch(moment: datetime) -> float:
    # Naive datetimes are UTC (USE_TZ); .timestamp() would read them as local time.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# --- reads and writes --------------------------------------------------------------


def generations(*, client_id: int, entities: Iterable[str]) -> tuple[int, ...]:
    """The generation of each entity, in the order given (missing = 0). Take
    this before computing and hand it to result_store."""
    keys = [_generation_key(client_id, entity) for entity in entities]
    if not keys:
        return ()
    return tuple(int(value or 0) for value in cache_connection().mget(keys))


def result_encode(result: MetricResult) -> str:
    # range and extent describe one answer (orchestrator.answer_describe), not the cached value.
    skipped = ("cached", "range", "extent")
    data = {field.name: getattr(result, field.name) for field in fields(result) if field.name not in skipped}
    data["format"] = FORMAT
    data["computed_at"] = result.computed_at.isoformat()
    data["series"] = [
        [p.bucket.isoformat() if p.bucket else None, p.dims, None if p.value is None else float(p.value)]
        for p in result.series
    ]
    data["archived"] = [[a.start.isoformat(), a.end.isoformat()] for a in result.archived]
    # default=str: dimension values that are dates or decimals come back as strings.
    return json.dumps(data, separators=(",", ":"), default=str)


def result_decode(raw: bytes) -> MetricResult | None:
    data = json.loads(raw)
    if data.pop("format", None) != FORMAT:
        return None
    series = tuple(
        Point(
            bucket=datetime.fromisoformat(bucket) if bucket else None,
            dims=dims,
            value=None if value is None else float(value),
        )
        for bucket, dims, value in data.pop("series")
    )
    computed_at = datetime.fromisoformat(data.pop("computed_at"))
    entities = tuple(data.pop("entities"))
    archived = tuple(
        ArchivedRange(datetime.fromisoformat(start), datetime.fromisoformat(end))
        for start, end in data.pop("archived", ())
    )
    return MetricResult(
        **data, cached=True, computed_at=computed_at, series=series, entities=entities, archived=archived
    )


def result_get(key: str) -> MetricResult | None:
    """The cached result (`cached=True`), or None: missing, cache disabled,
    unreadable, or Redis unavailable (the caller then computes)."""
    if not cache_enabled():
        return None
    try:
        raw = cache_connection().get(key)
        return None if raw is None else result_decode(raw)
    except redis.RedisError as exc:
        logger.warning("calculation cache unavailable, computing instead: %s", exc)
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("unreadable cached result %s, ignored: %s", key, exc)
    return None


def result_store(
    *,
    key: str,
    result: MetricResult,
    client_id: int,
    entities: Sequence[str],
    start: datetime,
    end: datetime,
    ttl: int,
    generations_seen: tuple[int, ...],
) -> bool:
    """Cache `result` for `ttl` seconds, unless a load moved one of `entities`'
    generations since `generations_seen` (same order as `entities`) was read.
    Indexes the key under each entity with its [start, end) range and expiry.
    False when not stored (raced with a load, disabled, ttl <= 0, Redis down)."""
    if not cache_enabled() or ttl <= 0:
        return False
    if len(generations_seen) != len(entities):
        raise ValueError("generations_seen must have one generation per entity, in the same order")
    client, store = _connection()
    index_value = f"{_epoch(start)!r} {_epoch(end)!r} {time.time() + ttl!r}"
    keys = [key, *(_generation_key(client_id, e) for e in entities), *(_index_key(client_id, e) for e in entities)]
    args = [result_encode(result), ttl, len(entities), *generations_seen, index_value]
    try:
        return bool(store(keys=keys, args=args, client=client))
    except redis.RedisError as exc:
        logger.warning("calculation cache unavailable, result not stored: %s", exc)
        return False


def results_invalidate(*, client_id: int, entity: str, time_min: datetime | None, time_max: datetime | None) -> int:
    """After rows of `entity` in [time_min, time_max] were loaded for a client:
    refuse results computed before now (generation bump), and delete the
    cached results whose [start, end) range overlaps the loaded range (a None
    bound is open on its side; both None: every result of the entity). Index
    entries of expired results are pruned on the way. Returns the number of
    results deleted."""
    client = cache_connection()
    client.incr(_generation_key(client_id, entity))
    index = _index_key(client_id, entity)
    low = float("-inf") if time_min is None else _epoch(time_min)
    high = float("inf") if time_max is None else _epoch(time_max)
    now = time.time()
    doomed: list[bytes] = []  # overlapping: result and index entry go
    stale: list[bytes] = []  # expired or unreadable: index entry goes
    for field, value in client.hscan_iter(index, count=HSCAN_COUNT):
        try:
            start, end, expires = (float(part) for part in value.split())
        except ValueError:
            stale.append(field)
            continue
        if start <= high and end > low:
            doomed.append(field)
        elif expires < now:
            stale.append(field)
    pipe = client.pipeline(transaction=False)
    batches = range(0, len(doomed), BATCH)
    for i in batches:
        pipe.delete(*doomed[i : i + BATCH])
    gone = doomed + stale
    for i in range(0, len(gone), BATCH):
        pipe.hdel(index, *gone[i : i + BATCH])
    deleted = sum(pipe.execute()[: len(batches)])
    logger.info("calculation cache invalidated: client %s, entity %s, %s results deleted", client_id, entity, deleted)
    return deleted


@on_rows_loaded
def results_invalidate_on_rows_loaded(event: RowsLoaded) -> None:
    """Rows loaded in this process: invalidate at once, before the bus event
    reaches the calculations consumer."""
    results_invalidate(client_id=event.client_id, entity=event.entity, time_min=event.time_min, time_max=event.time_max)


@on_chunk_dropped
def results_invalidate_on_chunk_dropped(event: ChunkDropped) -> None:
    """Retention dropped a chunk (told after the drop committed): the results
    over its range were computed with its rows, and their `archived` ranges
    no longer hold. Whichever process drops (the warehouse's confirmation
    handler, a beat scan) invalidates here; the cache is shared in Redis."""
    owner = table_owner(table_schema=event.table_schema, table_name=event.table_name)
    if owner is None:
        return  # not an entity's table: no metric reads it
    results_invalidate(
        client_id=owner.client_id, entity=owner.entity, time_min=event.range_start, time_max=event.range_end
    )

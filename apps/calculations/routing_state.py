"""What the router reads on every request (the client's catalog, each
entity's rollups with their watermarks and stale ranges), kept per process
under a version held in Redis, so the common request reads it with one GET.

The version is one Redis key per client (plus one for all clients), moved by
INCR after every commit that changes what the router reads:

- a definition (apps.ontology.versioning.revision tells the
  definitions-changed listeners which clients' definitions a transaction
  changed, as the database triggers counted them);
- a rollup: created, changed, deleted, its watermark advanced by a refresh
  slice, stale ranges recorded by a late load or resolved by a refresh
  (apps.calculations.rollups: `routing_changed` next to each such write).

Why it is never stale:

- the version is read BEFORE the metadata, so what is kept under a version
  is at least as new as that version; the INCR follows the commit, so a
  request that starts after a writer returned reads the new version;
- Redis away: a request reads everything from the database (as before this
  cache existed) and the process drops what it kept; a bump that failed is
  owed and made at the next Redis call of that process;
- a key Redis lost (restart, flush) is recreated from a random 62-bit
  number, never a value a process may have kept a state under.

What it does not see: a write that bypasses the services (SQL on the
definition or rollup tables). Such a write must call `routing_changed`."""

import itertools
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import redis

from apps.calculations import cache
from apps.calculations.rollup_spec import RollupSpec
from apps.calculations.rollups.selectors import rollup_specs
from apps.core.transactions import after_commit
from apps.ontology.catalog import Catalog, catalog_get, catalog_load
from apps.ontology.services.hooks import on_definitions_changed

logger = logging.getLogger(__name__)

_ALL_KEY = f"{cache.PREFIX}:routing:all"
STATES_SIZE = 256  # clients whose state a process keeps
REDIS_AWAY_SECONDS = 5.0
_REDIS_ERRORS = (redis.RedisError,)  # any: the database is the fallback, never a 500


def _client_key(client_id: int) -> str:
    return f"{cache.PREFIX}:routing:{client_id}"


@dataclass
class RoutingState:
    """One client's routing metadata as of `version` (None: read for one
    request from the database, not kept). Shared by the requests of a
    process: read-only but for the rollups filled in on first use."""

    client_id: int
    version: str | None
    catalog: Catalog
    _rollups: dict[str, list[RollupSpec]] = field(default_factory=dict)

    def rollups(self, entity: str) -> list[RollupSpec]:
        """The entity's enabled rollups, finest grain first (rollup_specs)."""
        specs = self._rollups.get(entity)
        if specs is None:
            specs = self._rollups.setdefault(entity, rollup_specs(client_id=self.client_id, entity=entity))
        return specs


_states: OrderedDict[tuple[int, str], RoutingState] = OrderedDict()
_lock = threading.Lock()
_loads = itertools.count(1)
_redis_away_until = 0.0  # monotonic time before which the version is not asked for (Redis just failed)
_owed: set[int | None] = set()  # bumps Redis did not take: made at the next call that reaches it


def routing_state(*, client_id: int) -> RoutingState:
    """The client's routing metadata: this process's copy when the version in
    Redis is the one it was read under, else read now (and kept)."""
    version = _version_get(client_id)
    if version is None:
        return RoutingState(client_id, None, catalog_get(client_id=client_id))
    key = (client_id, version)
    with _lock:
        state = _states.get(key)
        if state is not None:
            _states.move_to_end(key)
            return state
    catalog = catalog_load(client_id=client_id)
    # Unique per load, not per version: statements compiled from a copy this process dropped (a
    # change in this transaction, before its version moved) are never reused with the new one.
    catalog.version = f"routing:{version}:{next(_loads)}"
    state = RoutingState(client_id, version, catalog)
    with _lock:
        for stale in [k for k in _states if k[0] == client_id]:
            del _states[stale]
        _states[key] = state
        while len(_states) > STATES_SIZE:
            _states.popitem(last=False)
    return state


def _version_get(client_id: int) -> str | None:
    global _redis_away_until
    if time.monotonic() < _redis_away_until:
        return None
    connection = cache.cache_connection()
    keys = [_ALL_KEY, _client_key(client_id)]
    try:
        _owed_pay(connection)
        values = connection.mget(keys)
        if None in values:
            pipe = connection.pipeline()
            for key, value in zip(keys, values, strict=True):
                if value is None:
                    pipe.set(key, secrets.randbits(62), nx=True)
            pipe.mget(keys)
            values = pipe.execute()[-1]
    except _REDIS_ERRORS as exc:
        logger.warning("routing version unreadable (Redis: %s); metadata read from the database", exc)
        _forget(None)
        # A paused Redis costs its socket timeout: one request pays it, the next ones for a while do not.
        _redis_away_until = time.monotonic() + REDIS_AWAY_SECONDS
        return None
    return b":".join(values).decode()


def routing_changed(client_ids: frozenset[int] | set[int] | int | None) -> None:
    """The routing metadata of `client_ids` (None: of every client) changes
    in the current transaction: this process forgets its copy now (its next
    request reads what this transaction sees), every process once the
    version moves, after the commit (at once outside a transaction)."""
    if isinstance(client_ids, int):
        client_ids = {client_ids}
    targets = None if client_ids is None else frozenset(client_ids)
    _forget(targets)
    after_commit(_bump, targets)


def _bump(client_ids: frozenset[int] | None) -> None:
    targets: list[int | None] = [None] if client_ids is None else sorted(client_ids)
    _forget(client_ids)
    connection = cache.cache_connection()
    try:
        _owed_pay(connection)
        _incr(connection, targets)
    except _REDIS_ERRORS as exc:
        logger.warning("routing version not moved (Redis: %s); owed until Redis answers", exc)
        with _lock:
            _owed.update(targets)


def _incr(connection: redis.Redis, targets: list[int | None]) -> None:
    pipe = connection.pipeline(transaction=False)
    for target in targets:
        pipe.incr(_ALL_KEY if target is None else _client_key(target))
    pipe.execute()


def _owed_pay(connection: redis.Redis) -> None:
    if not _owed:
        return
    with _lock:
        targets = list(_owed)
        _owed.clear()
    try:
        _incr(connection, targets)
    except _REDIS_ERRORS:
        with _lock:
            _owed.update(targets)
        raise


def _forget(client_ids: frozenset[int] | None) -> None:
    """Drop this process's states of `client_ids` (None: all)."""
    with _lock:
        for key in [k for k in _states if client_ids is None or k[0] in client_ids]:
            del _states[key]


@on_definitions_changed
def _definitions_changed(client_ids: frozenset[int] | None) -> None:
    routing_changed(client_ids)

"""Dependency checks behind `/health`. Each check is a function returning a
dict with a `status` of `ok` or `error` (and what it learned); a check that
raises is reported as `error` with the reason. Checks read their targets from
settings at call time and use short timeouts, so a dead dependency answers
fast instead of hanging the probe."""

import time
from collections.abc import Callable, Iterator, Mapping

import psycopg
import redis
from django.conf import settings
from django.db import connections
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.core.health import registered_checks
from apps.messaging.selectors import bus_check
from apps.warehouse.selectors import timescaledb_info

Check = Callable[[], dict]


def _timeout() -> float:
    return settings.HEALTH_CHECK_TIMEOUT_SECONDS


def check_database() -> dict:
    started = time.perf_counter()
    connection = connections["default"]
    # A fresh, short-timeout connection: the request's own may be long-lived.
    params = connection.get_connection_params()
    params["connect_timeout"] = max(1, int(_timeout()))
    with psycopg.connect(**params) as conn:
        conn.execute("SELECT 1")
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def check_timescaledb() -> dict:
    info = timescaledb_info()
    if info.version is None:
        return {"status": "error", "error": "the timescaledb extension is not installed"}
    return {"status": "ok", "version": info.version, "license": info.license}


def check_redis() -> dict:
    started = time.perf_counter()
    # No retries: redis-py's default (ten, with backoff) would multiply the timeout.
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=_timeout(),
        socket_timeout=_timeout(),
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    finally:
        client.close()
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def check_worker() -> dict:
    from celery_app import app

    # The broker's own socket timeouts (REDIS_*_TIMEOUT_SECONDS) may be longer than the probe's.
    probe_timeouts = {"socket_connect_timeout": _timeout(), "socket_timeout": _timeout()}
    with app.connection_for_write(url=settings.CELERY_BROKER_URL, transport_options=probe_timeouts) as conn:
        conn.ensure_connection(max_retries=1, timeout=_timeout())
        replies = app.control.ping(timeout=_timeout(), connection=conn, limit=1)
    if not replies:
        return {"status": "error", "error": "no Celery worker answered the ping"}
    return {"status": "ok", "workers": sorted(name for reply in replies for name in reply)}


BUILTIN_CHECKS: dict[str, Check] = {
    "database": check_database,
    "timescaledb": check_timescaledb,
    "redis": check_redis,
    "worker": check_worker,
    "messaging": bus_check,
}


class _Checks(Mapping):
    """The built-in checks, then those other apps registered in apps.core.health
    (the lakehouse, when a remote one is configured), read at every access so
    a check shows up exactly while its dependency is configured."""

    def _current(self) -> dict[str, Check]:
        extra = {name: check for name, check in registered_checks().items() if name not in BUILTIN_CHECKS}
        return {**BUILTIN_CHECKS, **extra}

    def __getitem__(self, name: str) -> Check:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


CHECKS: Mapping[str, Check] = _Checks()
# timescaledb and the outbox (registered by messaging) are read through the
# request's database connection: after the database check, in the request's
# thread (not the pool's), and when the database is down, say so once.
DEPENDS_ON = {"timescaledb": "database", "outbox": "database"}

"""The one application error type. Services raise it; the DRF exception
handler (apps.core.api.exceptions) turns it into the API error shape."""

from typing import Any

import psycopg
import redis
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

# SQLSTATE classes of a database that cannot take the work now, though it may
# in a moment: connection exceptions, insufficient resources (too many
# clients, out of memory or disk), operator intervention (shutting down,
# starting up). A statement that was cancelled (57014) is its caller's to name.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
_QUERY_CANCELED = "57014"
DATABASE_RETRY_AFTER_SECONDS = 5
REDIS_RETRY_AFTER_SECONDS = 5
# A 429 or 503 always means "try later" (RFC 9110 15.6.4): one raised without
# its own estimate still tells the client when (apps.core.api.exceptions).
DEFAULT_RETRY_AFTER_SECONDS = 5
TRY_LATER_STATUSES = (429, 503)
# Redis not answering, raised by redis-py (cache, throttle counters, Channels,
# our own clients; BusyLoadingError is a ConnectionError) or by kombu around
# it (Celery's broker: a task that could not be queued).
_REDIS_AWAY = (redis.ConnectionError, redis.TimeoutError, BrokerOperationalError)


class AppError(Exception):
    """`retry_after`: seconds after which the same request may succeed (the
    error is a passing condition: overload, a dependency down). The API sends
    it as the Retry-After header."""

    status_code = 400
    code = "invalid"
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        if retry_after is not None:
            self.retry_after = retry_after
        self.details = details or {}


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PermissionDenied(AppError):
    status_code = 403
    code = "permission_denied"


class ServiceUnavailable(AppError):
    """The request is fine but cannot be served now (503); retry after `retry_after` seconds."""

    status_code = 503
    code = "service_unavailable"
    retry_after = DATABASE_RETRY_AFTER_SECONDS


def database_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for a database error that says "not now" rather than "not
    this": no connection within the connect timeout (the server is too busy
    to finish the handshake, or down), too many clients, shutting down. None
    for any other error (a bug, bad SQL, a cancelled statement), which keeps
    its own meaning."""
    if not isinstance(exc, OperationalError | psycopg.OperationalError):
        return None
    cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return None
    sqlstate = cause.sqlstate
    # No SQLSTATE: the failure happened before the server could answer
    # (connection refused or timed out, connection lost).
    if sqlstate is not None and (sqlstate == _QUERY_CANCELED or sqlstate[:2] not in _TRANSIENT_SQLSTATE_CLASSES):
        return None
    return ServiceUnavailable(
        "The database cannot take this request now (it is overloaded or unreachable); "
        f"retry in {DATABASE_RETRY_AFTER_SECONDS} s.",
        code="database_unavailable",
    )


def redis_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for Redis that is down, paused or restarting (no connection
    within REDIS_CONNECT_TIMEOUT_SECONDS, no answer within
    REDIS_SOCKET_TIMEOUT_SECONDS), wherever its client raised and whatever
    wrapped it (a throttle, the cache, the broker). None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _REDIS_AWAY):
            return ServiceUnavailable(
                f"A service this request needs (Redis) is unavailable; retry in {REDIS_RETRY_AFTER_SECONDS} s.",
                code="redis_unavailable",
                retry_after=REDIS_RETRY_AFTER_SECONDS,
            )
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def dependency_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for a database or Redis that cannot take the request now; None otherwise."""
    return database_unavailable(exc) or redis_unavailable(exc)

"""Runs compiled statements: on the read-only alias, inside a statement
timeout, fetching at most the configured number of result rows. Only summary
rows come back to Python (every aggregation ran in Postgres).

At most AE_CALC_MAX_CONCURRENT statements run at once per process
(calculation_slot); the others wait their turn. Without that bound a burst
of distinct requests (a thread each) starts as many statements as requests:
with 100 aggregations over 2 M rows on 2 cores, PostgreSQL was too busy to
finish a new connection's handshake within the connect timeout, and the
requests that still had to connect failed (docs/benchmarks.md, concurrency).
Queued, the same work finishes as fast, and every request gets its answer."""

import logging
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from psycopg import errors as pg_errors

from apps.calculations.compiler import CompiledQuery
from apps.calculations.types import Point
from apps.core.errors import AppError, ServiceUnavailable, database_unavailable

logger = logging.getLogger(__name__)

BUSY_RETRY_AFTER_SECONDS = 5

_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_guard = threading.Lock()


def max_concurrent() -> int:
    """Statements one process runs at once (AE_CALC_MAX_CONCURRENT): enough to
    keep a few database cores busy, few enough that the database still
    answers new connections and short queries promptly. Raise it with the
    database's cores."""
    return max(1, settings.AE_CALC_MAX_CONCURRENT)


def slot_wait_seconds() -> float:
    """How long a statement waits for its turn (AE_CALC_SLOT_WAIT_SECONDS;
    default: twice the statement timeout). A queue that does not move for
    that long is overload, answered 503; a burst that merely queues (100
    distinct requests on 2 cores take ~30 s) is served."""
    return max(0.0, settings.AE_CALC_SLOT_WAIT_SECONDS)


def _semaphore(size: int) -> threading.BoundedSemaphore:
    with _slots_guard:
        return _slots.setdefault(size, threading.BoundedSemaphore(size))


@contextmanager
def calculation_slot() -> Iterator[None]:
    """Hold one of the process's AE_CALC_MAX_CONCURRENT statement slots for
    the block, waiting up to slot_wait_seconds() for one; a 503
    `calculations_busy` (with Retry-After) when none freed in that time."""
    size, wait = max_concurrent(), slot_wait_seconds()
    slots = _semaphore(size)
    if not slots.acquire(timeout=wait):
        raise ServiceUnavailable(
            f"The server is running as many calculations as it may at once ({size}) and none finished "
            f"within {wait:g} s; retry in {BUSY_RETRY_AFTER_SECONDS} s.",
            code="calculations_busy",
            details={"max_concurrent": size},
            retry_after=BUSY_RETRY_AFTER_SECONDS,
        )
    try:
        yield
    finally:
        slots.release()


# SQLSTATEs of a statement whose types do not fit (no such function or operator for these types, types that
# cannot be matched or cast): answered like a data error, never a 500.
_TYPE_ERRORS = (
    pg_errors.UndefinedFunction,
    pg_errors.DatatypeMismatch,
    pg_errors.CannotCoerce,
    pg_errors.IndeterminateDatatype,
    pg_errors.AmbiguousFunction,
    pg_errors.AmbiguousParameter,
)


def calculation_failed(reason: str, *, metric: str | None = None) -> AppError:
    """The 422 for a calculation the database could not finish or whose value is not a finite number."""
    subject = f"Metric {metric!r} could not be calculated" if metric else "The calculation failed"
    return AppError(
        f"{subject}: {reason.rstrip('.')}.",
        code="calculation_failed",
        status_code=422,
        details={"metric": metric} if metric else {},
    )


def finite_value(value: Any, *, metric: str | None = None) -> float | None:
    """A computed value as the float the API sends, or the 422 when it is not
    a finite number (NaN, an overflow to infinity, a value of another type)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise calculation_failed(f"its value {str(value)[:40]!r} is not a number", metric=metric) from None
    if not math.isfinite(number):
        raise calculation_failed(f"its value ({value}) is not a finite number", metric=metric)
    return number


def _session_timeout_ms(connection) -> int | None:
    """The statement_timeout the alias's sessions start with (the `options`
    settings/base.py gives the calculation read side), None when unset."""
    options = connection.settings_dict.get("OPTIONS", {}).get("options", "")
    found = re.findall(r"statement_timeout=(\d+)", options)
    return int(found[-1]) if found else None


def sql_run(sql: str, params: dict[str, Any], *, using: str | None = None) -> list[tuple]:
    """Rows of one SELECT, or an AppError a person can act on (a 503 with
    Retry-After when the database or this process cannot take it now)."""
    with calculation_slot():
        return _sql_run(sql, params, using=using)


def _sql_run(sql: str, params: dict[str, Any], *, using: str | None) -> list[tuple]:
    alias = using or settings.AE_CALC_DATABASE
    limit = settings.AE_CALC_MAX_ROWS
    timeout_ms = settings.AE_CALC_STATEMENT_TIMEOUT_MS
    connection = connections[alias]
    try:
        if not connection.in_atomic_block and _session_timeout_ms(connection) == timeout_ms:
            # The session already has the timeout: one round trip (BEGIN, set_config and COMMIT were three more).
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchmany(limit + 1)
        else:
            # Another timeout (a caller's, a test's) or the caller's transaction: local to a transaction.
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
                cursor.execute(sql, params)
                rows = cursor.fetchmany(limit + 1)
    except DatabaseError as exc:
        cause = exc.__cause__
        if isinstance(cause, pg_errors.QueryCanceled):
            raise AppError(
                f"The calculation took longer than {timeout_ms / 1000:g} s and was stopped; "
                "narrow the range, use a coarser granularity or fewer group-by attributes.",
                code="query_timeout",
                status_code=503,
                retry_after=BUSY_RETRY_AFTER_SECONDS,
            ) from exc
        if isinstance(cause, (pg_errors.DataError, *_TYPE_ERRORS)):
            # Formulas are type-checked when defined and again when compiled; what still fails here is
            # the data (a value out of range, an overflow) or a definition older than the checks.
            raise calculation_failed(f"{cause.diag.message_primary or cause}") from exc
        if isinstance(cause, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
            raise AppError(
                "The entity's table does not match its definition; run the drift check "
                f"(GET /api/v1/ontology/drift/). {cause.diag.message_primary or ''}".strip(),
                code="schema_drift",
                status_code=409,
            ) from exc
        unavailable = database_unavailable(exc)
        if unavailable is not None:
            logger.warning("calculation database unavailable (%s), answered 503: %s", alias, exc)
            raise unavailable from exc
        raise
    if len(rows) > limit:
        raise AppError(
            f"The result has more than {limit} rows; narrow the range, the granularity or the group-by.",
            code="too_many_results",
            details={"limit": limit},
        )
    return rows


def json_value(value: Any) -> Any:
    """A database value as JSON has it (dims and values of a result)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def compiled_run(compiled: CompiledQuery, *, using: str | None = None) -> tuple[Point, ...]:
    """The series a compiled metric query answers: (bucket, dims, value) rows."""
    metric = compiled.metric.code
    try:
        rows = sql_run(compiled.sql, compiled.params, using=using)
    except AppError as exc:
        if exc.code == "calculation_failed":
            exc.message = exc.message.replace("The calculation failed", f"Metric {metric!r} could not be calculated")
            exc.details = {**exc.details, "metric": metric}
        raise
    points = []
    for row in rows:
        bucket, *dims, value = row
        points.append(
            Point(
                bucket=bucket.astimezone(UTC) if bucket is not None else None,
                dims={path: json_value(v) for path, v in zip(compiled.dims, dims, strict=True)},
                value=finite_value(value, metric=metric),
            )
        )
    return tuple(points)

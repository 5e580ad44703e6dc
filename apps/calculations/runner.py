"""Runs compiled statements: on the read-only alias, inside a statement
timeout, fetching at most the configured number of result rows. Only summary
rows come back to Python (every aggregation ran in Postgres)."""

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from psycopg import errors as pg_errors

from apps.calculations.compiler import CompiledQuery
from apps.calculations.types import Point
from apps.core.errors import AppError

logger = logging.getLogger(__name__)


def sql_run(sql: str, params: dict[str, Any], *, using: str | None = None) -> list[tuple]:
    """Rows of one SELECT, or an AppError a person can act on."""
    alias = using or settings.AE_CALC_DATABASE
    limit = settings.AE_CALC_MAX_ROWS
    timeout_ms = settings.AE_CALC_STATEMENT_TIMEOUT_MS
    try:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
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
            ) from exc
        if isinstance(cause, pg_errors.DataError):
            raise AppError(
                f"The calculation failed on the data: {cause.diag.message_primary or cause}.",
                code="calculation_failed",
                status_code=422,
            ) from exc
        if isinstance(cause, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
            raise AppError(
                "The entity's table does not match its definition; run the drift check "
                f"(GET /api/v1/ontology/drift/). {cause.diag.message_primary or ''}".strip(),
                code="schema_drift",
                status_code=409,
            ) from exc
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
    rows = sql_run(compiled.sql, compiled.params, using=using)
    points = []
    for row in rows:
        bucket, *dims, value = row
        points.append(
            Point(
                bucket=bucket.astimezone(UTC) if bucket is not None else None,
                dims={path: json_value(v) for path, v in zip(compiled.dims, dims, strict=True)},
                value=float(value) if value is not None else None,
            )
        )
    return tuple(points)

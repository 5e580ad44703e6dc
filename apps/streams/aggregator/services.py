"""Writes of the stream aggregator: the bus handler's hook, the write-behind
flush and the rebuild (docs/live.md, "Stream aggregator").

Why the flush cannot lose or double a reading:

- The handler marks the reading's second dirty (`streams_telemetry_dirty`)
  in the transaction that stores the raw row: the mark is visible exactly
  when the row is. (A scan of `received_at` after a cursor, the first idea,
  misses a row whose transaction commits after the cursor moved past its
  `received_at` however wide the overlap, and `received_at` has no index.)
- The flush consumes the marks (DELETE ... RETURNING) and then, in a second
  statement of the same transaction, recomputes those seconds from the raw
  rows: an upsert that replaces, never adds, so running it twice is
  harmless. A handler that marks a second while the flush runs either holds
  the mark's row lock until it commits (the DELETE waits for it, and the
  next statement's snapshot sees its row) or marks the second afresh for
  the next flush.
- The watermark W moves in that same transaction. "Current" views read the
  table below W and Redis from W up, so Redis buckets below W (deleted
  after the commit, or left there by a crash) are never counted.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from redis import RedisError

from apps.core.errors import AppError
from apps.core.transactions import after_commit
from apps.streams.aggregator.live import live_buckets_drop, live_reading_apply, second_moment, unix_second
from apps.streams.realtime import telemetry_bucket_push
from apps.streams.schemas import TelemetryReadingV1

logger = logging.getLogger(__name__)

DIRTY_MARK_SQL = """
INSERT INTO streams_telemetry_dirty (client_id, sensor, device_id, bucket, touched_at)
VALUES (%s, %s, %s, time_bucket('1 second', %s::timestamptz), now())
ON CONFLICT (client_id, sensor, device_id, bucket) DO UPDATE SET touched_at = EXCLUDED.touched_at
"""
# DO UPDATE, not DO NOTHING: the update holds the mark's row lock until the
# handler commits, which is what makes a concurrent flush wait for its row.

STATE_LOCK_WAIT_SQL = "SELECT watermark FROM streams_aggregator_state WHERE client_id = %s FOR UPDATE"
STATE_LOCK_SKIP_SQL = STATE_LOCK_WAIT_SQL + " SKIP LOCKED"
STATE_CREATE_SQL = "INSERT INTO streams_aggregator_state (client_id) VALUES (%s) ON CONFLICT (client_id) DO NOTHING"

UPSERT_SQL = """
INSERT INTO streams_telemetry_second (client_id, sensor, device_id, bucket, count, sum, min, max)
SELECT r.client_id, r.sensor, r.device_id, time_bucket('1 second', r.recorded_at),
       count(*), sum(r.value), min(r.value), max(r.value)
FROM {source}
GROUP BY 1, 2, 3, 4
ON CONFLICT (client_id, sensor, device_id, bucket)
DO UPDATE SET count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max
"""
# The dirty seconds, joined to their raw rows through the primary key; the
# constant range lets TimescaleDB skip the chunks outside it when planning.
DIRTY_SOURCE = """
unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS d(sensor, device_id, bucket)
JOIN streams_telemetry_reading r
  ON r.client_id = %s AND r.device_id = d.device_id AND r.sensor = d.sensor
 AND r.recorded_at >= d.bucket AND r.recorded_at < d.bucket + INTERVAL '1 second'
WHERE r.recorded_at >= %s AND r.recorded_at < %s
"""
RANGE_SOURCE = "streams_telemetry_reading r WHERE r.client_id = %s AND r.recorded_at >= %s"


@dataclass(frozen=True)
class FlushResult:
    client_id: int
    watermark: datetime | None  # None: skipped, another flush of this client was running
    seconds: int  # seconds recomputed
    dropped: int | None = None  # Redis buckets deleted; None when the cleanup failed or did not run


@dataclass(frozen=True)
class RebuildResult:
    client_id: int
    since: datetime
    watermark: datetime
    seconds: int  # seconds of the table written for the range
    reseeded: int  # raw readings put back into Redis (at or after the watermark)


# --- the handler's hook -------------------------------------------------------------------


def telemetry_reading_aggregate(*, client_id: int, event_id: uuid.UUID, reading: TelemetryReadingV1) -> None:
    """Called by the `telemetry.reading` handler after it stored the raw row,
    in its transaction: mark the second dirty for the flush, and once the
    transaction commits add the reading to Redis (and push it). A Redis
    failure there is logged and nothing else: the row is stored, and the
    flush recomputes its second from it."""
    with connection.cursor() as cursor:
        cursor.execute(DIRTY_MARK_SQL, [client_id, reading.sensor, reading.device_id, reading.recorded_at])
    after_commit(
        _live_apply,
        client_id=client_id,
        event_id=event_id,
        sensor=reading.sensor,
        device_id=reading.device_id,
        recorded_at=reading.recorded_at,
        value=reading.value,
    )


def _live_apply(
    *, client_id: int, event_id: uuid.UUID, sensor: str, device_id: str, recorded_at: datetime, value: float
) -> None:
    try:
        applied = live_reading_apply(
            client_id=client_id, sensor=sensor, device_id=device_id, recorded_at=recorded_at, value=value,
            event_id=event_id,
        )  # fmt: skip
    except RedisError as exc:
        logger.warning(
            "telemetry reading %s not aggregated live (Redis: %s); the next flush recomputes its second",
            event_id,
            exc,
            extra={"client_id": client_id, "event_id": str(event_id)},
        )
        return
    if applied.bucket is not None:
        telemetry_bucket_push(client_id=client_id, sensor=sensor, bucket=applied.bucket)


# --- the write-behind flush ---------------------------------------------------------------


def _floor_second(moment: datetime) -> datetime:
    return second_moment(unix_second(moment))


def _state_lock(cursor, client_id: int, *, wait: bool) -> tuple[bool, datetime | None]:
    """Lock the client's state row (created on first use): flushes and
    rebuilds of one client run one at a time. Without `wait`, (False, None)
    when another holds it."""
    cursor.execute(STATE_CREATE_SQL, [client_id])
    cursor.execute(STATE_LOCK_WAIT_SQL if wait else STATE_LOCK_SKIP_SQL, [client_id])
    row = cursor.fetchone()
    if row is None:
        # Either locked elsewhere, or created by a transaction we cannot see yet.
        if wait:
            raise DatabaseError(f"aggregator state of client {client_id} could not be locked")
        return False, None
    return True, row[0]


def _dirty_recompute(cursor, client_id: int) -> int:
    """Consume the client's dirty seconds and recompute them from the raw rows."""
    cursor.execute(
        "DELETE FROM streams_telemetry_dirty WHERE client_id = %s RETURNING sensor, device_id, bucket", [client_id]
    )
    dirty = cursor.fetchall()
    if not dirty:
        return 0
    sensors, devices, buckets = (list(column) for column in zip(*dirty, strict=True))
    # A new statement, a new snapshot: it sees the rows of the handlers the DELETE waited for.
    cursor.execute(
        UPSERT_SQL.format(source=DIRTY_SOURCE),
        [sensors, devices, buckets, client_id, min(buckets), max(buckets) + timedelta(seconds=1)],
    )
    return len(dirty)


def _watermark_advance(cursor, client_id: int, previous: datetime | None, now: datetime) -> datetime:
    """W = now - lag (whole seconds), never moving back (a clock step back)."""
    candidate = _floor_second(now - timedelta(seconds=settings.AE_STREAM_FLUSH_LAG_SECONDS))
    watermark = max(previous, candidate) if previous else candidate
    cursor.execute(
        "UPDATE streams_aggregator_state SET watermark = %s, flushed_at = %s WHERE client_id = %s",
        [watermark, timezone.now(), client_id],
    )
    return watermark


def aggregator_flush_commit(*, client_id: int, now: datetime | None = None) -> FlushResult:
    """The database step of a flush, in one transaction: recompute the dirty
    seconds and advance the watermark. Redis is not touched (see
    `aggregator_flush`); stopping here loses and doubles nothing."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        locked, previous = _state_lock(cursor, client_id, wait=False)
        if not locked:
            return FlushResult(client_id=client_id, watermark=None, seconds=0)
        seconds = _dirty_recompute(cursor, client_id)
        watermark = _watermark_advance(cursor, client_id, previous, now)
    return FlushResult(client_id=client_id, watermark=watermark, seconds=seconds)


def _live_drop_below(client_id: int, watermark: datetime) -> int | None:
    try:
        return live_buckets_drop(client_id=client_id, max_second=unix_second(watermark))
    except RedisError as exc:
        logger.warning("aggregator cleanup of client %s failed (Redis: %s); the next flush retries", client_id, exc)
        return None


def aggregator_flush(*, client_id: int, now: datetime | None = None) -> FlushResult:
    """Write behind one client: the database step, then (committed) delete
    the Redis buckets below the new watermark. Inside a caller's transaction
    the deletion waits for that transaction's commit (deleting before W is
    committed could hide seconds from the view) and `dropped` is None."""
    result = aggregator_flush_commit(client_id=client_id, now=now)
    if result.watermark is None:
        return result
    if connection.in_atomic_block:
        after_commit(_live_drop_below, client_id, result.watermark)
        return result
    return FlushResult(
        client_id=client_id,
        watermark=result.watermark,
        seconds=result.seconds,
        dropped=_live_drop_below(client_id, result.watermark),
    )


def aggregator_clients() -> list[int]:
    """Clients the flush visits: those with dirty seconds or a watermark."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT client_id FROM streams_telemetry_dirty "
            "UNION SELECT client_id FROM streams_aggregator_state ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


def aggregator_flush_all(*, now: datetime | None = None) -> list[FlushResult]:
    """Flush every client that has something; one client's failure is logged
    and the others go on."""
    results = []
    for client_id in aggregator_clients():
        try:
            results.append(aggregator_flush(client_id=client_id, now=now))
        except DatabaseError:
            logger.exception("aggregator flush of client %s failed; the next run retries", client_id)
    return results


# --- the rebuild --------------------------------------------------------------------------


def aggregator_rebuild(*, client_id: int, since: datetime, now: datetime | None = None) -> RebuildResult:
    """Recompute the client's seconds from `since` on from the raw rows, and
    reset its Redis state for them: after Redis lost its data, a bad deploy,
    or to take in history older than the aggregator.

    First the client's Redis buckets from `since` are dropped. Then one
    transaction (under the state lock, so no flush interleaves) consumes the
    dirty seconds, replaces the table's seconds from `since` by their
    recomputation and advances the watermark. Last, the raw readings at or
    after the watermark (the seconds "current" views read from Redis) are
    put back into Redis. In that order a reading landing meanwhile is either
    in the snapshot that reseeds (and applying it again changes nothing: its
    key is kept in its bucket) or reaches Redis after the drop. "Current"
    views undercount while a rebuild runs."""
    if since.tzinfo is None:
        raise AppError("since needs a UTC offset, e.g. 2026-03-01T00:00:00+00:00.", code="invalid_range")
    now = now or timezone.now()
    start = _floor_second(since)
    live_buckets_drop(client_id=client_id, min_second=unix_second(start))
    with transaction.atomic(), connection.cursor() as cursor:
        _, previous = _state_lock(cursor, client_id, wait=True)
        _dirty_recompute(cursor, client_id)
        cursor.execute("DELETE FROM streams_telemetry_second WHERE client_id = %s AND bucket >= %s", [client_id, start])
        cursor.execute(UPSERT_SQL.format(source=RANGE_SOURCE), [client_id, start])
        seconds = cursor.rowcount
        watermark = _watermark_advance(cursor, client_id, previous, now)
        cursor.execute(
            "SELECT sensor, device_id, recorded_at, value FROM streams_telemetry_reading "
            "WHERE client_id = %s AND recorded_at >= %s ORDER BY recorded_at",
            [client_id, max(start, watermark)],
        )
        live_rows = cursor.fetchall()
    for sensor, device_id, recorded_at, value in live_rows:
        live_reading_apply(
            client_id=client_id, sensor=sensor, device_id=device_id, recorded_at=recorded_at, value=value
        )
    return RebuildResult(
        client_id=client_id, since=start, watermark=watermark, seconds=seconds, reseeded=len(live_rows)
    )

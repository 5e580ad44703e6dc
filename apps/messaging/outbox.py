"""The transactional outbox: events published from a database transaction
(`bus.publish_on_commit`) are never lost and never published for work that
rolled back (docs/events.md, "The outbox").

- `outbox_enqueue` writes the envelope as an `OutboxEvent` row in the
  caller's transaction: the event exists exactly when what it reports
  committed. A rolled-back transaction leaves no row and publishes nothing.
- After the commit, `outbox_relay` is tried once for that row, at once and
  without retrying (a request must not wait for an absent Redis); a failure
  is recorded on the row and logged, never raised into the request.
- `OutboxRelay` (a thread of `manage.py run_consumers`, which always runs)
  publishes what is still pending, oldest first, backing off exponentially
  while Redis is away, and deletes published rows after
  MESSAGING_OUTBOX_RETENTION_SECONDS.

Rows are taken with `SELECT ... FOR UPDATE SKIP LOCKED`, so the after-commit
relay and any number of relay threads never publish one row at the same
time. A row is marked published in the transaction that locked it, after the
XADD: a crash between the two publishes it again later, and the consumers,
idempotent on `event_id`, apply it once. So: at-least-once relay, applied
exactly once.
"""

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import AppError
from apps.core.transactions import after_commit
from apps.messaging.bus import REDIS_ERRORS, envelope_encode, envelopes_send
from apps.messaging.models import OutboxEvent
from apps.messaging.types import BusUnavailable, Envelope

logger = logging.getLogger(__name__)

PURGE_BATCH = 1000
PURGE_INTERVAL_SECONDS = 60.0
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class RelayResult:
    published: int = 0
    failed: int = 0  # rows taken but not published (Redis away, or an event that cannot be sent)
    error: str = ""


def outbox_enqueue(*, envelope: Envelope) -> OutboxEvent:
    """Record `envelope` in the current transaction and relay it once the
    transaction commits (at once outside a transaction)."""
    row = OutboxEvent.objects.create(
        event_id=envelope.event_id,
        topic=envelope.topic,
        envelope=envelope.model_dump(mode="json"),
        created_at=envelope.occurred_at,
    )
    after_commit(_relay_after_commit, row.pk)
    return row


def _relay_after_commit(pk: int) -> None:
    result = outbox_relay(ids=[pk], retry_seconds=0)
    if result.failed:
        logger.warning(
            "event not relayed after commit (%s); the outbox relay publishes it when the bus answers",
            result.error,
            extra={"outbox_id": pk},
        )


def _mark_published(ids: Sequence[int]) -> None:
    """(A step of its own: the tests put a crash between the XADD and this.)"""
    OutboxEvent.objects.filter(pk__in=ids).update(published_at=timezone.now())


def _mark_failed(ids: Sequence[int], error: str) -> None:
    OutboxEvent.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, last_error=error[:MAX_ERROR_LENGTH])


def outbox_relay(
    *, ids: Sequence[int] | None = None, limit: int | None = None, retry_seconds: float | None = 0
) -> RelayResult:
    """Publish pending outbox rows (those in `ids`, or the oldest `limit`),
    in creation order, in one pipeline, and mark them published. Rows another
    relay holds are skipped. When Redis does not answer, the rows stay
    pending with one more attempt and the error; nothing raises for Redis."""
    limit = limit or settings.MESSAGING_OUTBOX_BATCH_SIZE
    with transaction.atomic():
        pending = OutboxEvent.objects.select_for_update(skip_locked=True).filter(published_at__isnull=True)
        if ids is not None:
            pending = pending.filter(pk__in=ids)
        rows = list(pending.order_by("id")[:limit])
        if not rows:
            return RelayResult()
        sendable: list[tuple[int, Envelope]] = []
        broken: list[tuple[int, str]] = []
        for row in rows:
            try:
                envelope = Envelope.model_validate(row.envelope)
                envelope_encode(envelope)  # (over MESSAGING_MAX_PAYLOAD_BYTES since it was written?)
            except (ValueError, AppError) as exc:
                broken.append((row.pk, f"The stored event cannot be sent: {exc}"))
            else:
                sendable.append((row.pk, envelope))
        for pk, error in broken:  # a bug, not an outage: say so loudly, keep the row for a person
            logger.error("outbox event cannot be relayed: %s", error, extra={"outbox_id": pk})
            _mark_failed([pk], error)
        if not sendable:
            return RelayResult(failed=len(broken), error=broken[0][1])
        try:
            envelopes_send([envelope for _, envelope in sendable], retry_seconds=retry_seconds)
        except (BusUnavailable, *REDIS_ERRORS) as exc:
            error = f"{type(exc).__name__}: {exc}"
            _mark_failed([pk for pk, _ in sendable], error)
            return RelayResult(failed=len(rows), error=error)
        _mark_published([pk for pk, _ in sendable])
    if sendable:
        logger.debug("relayed %d outbox events", len(sendable))
    return RelayResult(published=len(sendable), failed=len(broken), error=broken[0][1] if broken else "")


def outbox_purge(*, older_than: timedelta | None = None) -> int:
    """Delete rows published more than `older_than` ago (default
    MESSAGING_OUTBOX_RETENTION_SECONDS), in batches; returns how many."""
    if older_than is None:
        older_than = timedelta(seconds=settings.MESSAGING_OUTBOX_RETENTION_SECONDS)
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        batch = list(OutboxEvent.objects.filter(published_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH])
        if not batch:
            return total
        total += OutboxEvent.objects.filter(pk__in=batch).delete()[0]


class OutboxRelay:
    """The relay loop: `run()` until `stop` is set. Publishes pending rows in
    batches while there are any; polls every MESSAGING_OUTBOX_POLL_SECONDS
    when there are none; backs off exponentially (up to
    MESSAGING_RECONNECT_MAX_SECONDS) while Redis or the database is away."""

    def __init__(self, *, stop: threading.Event | None = None, poll_seconds: float | None = None) -> None:
        self.stop = stop or threading.Event()
        self.poll_seconds = settings.MESSAGING_OUTBOX_POLL_SECONDS if poll_seconds is None else poll_seconds
        self.stats: dict[str, Any] = {"published": 0, "failures": 0, "purged": 0}
        self._next_purge = 0.0

    def _delay(self, failures: int) -> float:
        return min(settings.MESSAGING_RECONNECT_MAX_SECONDS, self.poll_seconds * 2 ** min(failures - 1, 16))

    def run(self) -> None:
        failures = 0
        logger.info("outbox relay started")
        try:
            while not self.stop.is_set():
                try:
                    result = self.poll()
                except DatabaseError as exc:
                    result = RelayResult(failed=1, error=f"the database: {type(exc).__name__}: {exc}")
                    with suppress(DatabaseError):
                        connection.close()
                except Exception as exc:  # the relay must outlive any one failure
                    logger.exception("outbox relay error")
                    result = RelayResult(failed=1, error=f"{type(exc).__name__}: {exc}")
                if result.failed and not result.published:
                    failures += 1
                    self.stats["failures"] += 1
                    delay = self._delay(failures)
                    logger.warning("outbox relay: %s; next attempt in %.1f s", result.error, delay)
                    self.stop.wait(delay)
                    continue
                failures = 0
                if not result.published:
                    self.stop.wait(self.poll_seconds)
        finally:
            connection.close()
            logger.info("outbox relay stopped", extra={"stats": dict(self.stats)})

    def poll(self) -> RelayResult:
        """One round: relay a batch (purge old published rows when due)."""
        if not connection.in_atomic_block:  # (a test's transaction: leave its connection alone)
            close_old_connections()
        result = outbox_relay(retry_seconds=0)
        self.stats["published"] += result.published
        now = time.monotonic()
        if not result.published and now >= self._next_purge:
            self.stats["purged"] += outbox_purge()
            self._next_purge = now + PURGE_INTERVAL_SECONDS
        return result

"""The consumer runner behind `manage.py run_consumers` (docs/events.md).

One `GroupWorker` per consumer group, each in its own thread with its own
database connection. A worker:

- reads its topics' streams with XREADGROUP (blocking up to
  MESSAGING_BLOCK_MS), creating the group on a stream from its first entry
  (id 0) so events published before the group existed are not lost; pattern
  groups look for new matching topics every MESSAGING_TOPIC_REFRESH_SECONDS;
- applies each event through `services.event_apply` (handlers and the
  processed-event record in one transaction) and XACKs only after the
  commit, so a crash between the two redelivers an event that is then
  skipped as already applied;
- retries a failing handler MESSAGING_MAX_ATTEMPTS times with exponential
  backoff, then parks the message in the dead-letter store and acks it, so
  one poison message never blocks the stream;
- first re-reads its own pending entries (a restart under the same consumer
  name), and every MESSAGING_CLAIM_INTERVAL_SECONDS takes over entries other
  consumers left pending for MESSAGING_CLAIM_MIN_IDLE_MS (XAUTOCLAIM); an
  entry delivered more than MESSAGING_MAX_ATTEMPTS times (its consumers kept
  dying on it) is parked without running it again;
- reconnects with exponential backoff when Redis or the database goes away;
- on stop (SIGTERM/SIGINT) finishes the message in hand, acks what it
  applied and returns; the rest of its batch stays pending for the next
  consumer.
"""

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection, reset_queries
from django_guid import clear_guid, get_guid, set_guid

from apps.messaging.bus import REDIS_ERRORS, bus_connection, envelope_decode, stream_key, topic_from_stream, topics_key
from apps.messaging.registry import group_topics, handlers_for, registrations
from apps.messaging.services import dead_letter_park, event_apply
from apps.messaging.types import Envelope

logger = logging.getLogger(__name__)

GROUP_START_ID = "0"  # a new group reads its stream from the start (see the module docstring)
MAX_CLAIM_ROUNDS = 10  # XAUTOCLAIM pages per stream per pass


@dataclass(frozen=True)
class ConsumerConfig:
    block_ms: int
    batch_size: int
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    claim_min_idle_ms: int
    claim_interval_seconds: float
    topic_refresh_seconds: float
    reconnect_max_seconds: float
    consumer_expiry_seconds: int

    @classmethod
    def from_settings(cls, **overrides) -> "ConsumerConfig":
        config = cls(
            block_ms=settings.MESSAGING_BLOCK_MS,
            batch_size=settings.MESSAGING_BATCH_SIZE,
            max_attempts=max(1, settings.MESSAGING_MAX_ATTEMPTS),
            backoff_seconds=settings.MESSAGING_RETRY_BACKOFF_SECONDS,
            backoff_max_seconds=settings.MESSAGING_RETRY_BACKOFF_MAX_SECONDS,
            claim_min_idle_ms=settings.MESSAGING_CLAIM_MIN_IDLE_MS,
            claim_interval_seconds=settings.MESSAGING_CLAIM_INTERVAL_SECONDS,
            topic_refresh_seconds=settings.MESSAGING_TOPIC_REFRESH_SECONDS,
            reconnect_max_seconds=settings.MESSAGING_RECONNECT_MAX_SECONDS,
            consumer_expiry_seconds=settings.MESSAGING_CONSUMER_EXPIRY_SECONDS,
        )
        return replace(config, **overrides)


class _DatabaseDown(Exception):
    """The database, not the handler, failed: retry later, count no attempt."""


class _Stopping(Exception):
    """Stop requested while waiting to retry: leave the message pending."""


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _database_down(exc: BaseException) -> bool:
    """A database error the handler did not cause: the server is unreachable."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    try:
        connection.close()
        connection.ensure_connection()
    except (OperationalError, InterfaceError):
        return True
    return False


@contextmanager
def _correlation(correlation_id: str | None) -> Iterator[None]:
    """Log lines written while handling carry the event's correlation id."""
    previous = get_guid()
    set_guid(correlation_id or uuid.uuid4().hex)
    try:
        yield
    finally:
        if previous:
            set_guid(previous)
        else:
            clear_guid()


def _stream_entries(reply) -> list[tuple[str, bytes, dict | None]]:
    """(stream key, entry id, fields) from an XREADGROUP reply (RESP2 or RESP3)."""
    if not reply:
        return []
    items = reply.items() if isinstance(reply, dict) else reply
    entries = []
    for key, messages in items:
        entries.extend((_text(key), entry_id, fields) for entry_id, fields in messages or [])
    return entries


class GroupWorker:
    """Consumes the streams of one consumer group. `run()` loops until `stop`
    is set; `poll()` does one round (tests and benchmarks drive it directly)."""

    def __init__(
        self,
        group: str,
        *,
        consumer: str | None = None,
        stop: threading.Event | None = None,
        config: ConsumerConfig | None = None,
    ) -> None:
        if not registrations(group=group):
            raise ValueError(f"No handler is registered in the consumer group {group!r}.")
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.stop = stop or threading.Event()
        self.config = config or ConsumerConfig.from_settings()
        self.redis = bus_connection(
            socket_timeout=settings.MESSAGING_SOCKET_TIMEOUT_SECONDS + self.config.block_ms / 1000
        )
        self.stats: Counter[str] = Counter()
        self._streams: dict[str, str] = {}  # stream key -> topic, group ensured
        self._acks: defaultdict[str, list[bytes]] = defaultdict(list)
        self._next_refresh = 0.0
        self._next_claim = 0.0
        self._scan_own_pending = True
        self._first_scan = True

    def _log_extra(self, **extra) -> dict:
        return {"group": self.group, "consumer": self.consumer, **extra}

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        failures = 0
        logger.info("consumer started", extra=self._log_extra())
        try:
            while not self.stop.is_set():
                try:
                    self.poll()
                    failures = 0
                except _Stopping:
                    break
                except REDIS_ERRORS as exc:
                    failures += 1
                    self._lost("Redis", exc, failures)
                except (_DatabaseDown, DatabaseError) as exc:
                    failures += 1
                    with suppress(DatabaseError):
                        connection.close()
                    self._lost("the database", exc.__cause__ or exc, failures)
                except Exception:
                    failures += 1
                    logger.exception("consumer error", extra=self._log_extra())
                    self.stop.wait(self._reconnect_delay(failures))
        finally:
            with suppress(*REDIS_ERRORS):
                self._flush_acks()
            with suppress(DatabaseError):
                connection.close()
            logger.info("consumer stopped", extra=self._log_extra(**dict(self.stats)))

    def _reconnect_delay(self, failures: int) -> float:
        delay = min(self.config.reconnect_max_seconds, 0.25 * 2 ** min(failures - 1, 16))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security

    def _lost(self, what: str, exc: BaseException, failures: int) -> None:
        delay = self._reconnect_delay(failures)
        logger.warning(
            "%s unreachable (%s); reconnecting in %.1f s",
            what,
            _error_text(exc),
            delay,
            extra=self._log_extra(attempt=failures),
        )
        # After a reconnect: make sure the groups exist again, and re-read what
        # was delivered to us but not acknowledged.
        self._streams.clear()
        self._next_refresh = 0.0
        self._scan_own_pending = True
        self.stop.wait(delay)

    def poll(self, *, block_ms: int | None = None) -> int:
        """One round: flush acks, refresh topics and reclaim when due, read a
        batch and handle it. Returns the number of entries handled."""
        if not connection.in_atomic_block:  # (a test's transaction: leave its connection alone)
            close_old_connections()
        reset_queries()  # DEBUG keeps every query otherwise; this process runs for days
        self._flush_acks()
        now = time.monotonic()
        if now >= self._next_refresh:
            self._refresh()
        if not self._streams:
            self.stop.wait((self.config.block_ms if block_ms is None else block_ms) / 1000)
            return 0
        handled = 0
        if now >= self._next_claim:
            handled += self._reclaim()
            self._next_claim = time.monotonic() + self.config.claim_interval_seconds
        if self._scan_own_pending:
            entries = self._read(GROUP_START_ID, block_ms=None)
            if entries:
                # At start, what is pending under our name was left by an earlier process of that
                # name, which died: count its deliveries. After a reconnect it is ours, and each
                # re-read counted one more delivery without anyone dying.
                counts = self._deliveries(entries) if self._first_scan else None
                handled += self._handle_all(entries, counts)
                self._flush_acks()
                return handled
            self._scan_own_pending = False
            self._first_scan = False
        entries = self._read(">", block_ms=self.config.block_ms if block_ms is None else block_ms)
        handled += self._handle_all(entries)
        self._flush_acks()
        return handled

    def drain(self, *, block_ms: int = 50, timeout: float = 60.0) -> int:
        """Poll until a round finds nothing (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            handled = self.poll(block_ms=block_ms)
            total += handled
            if not handled and not self._scan_own_pending:
                break
        return total

    # -- streams ------------------------------------------------------------------

    def _refresh(self) -> None:
        known = {_text(m) for m in self.redis.smembers(topics_key())}
        topics = group_topics(self.group, known)
        exact_new = {r.pattern for r in registrations(group=self.group) if not r.is_pattern} - known
        if exact_new:
            self.redis.sadd(topics_key(), *sorted(exact_new))
        for topic in sorted(topics):
            key = stream_key(topic)
            if key in self._streams:
                continue
            try:
                self.redis.xgroup_create(key, self.group, id=GROUP_START_ID, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._streams[key] = topic
            logger.info("reading topic %s", topic, extra=self._log_extra(topic=topic))
        self._next_refresh = time.monotonic() + self.config.topic_refresh_seconds

    def _group_missing(self, exc: redis.ResponseError) -> bool:
        if "NOGROUP" not in str(exc):
            return False
        logger.warning("consumer group missing (Redis lost its data?); recreating", extra=self._log_extra())
        self._streams.clear()
        self._next_refresh = 0.0
        return True

    def _read(self, start_id: str, *, block_ms: int | None) -> list[tuple[str, bytes, dict | None]]:
        streams = dict.fromkeys(self._streams, start_id)
        try:
            reply = self.redis.xreadgroup(
                self.group, self.consumer, streams, count=self.config.batch_size, block=block_ms
            )
        except redis.ResponseError as exc:
            if self._group_missing(exc):
                return []
            raise
        return _stream_entries(reply)

    def _deliveries(self, entries: list[tuple[str, bytes, dict | None]]) -> dict[bytes, int]:
        """How many times each entry was delivered (from the pending list)."""
        by_stream: defaultdict[str, list[bytes]] = defaultdict(list)
        for key, entry_id, _ in entries:
            by_stream[key].append(entry_id)
        counts: dict[bytes, int] = {}
        for key, ids in by_stream.items():
            pending = self.redis.xpending_range(
                key, self.group, min=ids[0], max=ids[-1], count=len(ids) + self.config.batch_size,
                consumername=self.consumer,
            )  # fmt: skip
            counts.update({row["message_id"]: row["times_delivered"] for row in pending})
        return counts

    def _reclaim(self) -> int:
        """Take over entries other consumers left pending too long, and forget
        consumers long gone."""
        handled = 0
        for key in list(self._streams):
            cursor = "0-0"
            for _ in range(MAX_CLAIM_ROUNDS):
                try:
                    reply = self.redis.xautoclaim(
                        key, self.group, self.consumer, min_idle_time=self.config.claim_min_idle_ms,
                        start_id=cursor, count=self.config.batch_size,
                    )  # fmt: skip
                except redis.ResponseError as exc:
                    if self._group_missing(exc):
                        return handled
                    raise
                cursor, claimed = reply[0], reply[1]
                entries = [(key, entry_id, fields) for entry_id, fields in claimed]
                if entries:
                    logger.info(
                        "reclaimed %d pending entries",
                        len(entries),
                        extra=self._log_extra(topic=self._streams.get(key)),
                    )
                    handled += self._handle_all(entries, self._deliveries(entries))
                    self._flush_acks()
                if _text(cursor) == "0-0" or self.stop.is_set():
                    break
            self._forget_idle_consumers(key)
        return handled

    def _forget_idle_consumers(self, key: str) -> None:
        expiry_ms = self.config.consumer_expiry_seconds * 1000
        for info in self.redis.xinfo_consumers(key, self.group):
            name = _text(info["name"])
            if name != self.consumer and info["pending"] == 0 and info["idle"] > expiry_ms:
                self.redis.xgroup_delconsumer(key, self.group, name)

    def _ack(self, key: str, entry_id: bytes) -> None:
        self._acks[key].append(entry_id)

    def _flush_acks(self) -> None:
        if not self._acks:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key, ids in self._acks.items():
            pipe.xack(key, self.group, *ids)
        pipe.execute()
        self._acks.clear()

    # -- handling -------------------------------------------------------------------

    def _handle_all(self, entries, deliveries: dict[bytes, int] | None = None) -> int:
        handled = 0
        for key, entry_id, fields in entries:
            if self.stop.is_set():
                break  # the rest stays pending: our next start or another consumer takes it
            self._handle(key, entry_id, fields, delivered=(deliveries or {}).get(entry_id, 1))
            handled += 1
        return handled

    def _handle(self, key: str, entry_id: bytes, fields: dict | None, *, delivered: int = 1) -> None:
        topic = self._streams.get(key) or topic_from_stream(key)
        if not fields:
            self._ack(key, entry_id)  # trimmed from the stream while pending: nothing left to apply
            self.stats["trimmed"] += 1
            return
        try:
            envelope = envelope_decode(fields)
        except Exception as exc:
            self._park_undecodable(key, topic, entry_id, fields, exc)
            return
        with _correlation(envelope.correlation_id):
            if delivered > self.config.max_attempts:
                self._park(
                    key,
                    entry_id,
                    envelope,
                    f"Delivered {delivered} times without an acknowledgement: the consumers handling it kept dying.",
                    delivered,
                )
                return
            handlers = handlers_for(topic=topic, group=self.group)
            if not handlers:
                self._ack(key, entry_id)  # no handler of this group takes the topic any more
                self.stats["unhandled"] += 1
                return
            self._apply(key, entry_id, envelope, handlers)

    def _apply(self, key: str, entry_id: bytes, envelope: Envelope, handlers) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                applied = event_apply(envelope=envelope, group=self.group, handlers=handlers)
            except Exception as exc:
                if _database_down(exc):
                    raise _DatabaseDown from exc
                if attempt >= self.config.max_attempts:
                    self._park(key, entry_id, envelope, _error_text(exc), attempt)
                    return
                delay = min(self.config.backoff_seconds * 2 ** (attempt - 1), self.config.backoff_max_seconds)
                logger.warning(
                    "handler failed (attempt %d of %d), retrying in %.2f s: %s",
                    attempt,
                    self.config.max_attempts,
                    delay,
                    _error_text(exc),
                    extra=self._log_extra(topic=envelope.topic, event_id=str(envelope.event_id)),
                )
                if self.stop.wait(delay):
                    raise _Stopping from exc
                continue
            self._ack(key, entry_id)
            self.stats["applied" if applied else "duplicate"] += 1
            logger.debug(
                "event %s",
                "applied" if applied else "already applied; skipped",
                extra=self._log_extra(topic=envelope.topic, event_id=str(envelope.event_id)),
            )
            return

    def _park(self, key: str, entry_id: bytes, envelope: Envelope, error: str, attempts: int) -> None:
        dead_letter = dead_letter_park(
            topic=envelope.topic,
            group=self.group,
            event_id=envelope.event_id,
            envelope=envelope.model_dump(mode="json"),
            error=error,
            attempts=attempts,
            tenant=envelope.tenant,
        )
        self._ack(key, entry_id)
        self.stats["parked"] += 1
        logger.error(
            "event parked in the dead-letter store after %d attempts: %s",
            attempts,
            error,
            extra=self._log_extra(topic=envelope.topic, event_id=str(envelope.event_id), dead_letter=dead_letter.pk),
        )

    def _park_undecodable(self, key: str, topic: str, entry_id: bytes, fields: dict, exc: Exception) -> None:
        raw = {_text(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else v for k, v in fields.items()}
        raw = {k: (v[:10_000] if isinstance(v, str) else v) for k, v in raw.items()}
        dead_letter = dead_letter_park(
            topic=topic,
            group=self.group,
            # No event id to read: one derived from the entry, stable across redeliveries.
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{_text(entry_id)}"),
            envelope={"undecodable": True, "stream": key, "entry_id": _text(entry_id), "fields": raw},
            error=f"Not a bus envelope: {_error_text(exc)}",
            attempts=1,
        )
        self._ack(key, entry_id)
        self.stats["parked"] += 1
        logger.error(
            "undecodable entry parked: %s", _error_text(exc), extra=self._log_extra(dead_letter=dead_letter.pk)
        )


def consumers_run(
    *, groups: list[str], stop: threading.Event, consumer: str | None = None, outbox_relay: bool = True
) -> dict[str, Counter]:
    """Run one worker thread per group, and the outbox relay (apps/messaging/outbox.py)
    in a thread of its own, until `stop` is set; returns the workers' stats."""
    from apps.messaging.outbox import OutboxRelay

    workers = [GroupWorker(group, consumer=consumer, stop=stop) for group in groups]
    threads = [threading.Thread(target=w.run, name=f"consumer:{w.group}", daemon=True) for w in workers]
    if outbox_relay:
        threads.append(threading.Thread(target=OutboxRelay(stop=stop).run, name="outbox-relay", daemon=True))
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.2)  # short joins: the main thread must stay free for signals
    return {w.group: w.stats for w in workers}

"""Reads of the event bus: the dead-letter store, what a group applied, the
state of the streams and their consumer groups, and the bus's health
(`bus_check`, the /health probe other apps call)."""

import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.core.errors import NotFound
from apps.messaging.bus import bus_call, bus_url, known_topics, stream_key, topics_key
from apps.messaging.models import DeadLetter, OutboxEvent, ProcessedEvent


def dead_letter_list(
    *,
    client_id: int | None,
    status: str | None = None,
    kind: str | None = None,
    topic: str | None = None,
) -> QuerySet[DeadLetter]:
    """A client's dead letters, newest first (`client_id=None`: the platform's
    own, those of events without a tenant)."""
    queryset = DeadLetter.objects.filter(client_id=client_id)
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if topic:
        queryset = queryset.filter(topic=topic)
    return queryset.order_by("-created_at", "-pk")


def dead_letter_get(*, client_id: int | None, dead_letter_id: int) -> DeadLetter:
    """One of a client's dead letters; another client's answers NotFound."""
    dead_letter = DeadLetter.objects.filter(client_id=client_id, pk=dead_letter_id).first()
    if dead_letter is None:
        raise NotFound(f"No dead letter {dead_letter_id} in this client.")
    return dead_letter


def event_processed(*, event_id: uuid.UUID | str, group: str) -> bool:
    """Whether `group` has applied the event."""
    return ProcessedEvent.objects.filter(event_id=event_id, group=group).exists()


@dataclass(frozen=True)
class GroupState:
    topic: str
    group: str
    consumers: int
    pending: int  # delivered, not yet acknowledged
    lag: int | None  # not yet delivered (None when Redis cannot tell, e.g. after trimming)


@dataclass(frozen=True)
class TopicState:
    topic: str
    length: int
    groups: list[GroupState]


def bus_status() -> list[TopicState]:
    """Every topic with its stream length and its consumer groups' backlog."""

    def read(client) -> list[TopicState]:
        states = []
        for topic in sorted(known_topics()):
            key = stream_key(topic)
            if not client.exists(key):
                states.append(TopicState(topic, 0, []))
                continue
            groups = [
                GroupState(
                    topic=topic,
                    group=_text(info["name"]),
                    consumers=info["consumers"],
                    pending=info["pending"],
                    lag=info.get("lag"),
                )
                for info in client.xinfo_groups(key)
            ]
            states.append(TopicState(topic, client.xlen(key), groups))
        return states

    return bus_call(read, what="reading the streams")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class OutboxStatus:
    pending: int  # events committed but not yet on their stream
    oldest_pending_age_seconds: float | None  # how long the oldest has waited


def outbox_status() -> OutboxStatus:
    """The outbox's backlog (one indexed query: pending rows are few unless Redis is away)."""
    row = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))
    age = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else None
    return OutboxStatus(pending=row["n"], oldest_pending_age_seconds=round(age, 1) if age is not None else None)


def outbox_check() -> dict:
    """The outbox in `/health`: its backlog. Always `ok` when the database
    answers: a backlog while Redis is away is expected (the `messaging` check
    reports Redis), and the relay drains it when Redis returns."""
    status = outbox_status()
    return {
        "status": "ok",
        "pending": status.pending,
        "oldest_pending_age_seconds": status.oldest_pending_age_seconds,
    }


def bus_check() -> dict:
    """Health of the bus for `/health` (the CHECKS shape of
    apps.observability.health): ping with short timeouts, no retries; raises
    when Redis does not answer."""
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    started = time.perf_counter()
    client = redis.Redis.from_url(
        bus_url(), socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
        topics = client.scard(topics_key())
    finally:
        client.close()
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1), "topics": topics}

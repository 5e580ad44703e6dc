"""Reads of the event bus: the dead-letter store, what a group applied, and
the state of the streams and their consumer groups."""

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.messaging.bus import bus_call, known_topics, stream_key
from apps.messaging.models import DeadLetter, ProcessedEvent


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

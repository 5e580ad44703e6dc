"""The event bus on Redis Streams: publishing (docs/events.md).

One stream per topic (`<prefix>stream:<topic>`, prefix `ae:` by default) and
a set of every topic ever published (`<prefix>topics`), which pattern
consumers scan for new topics. Each stream entry carries the whole envelope
as JSON, gzip-compressed when its encoding is over
MESSAGING_COMPRESS_THRESHOLD_BYTES; readers call `envelope_decode` and never
see the difference.

Publishing retries with exponential backoff while Redis is unreachable, for
MESSAGING_PUBLISH_RETRY_SECONDS, then raises `BusUnavailable`. A retry after a
timeout may have been written the first time too: the entry is then in the
stream twice with the same `event_id`, and consumers apply it once (their
idempotency is on `event_id`), so a publish that returned is delivered at
least once and applied once.

Events that report what a database transaction wrote go through
`publish_on_commit`, which writes them to the transactional outbox
(apps/messaging/outbox.py) instead of sending them itself.
"""

import gzip
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis
from django.conf import settings
from django_guid import get_guid
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import (
    RetryError,
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from apps.core.errors import AppError
from apps.messaging.schemas import payload_validate
from apps.messaging.types import BusUnavailable, Envelope, InvalidTopic, Message, PayloadTooLarge

logger = logging.getLogger(__name__)

TOPIC_PATTERN = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*"
TOPIC_RE = re.compile(rf"^{TOPIC_PATTERN}$")
MAX_TOPIC_LENGTH = 200
COMMAND_PREFIX = "commands."

# Stream entry fields.
FIELD_ENCODING = b"enc"
FIELD_DATA = b"data"
ENCODING_JSON = b"json"
ENCODING_GZIP = b"gzip"
GZIP_LEVEL = 3  # 10 KB of readings: level 6 takes twice the time for 4 % less, level 9 more still

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)

T = TypeVar("T")


# -- names ----------------------------------------------------------------------


def topic_validate(topic: str) -> str:
    """A topic is dotted lower-case words (`ingestion.completed`)."""
    if not isinstance(topic, str) or len(topic) > MAX_TOPIC_LENGTH or not TOPIC_RE.match(topic):
        raise InvalidTopic(
            f"Invalid topic {topic!r}: use dotted lower-case words such as 'ingestion.completed' "
            f"(letters, digits, underscores; at most {MAX_TOPIC_LENGTH} characters).",
            details={"topic": topic},
        )
    return topic


def command_topic(command_type: str) -> str:
    """The topic that carries commands of a type: `commands.<type>`."""
    if not isinstance(command_type, str) or not TOPIC_RE.match(command_type):
        raise InvalidTopic(
            f"Invalid command type {command_type!r}: use dotted lower-case words such as 'recalculate'.",
            details={"type": command_type},
        )
    return topic_validate(COMMAND_PREFIX + command_type)


def is_command_topic(topic: str) -> bool:
    return topic.startswith(COMMAND_PREFIX)


def stream_key(topic: str) -> str:
    return f"{settings.MESSAGING_KEY_PREFIX}stream:{topic}"


def topic_from_stream(key: str | bytes) -> str:
    key = key.decode() if isinstance(key, bytes) else key
    return key.removeprefix(f"{settings.MESSAGING_KEY_PREFIX}stream:")


def topics_key() -> str:
    return f"{settings.MESSAGING_KEY_PREFIX}topics"


# -- connections ------------------------------------------------------------------

_clients: dict[tuple, redis.Redis] = {}
_clients_lock = threading.Lock()


def bus_url() -> str:
    return settings.MESSAGING_REDIS_URL or settings.REDIS_URL


def bus_connection(*, socket_timeout: float | None = None) -> redis.Redis:
    """The bus's client (one connection pool per process and configuration;
    the client is shared: redis-py clients are thread-safe, and building one
    costs more than a round trip).

    redis-py's own retries are off: the bus's callers own the retry policy
    (tenacity when publishing, the runner's reconnect loop when consuming).
    Blocking readers pass a `socket_timeout` longer than their block time."""
    timeout = settings.MESSAGING_SOCKET_TIMEOUT_SECONDS if socket_timeout is None else socket_timeout
    key = (
        bus_url(),
        settings.MESSAGING_POOL_MAX_CONNECTIONS,
        settings.MESSAGING_POOL_TIMEOUT_SECONDS,
        settings.MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS,
        timeout,
    )
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            pool = redis.BlockingConnectionPool.from_url(
                key[0],
                max_connections=settings.MESSAGING_POOL_MAX_CONNECTIONS,
                timeout=settings.MESSAGING_POOL_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS,
                socket_timeout=timeout,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=30,
            )
            client = _clients[key] = redis.Redis(connection_pool=pool)
    return client


def bus_pools_reset() -> None:
    """Close every pooled connection (tests that restart Redis, forked workers)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.connection_pool.disconnect()


def bus_call(operation: Callable[[redis.Redis], T], *, what: str, retry_seconds: float | None = None) -> T:
    """Run `operation(client)`, retrying with exponential backoff and jitter
    while Redis is unreachable, for `retry_seconds` (default
    MESSAGING_PUBLISH_RETRY_SECONDS; 0: one attempt); then `BusUnavailable`.
    The operation must be safe to run again."""
    client = bus_connection()
    started = time.monotonic()
    retry_seconds = settings.MESSAGING_PUBLISH_RETRY_SECONDS if retry_seconds is None else retry_seconds
    try:
        return operation(client)  # the usual case, without the retry machinery's cost
    except REDIS_ERRORS as exc:
        if retry_seconds <= 0:
            raise BusUnavailable(
                f"The event bus (Redis) is unreachable: {what} failed ({exc}).", details={"attempts": 1}
            ) from exc
        logger.warning("event bus unreachable while %s (%s); retrying", what, exc)
    budget = max(0.0, retry_seconds - (time.monotonic() - started))
    retrying = Retrying(
        retry=retry_if_exception_type(REDIS_ERRORS),
        stop=stop_after_delay(budget),
        wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.1),
        before_sleep=before_sleep_log(logger, logging.WARNING),
    )
    try:
        return retrying(operation, client)
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        attempts = exc.last_attempt.attempt_number + 1
        raise BusUnavailable(
            f"The event bus (Redis) is unreachable: {what} failed after {attempts} attempts "
            f"over {retry_seconds:g} s ({cause}). Nothing was published; try again later.",
            details={"attempts": attempts},
        ) from cause


# Topics this process added to the topic set lately: publishing skips the SADD
# for them, and repeats it after a while in case Redis lost its data.
_announced: dict[tuple[str, str, str], float] = {}
TOPIC_ANNOUNCE_SECONDS = 60.0


def _topics_to_announce(topics: Iterable[str]) -> list[str]:
    now, url, prefix = time.monotonic(), bus_url(), settings.MESSAGING_KEY_PREFIX
    return [topic for topic in topics if _announced.get((url, prefix, topic), 0.0) <= now]


def _topics_announced(topics: Iterable[str]) -> None:
    until, url, prefix = time.monotonic() + TOPIC_ANNOUNCE_SECONDS, bus_url(), settings.MESSAGING_KEY_PREFIX
    for topic in topics:
        _announced[(url, prefix, topic)] = until


def _send(entries: list[tuple[Envelope, dict[bytes, bytes]]], *, what: str, retry_seconds: float | None = None) -> None:
    """XADD the entries (one round trip), adding new topics to the topic set."""
    new_topics = sorted(_topics_to_announce({envelope.topic for envelope, _ in entries}))
    maxlen = settings.MESSAGING_STREAM_MAXLEN or None

    def send(client: redis.Redis) -> None:
        if len(entries) == 1 and not new_topics:
            envelope, fields = entries[0]
            client.xadd(stream_key(envelope.topic), fields, maxlen=maxlen, approximate=True)
            return
        pipe = client.pipeline(transaction=False)
        if new_topics:
            pipe.sadd(topics_key(), *new_topics)
        for envelope, fields in entries:
            pipe.xadd(stream_key(envelope.topic), fields, maxlen=maxlen, approximate=True)
        pipe.execute()

    bus_call(send, what=what, retry_seconds=retry_seconds)
    _topics_announced(new_topics)


# -- envelopes ----------------------------------------------------------------------


def _payload_dict(payload: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    if not isinstance(payload, Mapping):
        raise AppError("The payload must be a JSON object.", code="invalid_payload")
    try:
        # What consumers receive: the JSON form (datetimes as ISO strings, ...).
        return to_jsonable_python(dict(payload))
    except PydanticSerializationError as exc:
        raise AppError(f"The payload is not JSON-serializable: {exc}", code="invalid_payload") from None


def envelope_build(
    topic: str,
    payload: Mapping[str, Any] | BaseModel,
    *,
    event_type: str | None = None,
    tenant: str | None = None,
    correlation_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    version: int = 1,
) -> Envelope:
    """The envelope for an event, its payload validated against the schema
    registered for (type, version) when there is one."""
    topic_validate(topic)
    event_type = event_type or topic
    data = payload_validate(event_type, version, _payload_dict(payload))
    return Envelope(
        type=event_type,
        version=version,
        topic=topic,
        correlation_id=correlation_id or get_guid() or uuid.uuid4().hex,
        tenant=tenant,
        payload=data,
        metadata=_payload_dict(metadata or {}),
    )


def envelope_encode(envelope: Envelope) -> dict[bytes, bytes]:
    """The stream entry for an envelope: JSON, gzip-compressed over the threshold."""
    data = envelope.model_dump_json().encode()
    limit = settings.MESSAGING_MAX_PAYLOAD_BYTES
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The event is {len(data)} bytes encoded; the bus takes at most {limit}. "
            "Send a reference to the data instead of the data.",
            details={"max_bytes": limit, "bytes": len(data)},
        )
    if len(data) > settings.MESSAGING_COMPRESS_THRESHOLD_BYTES:
        compressed = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
        if len(compressed) < len(data):
            return {FIELD_ENCODING: ENCODING_GZIP, FIELD_DATA: compressed}
    return {FIELD_ENCODING: ENCODING_JSON, FIELD_DATA: data}


def envelope_decode(fields: Mapping[bytes, bytes]) -> Envelope:
    """The envelope in a stream entry (raises ValueError if it is not one)."""
    encoding, data = fields.get(FIELD_ENCODING), fields.get(FIELD_DATA)
    if data is None:
        raise ValueError(f"not a bus entry: fields {sorted(fields)}")
    if encoding == ENCODING_GZIP:
        data = gzip.decompress(data)
    elif encoding != ENCODING_JSON:
        raise ValueError(f"unknown encoding {encoding!r}")
    return Envelope.model_validate_json(data)


# -- publishing ------------------------------------------------------------------------


def publish_message(
    topic: str,
    payload: Mapping[str, Any] | BaseModel,
    *,
    event_type: str | None = None,
    tenant: str | None = None,
    correlation_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    version: int = 1,
) -> Envelope:
    """Publish one event on `topic` and return its envelope once Redis has it.

    `event_type` defaults to the topic; `tenant` is the client's code (None
    for platform-wide events); `correlation_id` defaults to the current one
    (the request's, the task's) or a new one. Raises `InvalidTopic`,
    `PayloadInvalid` (apps.messaging.types), `PayloadTooLarge`, or
    `BusUnavailable` after the retry budget."""
    envelope = envelope_build(
        topic,
        payload,
        event_type=event_type,
        tenant=tenant,
        correlation_id=correlation_id,
        metadata=metadata,
        version=version,
    )
    _send([(envelope, envelope_encode(envelope))], what=f"publishing to {topic}")
    return envelope


def publish_command(
    command_type: str,
    payload: Mapping[str, Any] | BaseModel,
    *,
    tenant: str | None = None,
    correlation_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    version: int = 1,
) -> Envelope:
    """Publish a command on `commands.<command_type>`: one consumer group
    handles it (apps.messaging.services.command_handler)."""
    return publish_message(
        command_topic(command_type),
        payload,
        event_type=command_type,
        tenant=tenant,
        correlation_id=correlation_id,
        metadata=metadata,
        version=version,
    )


def publish_bulk(messages: Iterable[Message]) -> list[Envelope]:
    """Publish many events in one pipeline (one round trip); envelopes in order.

    Every message is validated before anything is sent. If Redis goes away
    mid-way the whole pipeline is sent again: events that made it the first
    time are then in the stream twice, and applied once."""
    envelopes: list[Envelope] = []
    entries: list[tuple[Envelope, dict[bytes, bytes]]] = []
    for message in messages:
        envelope = envelope_build(
            message.topic,
            message.payload,
            event_type=message.event_type,
            tenant=message.tenant,
            correlation_id=message.correlation_id,
            metadata=message.metadata,
            version=message.version,
        )
        envelopes.append(envelope)
        entries.append((envelope, envelope_encode(envelope)))
    if entries:
        _send(entries, what=f"publishing {len(entries)} events")
    return envelopes


def publish_on_commit(topic: str, payload: Mapping[str, Any] | BaseModel, **kwargs: Any) -> Envelope:
    """Publish an event that reports what the current transaction writes,
    through the transactional outbox (apps/messaging/outbox.py): the event is
    written in the transaction itself, so it exists if and only if the
    transaction commits, and is relayed to its stream after the commit (at
    once when Redis answers, else by the relay in `run_consumers` once it
    does). Its envelope (and event_id) is returned at once. Never raises
    because of Redis; refuses a bad topic, payload or size at once."""
    from apps.messaging.outbox import outbox_enqueue  # the outbox's model needs the app registry; the bus does not

    envelope = envelope_build(topic, payload, **kwargs)
    envelope_encode(envelope)  # refuse an oversized event now, not after the commit
    outbox_enqueue(envelope=envelope)
    return envelope


def envelopes_send(envelopes: list[Envelope], *, retry_seconds: float | None = None) -> None:
    """XADD envelopes already built (the outbox relay): one pipeline, in order."""
    if envelopes:
        entries = [(envelope, envelope_encode(envelope)) for envelope in envelopes]
        _send(entries, what=f"relaying {len(entries)} events", retry_seconds=retry_seconds)


# -- reads ----------------------------------------------------------------------------


def known_topics() -> set[str]:
    """Every topic published so far (or subscribed to by an exact handler)."""
    members = bus_call(lambda client: client.smembers(topics_key()), what="reading the topic set")
    return {m.decode() if isinstance(m, bytes) else m for m in members}

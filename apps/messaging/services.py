"""Writes of the event bus, and messaging's face for other apps.

What other apps use: publishing (`publish_message`, `publish_command`,
`publish_bulk`, `publish_on_commit`: apps/messaging/bus.py), declaring bus
handlers (`handler`, `command_handler`, in an app's `events.py`), and
registering payload schemas (`register_schema`), and POSTing to an outside
URL through the one outbound delivery path (`outbound_attempt`:
apps/messaging/outbound.py). The types they exchange
(`Envelope`, `Message`, `BusUnavailable`, ...) are in apps.messaging.types.

Messaging's own writes: applying an event in a consumer group, parking it in
the dead-letter store, replaying or discarding what was parked, and
publishing on a client's behalf (the API).

Another app's outbound jobs that fail for good are parked here too, under a
kind of their own (`dead_letter_park(kind=...)`: threshold alerts of
calculations), and replayed by a replayer their app registers at start
(`dead_letter_replayer_register`), so messaging never imports it."""

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_guid import get_guid
from psycopg import sql
from pydantic import ValidationError

from apps.core.errors import AppError, Conflict
from apps.core.selectors import client_id_for_code
from apps.messaging.bus import (
    command_topic,
    publish_bulk,
    publish_command,
    publish_message,
    publish_on_commit,
    topic_validate,
)
from apps.messaging.models import DeadLetter, ProcessedEvent
from apps.messaging.outbound import outbound_attempt, outbound_backoff_seconds, webhook_url_validate
from apps.messaging.registry import Handler, Registration, handler_register, handlers_discover, handlers_for
from apps.messaging.schemas import register_schema
from apps.messaging.types import DeadLetterKind, Envelope, ParkedItem

__all__ = [
    "ReservedTopic",
    "command_handler",
    "command_publish",
    "dead_letter_discard",
    "dead_letter_park",
    "dead_letter_replay",
    "dead_letter_replayer_register",
    "event_apply",
    "event_publish",
    "handler",
    "outbound_attempt",
    "outbound_backoff_seconds",
    "publish_bulk",
    "publish_command",
    "publish_message",
    "publish_on_commit",
    "register_schema",
    "webhook_url_validate",
]

logger = logging.getLogger(__name__)


# -- bus handlers (an app's events.py) -------------------------------------------------


def handler(topic_or_pattern: str, *, group: str) -> Callable[[Handler], Handler]:
    """Decorator: run the function for each event on the topic (or on every
    topic matching the pattern) in consumer group `group` (the rules:
    apps/messaging/registry.py)."""

    def decorate(func: Handler) -> Handler:
        handler_register(topic_or_pattern, group=group, func=func)
        return func

    return decorate


def command_handler(command_type: str, *, group: str) -> Callable[[Handler], Handler]:
    """Decorator: handle the commands of a type (`commands.<type>`) in `group`,
    the one group that may."""
    return handler(command_topic(command_type), group=group)


class ReservedTopic(AppError):
    code = "reserved_topic"


class _NotParked(Exception):
    pass


class _HandlerFailed(Exception):
    pass


@functools.cache
def _processed_insert() -> sql.Composed:
    columns = [ProcessedEvent._meta.get_field(name).column for name in ("event_id", "group", "topic", "processed_at")]
    event_id, group, topic, processed_at = (sql.Identifier(column) for column in columns)
    return sql.SQL(
        "INSERT INTO {table} ({event_id}, {group}, {topic}, {processed_at}) VALUES (%s, %s, %s, now()) "
        "ON CONFLICT ({event_id}, {group}) DO NOTHING RETURNING 1"
    ).format(
        table=sql.Identifier(ProcessedEvent._meta.db_table),
        event_id=event_id,
        group=group,
        topic=topic,
        processed_at=processed_at,
    )


def event_apply(*, envelope: Envelope, group: str, handlers: list[Registration] | None = None) -> bool:
    """Run `group`'s handlers for an event in one transaction with the record
    that the group applied it. False (and nothing run) when the group already
    applied this event_id. A concurrent apply of the same event in the same
    group waits on the unique key and then finds it applied, so each group
    applies each event at most once. A handler's exception rolls everything
    back and propagates."""
    if handlers is None:
        handlers = handlers_for(topic=envelope.topic, group=group)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_processed_insert(), [envelope.event_id, group, envelope.topic])
            if cursor.fetchone() is None:
                return False
        for registration in handlers:
            registration.func(envelope)
    return True


def _client_id(tenant: str | None) -> int | None:
    if not tenant:
        return None
    return client_id_for_code(code=tenant)


def dead_letter_park(
    *,
    topic: str,
    group: str,
    event_id: uuid.UUID,
    envelope: dict[str, Any],
    error: str,
    attempts: int,
    tenant: str | None = None,
    kind: str = DeadLetterKind.HANDLER,
    client_id: int | None = None,
    status_code: int | None = None,
) -> DeadLetter:
    """Park a message its handler kept failing on (kind handler), or another
    app's job that failed for good (its own kind, e.g. threshold_alert:
    `envelope` is what the job was, without secrets; `client_id` its tenant,
    `status_code` its last answer). One dead letter per call."""
    with transaction.atomic():
        return DeadLetter.objects.create(
            kind=kind,
            topic=topic,
            group=group,
            event_id=event_id,
            envelope=envelope,
            error=error,
            attempts=attempts,
            last_status_code=status_code,
            client_id=client_id if client_id is not None else _client_id(tenant),
        )


DeadLetterReplayer = Callable[[ParkedItem], None]
_replayers: dict[str, DeadLetterReplayer] = {}


def dead_letter_replayer_register(kind: str, replayer: DeadLetterReplayer) -> None:
    """Let the app that parks dead letters of `kind` replay them: `replayer`
    runs in the replay's transaction, with the dead letter locked, and puts
    the job back to work (enqueueing after commit); an AppError it raises
    refuses the replay (the dead letter stays parked). Registered once per
    kind, at start (the app's AppConfig.ready); a second registration replaces the first."""
    if kind not in DeadLetterKind.values or kind in (DeadLetterKind.HANDLER, DeadLetterKind.WEBHOOK):
        raise ValueError(f"Dead letters of kind {kind!r} are not replayed through a registered replayer.")
    _replayers[kind] = replayer


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def dead_letter_replay(*, dead_letter: DeadLetter, user=None) -> DeadLetter:
    """Apply a parked message again.

    Handler kind: the group's handlers run again here, in one transaction
    with the idempotency record and the dead letter's change to `replayed`,
    so the event is applied exactly once in that group and no other group
    sees it again (re-publishing would reach every group). If the group has
    applied the event meanwhile, nothing runs and the dead letter is marked
    replayed. If the handler fails again, the dead letter stays parked with
    the new error and attempt count, and `AppError(code="replay_failed")` is
    raised.

    Webhook kind: apps.messaging.webhooks.webhook_redeliver does the work.

    Another app's kind (threshold_alert): the replayer its app registered puts
    the job back to work (a threshold alert: pending again with a fresh
    budget, its send task queued after commit), in one transaction with the
    dead letter's change to `replayed`. If the job fails for good again, it
    is parked anew (a new dead letter)."""
    if dead_letter.status != DeadLetter.Status.PARKED:
        raise Conflict(
            f"Dead letter {dead_letter.pk} is {dead_letter.status}; only parked messages can be replayed.",
            code="not_parked",
        )
    if dead_letter.kind == DeadLetter.Kind.WEBHOOK:
        return _webhook_replay(dead_letter=dead_letter, user=user)
    if dead_letter.kind != DeadLetter.Kind.HANDLER:
        return _registered_replay(dead_letter=dead_letter, user=user)

    handlers_discover()
    try:
        envelope = Envelope.model_validate(dead_letter.envelope)
    except ValidationError:
        raise Conflict(
            f"Dead letter {dead_letter.pk} holds no valid event (it was undecodable on the stream); "
            "there is nothing to replay. Discard it.",
            code="not_replayable",
        ) from None
    handlers = handlers_for(topic=envelope.topic, group=dead_letter.group)
    if not handlers:
        raise Conflict(
            f"No handler of the group {dead_letter.group!r} takes {envelope.topic!r} any more; "
            "discard the message or deploy its handler.",
            code="no_handler",
        )
    try:
        with transaction.atomic():
            parked = DeadLetter.objects.select_for_update().get(pk=dead_letter.pk)
            if parked.status != DeadLetter.Status.PARKED:
                raise _NotParked(parked.status)
            try:
                applied = event_apply(envelope=envelope, group=parked.group, handlers=handlers)
            except Exception as exc:
                raise _HandlerFailed from exc
            parked.status = DeadLetter.Status.REPLAYED
            parked.replayed_at = timezone.now()
            parked.replay_count += 1
            parked.save(update_fields=["status", "replayed_at", "replay_count", "updated_at"])
    except _NotParked as exc:
        raise Conflict(f"Dead letter {dead_letter.pk} is {exc.args[0]} already.", code="not_parked") from None
    except _HandlerFailed as failure:
        exc = failure.__cause__
        DeadLetter.objects.filter(pk=dead_letter.pk).update(
            error=_error_text(exc), attempts=dead_letter.attempts + 1, updated_at=timezone.now()
        )
        dead_letter.refresh_from_db()
        logger.warning(
            "replay of dead letter %s failed", dead_letter.pk, extra={"event_id": str(envelope.event_id)}, exc_info=exc
        )
        raise AppError(
            f"The handler failed again: {_error_text(exc)}. The message stays parked.",
            code="replay_failed",
            details={"dead_letter": dead_letter.pk, "attempts": dead_letter.attempts},
            status_code=409,
        ) from exc
    logger.info(
        "dead letter %s replayed (%s)",
        parked.pk,
        "applied" if applied else "already applied",
        extra={"event_id": str(envelope.event_id), "group": parked.group, "user": getattr(user, "pk", None)},
    )
    return parked


def _webhook_replay(*, dead_letter: DeadLetter, user) -> DeadLetter:
    from apps.messaging.webhooks import webhook_redeliver  # built beside the bus; imported when first needed

    webhook_redeliver(dead_letter=dead_letter)
    dead_letter.refresh_from_db()
    if dead_letter.status == DeadLetter.Status.PARKED:
        # The redeliverer did not settle it itself: it returned without raising, so it took it.
        DeadLetter.objects.filter(pk=dead_letter.pk, status=DeadLetter.Status.PARKED).update(
            status=DeadLetter.Status.REPLAYED,
            replayed_at=timezone.now(),
            replay_count=dead_letter.replay_count + 1,
            updated_at=timezone.now(),
        )
        dead_letter.refresh_from_db()
    logger.info("webhook dead letter %s redelivered", dead_letter.pk, extra={"user": getattr(user, "pk", None)})
    return dead_letter


def _registered_replay(*, dead_letter: DeadLetter, user) -> DeadLetter:
    replayer = _replayers.get(dead_letter.kind)
    if replayer is None:
        raise Conflict(
            f"Nothing replays dead letters of kind {dead_letter.kind!r} here; discard the message.",
            code="not_replayable",
        )
    with transaction.atomic():
        parked = DeadLetter.objects.select_for_update().get(pk=dead_letter.pk)
        if parked.status != DeadLetter.Status.PARKED:
            raise Conflict(f"Dead letter {parked.pk} is {parked.status} already.", code="not_parked")
        replayer(
            ParkedItem(
                id=parked.pk,
                kind=parked.kind,
                topic=parked.topic,
                group=parked.group,
                event_id=parked.event_id,
                record=parked.envelope,
                client_id=parked.client_id,
                attempts=parked.attempts,
            )
        )
        parked.status = DeadLetter.Status.REPLAYED
        parked.replayed_at = timezone.now()
        parked.replay_count += 1
        parked.save(update_fields=["status", "replayed_at", "replay_count", "updated_at"])
    logger.info("%s dead letter %s replayed", parked.kind, parked.pk, extra={"user": getattr(user, "pk", None)})
    return parked


def dead_letter_discard(*, dead_letter: DeadLetter, user=None) -> DeadLetter:
    """Give up on a parked message for good (it stays listed, as discarded)."""
    with transaction.atomic():
        parked = DeadLetter.objects.select_for_update().get(pk=dead_letter.pk)
        if parked.status == DeadLetter.Status.DISCARDED:
            return parked
        if parked.status != DeadLetter.Status.PARKED:
            raise Conflict(f"Dead letter {parked.pk} was replayed; there is nothing to discard.", code="not_parked")
        parked.status = DeadLetter.Status.DISCARDED
        parked.save(update_fields=["status", "updated_at"])
    logger.info("dead letter %s discarded", parked.pk, extra={"user": getattr(user, "pk", None)})
    return parked


# -- publishing for a client (the API) ------------------------------------------------


def _reserved_prefixes() -> list[str]:
    return [p.rstrip(".") for p in settings.MESSAGING_RESERVED_TOPIC_PREFIXES if p]


def _api_metadata(metadata: dict[str, Any] | None, user) -> dict[str, Any]:
    data = dict(metadata or {})
    data["source"] = "api"
    if getattr(user, "is_authenticated", False):
        data["published_by"] = user.get_username()
    return data


def event_publish(
    *,
    client_code: str,
    topic: str,
    event_type: str,
    payload: dict[str, Any],
    version: int = 1,
    metadata: dict[str, Any] | None = None,
    user=None,
) -> Envelope:
    """Publish an event for a client: the tenant is the client, and topics
    under MESSAGING_RESERVED_TOPIC_PREFIXES (commands, archival, ...) are the
    platform's own."""
    topic_validate(topic)
    for prefix in _reserved_prefixes():
        if topic == prefix or topic.startswith(prefix + "."):
            raise ReservedTopic(
                f"Topics under '{prefix}.' are published by the platform only; choose another topic.",
                details={"topic": topic, "reserved": _reserved_prefixes()},
            )
    return publish_message(
        topic,
        payload,
        event_type=event_type,
        tenant=client_code,
        correlation_id=get_guid(),
        metadata=_api_metadata(metadata, user),
        version=version,
    )


def command_publish(
    *,
    client_code: str,
    command_type: str,
    payload: dict[str, Any],
    version: int = 1,
    metadata: dict[str, Any] | None = None,
    user=None,
) -> Envelope:
    """Publish a command for a client on `commands.<type>`."""
    command_topic(command_type)
    return publish_command(
        command_type,
        payload,
        tenant=client_code,
        correlation_id=get_guid(),
        metadata=_api_metadata(metadata, user),
        version=version,
    )

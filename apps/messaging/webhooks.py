"""Webhook subscriptions: a client asks for the events whose topic matches a
pattern to be POSTed, signed, to a URL (docs/webhooks.md).

- services: `subscription_create|update|delete` (the URL rule and the pattern
  are checked here; the secret is generated when not given, shown once, stored
  encrypted), `subscription_secrets_rotate` (after a new encryption key);
- reads: `subscription_list|get`, `webhook_delivery_list`;
- the dispatch: `webhook_deliveries_create` records one `WebhookDelivery`
  per matching subscription of the event's tenant and, once the handler's
  transaction commits, queues the Celery task `messaging.webhook_deliver` for
  it (its bus handler, `webhook_dispatch` on every topic in the group
  `webhooks`, is in events.py);
- `webhook_redeliver`: the dead-letter replay of a webhook delivery.

Delivery rows and their attempts live in webhook_delivery.py; sending, signing,
retries and the circuit breaker in outbound.py.
"""

import math
import re
import secrets
import uuid
from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.core.crypto import secret_decrypt, secret_encrypt
from apps.core.errors import AppError, Conflict, NotFound
from apps.core.secret_fields import secret_fields, secrets_rotate_field
from apps.core.transactions import after_commit
from apps.messaging.models import DeadLetter, Subscription, WebhookDelivery
from apps.messaging.outbound import webhook_signature_verify, webhook_url_validate
from apps.messaging.tasks import webhook_deliver
from apps.messaging.types import DeliveryOutcome, Envelope
from apps.messaging.webhook_delivery import SECRET_PURPOSE, webhook_delivery_attempt, webhook_delivery_reset

__all__ = [
    "SubscriptionCreated",
    "subscription_create",
    "subscription_delete",
    "subscription_get",
    "subscription_list",
    "subscription_secrets_rotate",
    "subscription_update",
    "topic_pattern_validate",
    "webhook_deliveries_create",
    "webhook_delivery_list",
    "webhook_redeliver",
    "webhook_signature_verify",
    "webhook_url_validate",
]

_PATTERN_RE = re.compile(r"^[a-z0-9_.*?!\[\]-]+$")
_COMMAND_PREFIX = "commands."
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret
SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 200


# --- Input rules -----------------------------------------------------------------------


def topic_pattern_validate(pattern: str) -> str:
    """An fnmatch-style topic pattern (`metric.*`, `ingestion.completed`,
    `archival.*`); commands are not for webhooks."""
    pattern = pattern.strip() if isinstance(pattern, str) else ""
    if not pattern:
        message = "The topic pattern is empty."
        raise AppError(message, code="invalid_topic_pattern", details={"topic_pattern": [message]})
    if len(pattern) > 200:
        message = "The topic pattern is longer than 200 characters."
        raise AppError(message, code="invalid_topic_pattern", details={"topic_pattern": [message]})
    if not _PATTERN_RE.match(pattern):
        message = (
            f"The topic pattern {pattern!r} may use lower-case letters, digits, '.', '_', '-' and the "
            "wildcards '*', '?', '[...]' only (topics are lower case)."
        )
        raise AppError(message, code="invalid_topic_pattern", details={"topic_pattern": [message]})
    if pattern.startswith(_COMMAND_PREFIX):
        message = "Commands (topics 'commands.*') are handled by the platform and are not delivered to webhooks."
        raise AppError(message, code="invalid_topic_pattern", details={"topic_pattern": [message]})
    return pattern


def _secret_validate(secret: str) -> str:
    length_ok = isinstance(secret, str) and SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH
    if not length_ok or secret != secret.strip():
        message = (
            f"The secret must be {SECRET_MIN_LENGTH} to {SECRET_MAX_LENGTH} characters without leading or "
            "trailing spaces; leave it out to have one generated."
        )
        raise AppError(message, code="invalid_secret", details={"secret": [message]})
    return secret


def _secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- Services --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionCreated:
    subscription: Subscription
    secret: str  # in clear: shown to the caller once, never again


def _duplicate_check(*, client_id: int, topic_pattern: str, webhook_url: str, exclude_id=None) -> None:
    duplicates = Subscription.objects.filter(client_id=client_id, topic_pattern=topic_pattern, webhook_url=webhook_url)
    if exclude_id is not None:
        duplicates = duplicates.exclude(pk=exclude_id)
    if duplicates.exists():
        raise Conflict(
            f"This client already sends {topic_pattern!r} to {webhook_url}; every event would arrive twice.",
            code="duplicate_subscription",
        )


@transaction.atomic
def subscription_create(
    *,
    client_id: int,
    topic_pattern: str,
    webhook_url: str,
    secret: str | None = None,
    active: bool = True,
    description: str = "",
    user=None,
) -> SubscriptionCreated:
    topic_pattern = topic_pattern_validate(topic_pattern)
    webhook_url = webhook_url_validate(webhook_url)
    secret = _secret_validate(secret) if secret else _secret_generate()
    _duplicate_check(client_id=client_id, topic_pattern=topic_pattern, webhook_url=webhook_url)
    subscription = Subscription.objects.create(
        client_id=client_id,
        topic_pattern=topic_pattern,
        webhook_url=webhook_url,
        secret_encrypted=secret_encrypt(secret, purpose=SECRET_PURPOSE),
        active=active,
        description=description or "",
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return SubscriptionCreated(subscription=subscription, secret=secret)


@transaction.atomic
def subscription_update(
    *,
    subscription: Subscription,
    topic_pattern: str | None = None,
    webhook_url: str | None = None,
    secret: str | None = None,
    active: bool | None = None,
    description: str | None = None,
) -> Subscription:
    """Change what is given (None leaves a field as it is). A new secret
    applies to deliveries attempted from now on, retries included."""
    if topic_pattern is not None:
        subscription.topic_pattern = topic_pattern_validate(topic_pattern)
    if webhook_url is not None:
        subscription.webhook_url = webhook_url_validate(webhook_url)
    if secret is not None:
        subscription.secret_encrypted = secret_encrypt(_secret_validate(secret), purpose=SECRET_PURPOSE)
    if active is not None:
        subscription.active = active
    if description is not None:
        subscription.description = description
    _duplicate_check(
        client_id=subscription.client_id,
        topic_pattern=subscription.topic_pattern,
        webhook_url=subscription.webhook_url,
        exclude_id=subscription.pk,
    )
    subscription.save()
    return subscription


@transaction.atomic
def subscription_delete(*, subscription: Subscription) -> None:
    """Unsubscribe: the subscription goes, with its delivery log and its
    parked dead letters; deliveries still queued find nothing and stop."""
    subscription.delete()


def subscription_secrets_rotate() -> int:
    """Rewrap every subscription secret under the newest key of AE_SECRET_KEKS
    (`manage.py secrets_rotate` does this for every stored secret); the number
    rotated."""
    (entry,) = [f for f in secret_fields() if f.model == "messaging.Subscription"]
    count = secrets_rotate_field(entry)
    return count.rewrapped + count.reencrypted


def subscription_secret(*, subscription: Subscription) -> str:
    """The secret in clear, for an operator who lost it (not exposed by the API)."""
    return secret_decrypt(subscription.secret_encrypted, purpose=SECRET_PURPOSE)


# --- Reads -----------------------------------------------------------------------------


def subscription_list(*, client_id: int) -> QuerySet[Subscription]:
    return Subscription.objects.filter(client_id=client_id).select_related("created_by").order_by("-created_at")


def subscription_get(*, client_id: int, subscription_id) -> Subscription:
    """One of the client's subscriptions; another client's is not found."""
    try:
        pk = uuid.UUID(str(subscription_id))
    except ValueError:
        pk = None
    subscription = subscription_list(client_id=client_id).filter(pk=pk).first() if pk else None
    if subscription is None:
        raise NotFound(f"No webhook subscription {subscription_id}.")
    return subscription


def webhook_delivery_list(*, subscription: Subscription, status: str | None = None) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(subscription=subscription).order_by("-created_at", "-pk")
    if status:
        if status not in WebhookDelivery.Status.values:
            message = f"Unknown delivery status {status!r}; use one of {', '.join(WebhookDelivery.Status.values)}."
            raise AppError(message, code="invalid", details={"status": [message]})
        deliveries = deliveries.filter(status=status)
    return deliveries


# --- Dispatch --------------------------------------------------------------------------


def webhook_deliveries_create(*, envelope: Envelope) -> list[int]:
    """One pending delivery per active subscription of the event's tenant whose
    pattern matches the topic, each queued for sending when the surrounding
    transaction commits (a rolled-back handler sends nothing). Seeing the same
    event again adds nothing. Platform events (no tenant) and commands are not
    delivered to webhooks."""
    if not envelope.tenant or envelope.topic.startswith(_COMMAND_PREFIX):
        return []
    subscriptions = Subscription.objects.filter(client__code=envelope.tenant, active=True)
    body = envelope.model_dump(mode="json")
    created: list[int] = []
    for subscription in subscriptions:
        if not fnmatchcase(envelope.topic, subscription.topic_pattern):
            continue
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    subscription=subscription, event_id=envelope.event_id, topic=envelope.topic, envelope=body
                )
        except IntegrityError:  # already recorded for this event
            continue
        # robust: the event is committed as applied whatever happens here; a failed enqueue is
        # logged (and the delivery stays pending) rather than raised at the consumer.
        after_commit(webhook_deliver.delay, delivery.pk)
        created.append(delivery.pk)
    return created


def webhook_redeliver(*, dead_letter: DeadLetter) -> DeliveryOutcome:
    """Replay a parked webhook delivery (the DLQ replay of kind webhook): a
    fresh retry budget and one attempt now.

    Delivered: the dead letter is marked replayed. Not delivered: the usual
    retries follow with the fresh budget (queued after commit), the dead
    letter stays parked (brought up to date) until one of them gets through,
    and `AppError(code="replay_failed", status 409)` says so. An event the
    subscriber already has is not sent again."""
    if dead_letter.kind != DeadLetter.Kind.WEBHOOK or dead_letter.subscription_id is None:
        raise AppError("This dead letter is not a webhook delivery.", code="not_a_webhook")
    if dead_letter.status != DeadLetter.Status.PARKED:
        raise Conflict(f"This dead letter is {dead_letter.status}, not parked.", code="not_parked")
    subscription = dead_letter.subscription
    if not subscription.active:
        raise Conflict("The subscription is inactive; activate it before replaying its deliveries.", code="inactive")
    with transaction.atomic():
        delivery, _ = WebhookDelivery.objects.select_for_update().get_or_create(
            subscription=subscription,
            event_id=dead_letter.event_id,
            defaults={"topic": dead_letter.topic, "envelope": dead_letter.envelope},
        )
        if delivery.status == WebhookDelivery.Status.DELIVERED:
            # A retry got through after all: the subscriber has the event; close the dead letter.
            now = timezone.now()
            DeadLetter.objects.filter(pk=dead_letter.pk).update(
                status=DeadLetter.Status.REPLAYED, replayed_at=now, replay_count=F("replay_count") + 1, updated_at=now
            )
            dead_letter.refresh_from_db()
            return DeliveryOutcome("delivered", status_code=delivery.last_status_code)
        if delivery.status == WebhookDelivery.Status.PENDING:
            raise Conflict(
                "This event is already being retried for this subscription.",
                code="in_progress",
                retry_after=_seconds_until(delivery.next_attempt_at),
            )
        webhook_delivery_reset(delivery=delivery, envelope=dead_letter.envelope)
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    dead_letter.refresh_from_db()
    if outcome.status == "delivered":
        return outcome
    if outcome.retry_in is not None:
        after_commit(webhook_deliver.apply_async, (delivery.pk,), countdown=outcome.retry_in)
        then = "Retries continue; the dead letter is closed when one gets through."
    else:
        then = "The delivery stays parked."
    raise AppError(
        f"The webhook did not accept the event: {outcome.error} {then}",
        code="replay_failed",
        details={"dead_letter": dead_letter.pk, "delivery": delivery.pk, "status_code": outcome.status_code},
        status_code=409,
        # Retries continue: the next one says whether it got through.
        retry_after=None if outcome.retry_in is None else max(1, math.ceil(outcome.retry_in)),
    )


def _seconds_until(moment) -> int:
    """Whole seconds from now to `moment`, at least 1 (a Retry-After)."""
    return max(1, math.ceil((moment - timezone.now()).total_seconds()))

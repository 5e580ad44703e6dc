"""Sending one event to one webhook subscription (docs/webhooks.md): the
delivery rows, their attempts through messaging's one outbound delivery
(outbound.py: destination rules, signature, circuit breaker, retries), and
parking in the dead-letter store when the attempts are spent.

- Attempts: 2xx is delivered; anything else is retried with exponential
  backoff and full jitter up to MESSAGING_WEBHOOK_MAX_ATTEMPTS, then the
  delivery is parked in the dead-letter store.
- Lost tasks: every delivery records when its next attempt is due; a pending
  one more than MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS past it lost its task
  (the enqueue failed as the event committed, Redis was away) and is queued
  again by `messaging.webhook_deliveries_resume` (beat, every 5 minutes).
"""

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.crypto import secret_decrypt
from apps.core.secret_fields import secret_purpose
from apps.messaging.models import DeadLetter, WebhookDelivery
from apps.messaging.outbound import outbound_attempt, outbound_backoff_seconds
from apps.messaging.types import DeliveryOutcome, OutboundPolicy

# The associated data of a subscription's encrypted secret (registered in apps.py for `secrets_rotate`).
SECRET_PURPOSE = secret_purpose(model="messaging.Subscription", field="secret_encrypted")

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
USER_AGENT = "AnalyticsEngine-Webhooks/1.0"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ERROR_BODY_BYTES = 500


def webhook_backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempts-1))]."""
    return outbound_backoff_seconds(
        attempts,
        base=settings.MESSAGING_WEBHOOK_BACKOFF_BASE_SECONDS,
        maximum=settings.MESSAGING_WEBHOOK_BACKOFF_MAX_SECONDS,
    )


def webhook_body(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


# --- Webhook deliveries ----------------------------------------------------------------


def _park(delivery: WebhookDelivery, error: str) -> DeliveryOutcome:
    """Out of retries (or undeliverable): the delivery fails and the event is
    parked in the dead-letter store, where a replay can send it again."""
    delivery.status = WebhookDelivery.Status.FAILED
    delivery.last_error = error
    delivery.save(update_fields=["status", "last_error", "attempts", "last_status_code", "updated_at"])
    subscription = delivery.subscription
    parked = DeadLetter.objects.filter(
        kind=DeadLetter.Kind.WEBHOOK,
        subscription=subscription,
        event_id=delivery.event_id,
        status=DeadLetter.Status.PARKED,
    ).first()
    if parked is None:
        DeadLetter.objects.create(
            kind=DeadLetter.Kind.WEBHOOK,
            topic=delivery.topic,
            group="webhooks",
            subscription=subscription,
            event_id=delivery.event_id,
            envelope=delivery.envelope,
            error=error,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            client_id=subscription.client_id,
        )
    else:  # a replay that failed again: the same dead letter, brought up to date
        parked.error, parked.attempts, parked.last_status_code = error, delivery.attempts, delivery.last_status_code
        parked.save(update_fields=["error", "attempts", "last_status_code", "updated_at"])
    logger.warning(
        "webhook delivery parked in the dead-letter store",
        extra={"delivery_id": delivery.pk, "event_id": str(delivery.event_id), "error": error},
    )
    return DeliveryOutcome("failed", status_code=delivery.last_status_code, error=error)


class _WebhookJob:
    """A pending `WebhookDelivery` as an outbound job: signed with its
    subscription's secret; failing for good parks the event in the dead-letter
    store."""

    def __init__(self, delivery: WebhookDelivery) -> None:
        self.delivery = delivery

    @property
    def attempts(self) -> int:
        return self.delivery.attempts

    @attempts.setter
    def attempts(self, value: int) -> None:
        self.delivery.attempts = value

    @property
    def idle_since(self) -> datetime:
        return self.delivery.updated_at

    def refusal(self) -> str | None:
        if not self.delivery.subscription.active:
            return "The subscription was deactivated before this event could be delivered."
        return None

    def url(self) -> str:
        return self.delivery.subscription.webhook_url

    def secret(self) -> str:
        return secret_decrypt(self.delivery.subscription.secret_encrypted, purpose=SECRET_PURPOSE)

    def body(self) -> bytes:
        return webhook_body(self.delivery.envelope)

    def headers(self) -> dict[str, str]:
        return {"X-AE-Event-Id": str(self.delivery.event_id), "X-AE-Attempt": str(self.delivery.attempts + 1)}

    def delivered(self, status_code: int) -> DeliveryOutcome:
        delivery, now = self.delivery, timezone.now()
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.last_status_code, delivery.last_error, delivery.delivered_at = status_code, "", now
        delivery.save(
            update_fields=["attempts", "status", "last_status_code", "last_error", "delivered_at", "updated_at"]
        )
        # A replayed delivery that got through (now or on a later retry) closes its dead letter.
        DeadLetter.objects.filter(
            kind=DeadLetter.Kind.WEBHOOK,
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            status=DeadLetter.Status.PARKED,
        ).update(status=DeadLetter.Status.REPLAYED, replayed_at=now, replay_count=F("replay_count") + 1, updated_at=now)
        return DeliveryOutcome("delivered", status_code=status_code)

    def retry(self, error: str, status_code: int | None, retry_in: float) -> DeliveryOutcome:
        delivery = self.delivery
        delivery.last_status_code, delivery.last_error = status_code, error
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
        delivery.save(update_fields=["attempts", "last_status_code", "last_error", "next_attempt_at", "updated_at"])
        return DeliveryOutcome("retry", retry_in=retry_in, status_code=status_code, error=error)

    def failed(self, error: str, status_code: int | None, *, answered: bool) -> DeliveryOutcome:
        if answered:
            self.delivery.last_status_code = status_code
        return _park(self.delivery, error)

    def postponed(self, origin: str, retry_in: float) -> DeliveryOutcome:
        # An update, not save(): `updated_at` must keep measuring the postponement.
        WebhookDelivery.objects.filter(pk=self.delivery.pk).update(
            next_attempt_at=timezone.now() + timedelta(seconds=retry_in)
        )
        return DeliveryOutcome("postponed", retry_in=retry_in, error=f"Circuit to {origin} is open.")


def _webhook_policy() -> OutboundPolicy:
    return OutboundPolicy(
        user_agent=USER_AGENT,
        max_attempts=settings.MESSAGING_WEBHOOK_MAX_ATTEMPTS,
        backoff=webhook_backoff_seconds,
        postpone_max_seconds=settings.MESSAGING_WEBHOOK_POSTPONE_MAX_SECONDS,
    )


def webhook_delivery_attempt(*, delivery_id: int) -> DeliveryOutcome:
    """One attempt at a pending delivery. The row is locked for the attempt,
    so two workers never send the same delivery at once (the second skips)."""

    def claim() -> _WebhookJob | None:
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None
        return _WebhookJob(delivery)

    return outbound_attempt(claim=claim, policy=_webhook_policy())


def webhook_delivery_reset(*, delivery: WebhookDelivery, envelope: dict) -> WebhookDelivery:
    """Make a delivery pending again with a fresh retry budget (a replay)."""
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.attempts = 0
    delivery.last_error = ""
    delivery.last_status_code = None
    delivery.delivered_at = None
    delivery.envelope = envelope
    delivery.next_attempt_at = timezone.now()
    delivery.save()
    return delivery


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is more than
    MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS overdue: their task was lost (the
    enqueue failed when the event committed, the broker lost it). Claimed
    (their next attempt moved to now) under a row lock, so two sweeps never
    queue the same delivery twice; the caller queues them after commit."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=overdue)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
    return ids

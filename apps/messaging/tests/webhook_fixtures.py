"""Helpers of the webhook tests (events, subscriptions, a recorded delivery
whose task did not run) and the settings the `webhook_settings` fixture
(conftest.py) applies."""

from apps.messaging.models import WebhookDelivery
from apps.messaging.types import Envelope
from apps.messaging.webhooks import subscription_create, webhook_deliveries_create

MAX_ATTEMPTS = 4
BACKOFF_BASE = 1.0
BACKOFF_MAX = 3.0


def event_make(tenant: str | None, topic: str = "metric.calculated", **payload) -> Envelope:
    return Envelope(
        type=topic, topic=topic, tenant=tenant, correlation_id="corr-1", payload=payload or {"metric": "retention"}
    )


def subscribe(client, url, pattern="metric.*", secret=None):
    created = subscription_create(client_id=client.pk, topic_pattern=pattern, webhook_url=url, secret=secret)
    return created.subscription, created.secret


def pending_delivery(envelope: Envelope, django_capture_on_commit_callbacks) -> WebhookDelivery:
    """A delivery recorded by the dispatcher, not yet sent (its task is not run)."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        (delivery_id,) = webhook_deliveries_create(envelope=envelope)
    assert len(queued) == 1
    return WebhookDelivery.objects.get(pk=delivery_id)

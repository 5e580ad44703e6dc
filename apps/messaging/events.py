"""Messaging's own bus handlers (what apps.messaging.registry.handlers_discover
imports, as every app's events.py)."""

from apps.messaging.services import handler
from apps.messaging.types import Envelope
from apps.messaging.webhooks import webhook_deliveries_create


@handler("*", group="webhooks")
def webhook_dispatch(envelope: Envelope) -> None:
    """Bus handler: every event, matched against the webhook subscriptions."""
    webhook_deliveries_create(envelope=envelope)

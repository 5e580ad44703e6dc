"""Background work of the messaging app. Tasks take ids, call a service, and
keep their retry policy here."""

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import RedisError

from apps.messaging.webhook_delivery import webhook_deliveries_due, webhook_delivery_attempt


@shared_task(
    bind=True,
    name="messaging.webhook_deliver",
    acks_late=True,
    max_retries=None,  # the delivery's own budget (MESSAGING_WEBHOOK_MAX_ATTEMPTS) decides when to stop
    autoretry_for=(OperationalError, RedisError),  # our database or Redis away: try again, no attempt spent
    retry_backoff=True,
    retry_backoff_max=600,
)
def webhook_deliver(self, delivery_id: int) -> str:
    """One attempt at a webhook delivery; retried after the backoff (or, while
    the destination's circuit is open, postponed) until it is delivered or
    parked in the dead-letter store."""
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="messaging.webhook_deliveries_resume")
def webhook_deliveries_resume() -> dict:
    """Every few minutes (beat): queue again the pending deliveries whose task
    was lost (webhook_deliveries_due)."""
    ids = webhook_deliveries_due()
    for delivery_id in ids:
        webhook_deliver.delay(delivery_id)
    return {"queued": ids}

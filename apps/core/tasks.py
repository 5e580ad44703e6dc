"""Background work of the core app."""

from celery import shared_task

from apps.core.services import tokens_flush_expired


@shared_task(name="core.tokens_flush_expired", acks_late=True)
def tokens_flush_expired_task() -> int:
    """Expired refresh tokens leave the outstanding list and the deny list
    (they are refused for their expiry anyway)."""
    return tokens_flush_expired()

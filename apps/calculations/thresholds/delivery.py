"""Sending a fired threshold alert: one POST of `{"text": ...}` to the rule's
Slack-style incoming webhook, through messaging's outbound delivery (the
destination checked against the private-address rule at every attempt, the
destination's shared circuit breaker, backoff). Unsigned: Slack-style hooks
authenticate by their secret URL, stored encrypted. 2xx is sent; connection
errors, 5xx, 408 and 429 are retried with backoff (at least the answer's
Retry-After) up to AE_THRESHOLD_ALERT_MAX_ATTEMPTS; other answers fail at
once, as a bad URL or payload will not heal. A failed alert keeps its error
on the `ThresholdAlert` (the rule's alert log) and is parked in messaging's
dead-letter store too (kind threshold_alert, the client's), in the same
transaction, like a webhook delivery: replaying it there queues it again
(`threshold_alert_replay` in services.py, the replayer calculations
registers at start)."""

import json
import logging
from datetime import datetime
from functools import partial

from django.conf import settings
from django.utils import timezone

from apps.calculations.models import ThresholdAlert
from apps.calculations.types import METRIC_CALCULATED
from apps.core.crypto import secret_decrypt
from apps.core.secret_fields import secret_purpose
from apps.messaging.services import dead_letter_park, outbound_attempt, outbound_backoff_seconds
from apps.messaging.types import DeadLetterKind, DeliveryOutcome, OutboundPolicy

# The associated data of a rule's encrypted webhook URL (registered in apps.py for `secrets_rotate`).
WEBHOOK_URL_PURPOSE = secret_purpose(model="calculations.ThresholdRule", field="webhook_url_encrypted")

logger = logging.getLogger(__name__)

USER_AGENT = "AnalyticsEngine-Alerts/1.0"
_FINAL_FIELDS = ["status", "last_error", "last_status_code", "sent_at", "attempts", "updated_at"]
DEAD_LETTER_GROUP = "calculations.thresholds"  # the consumer group that fired the alert


def alert_record(alert: ThresholdAlert) -> dict:
    """What a parked alert shows in the dead-letter store (its `envelope`):
    never the webhook URL, which is the destination's secret."""
    rule = alert.rule
    return {
        "alert_id": alert.pk,
        "rule_id": rule.pk,
        "rule": rule.name,
        "metric": alert.metric_code,
        "dims": alert.dims,
        "bucket": alert.bucket.isoformat() if alert.bucket else None,
        "value": alert.value,
        "text": alert.text,
        "webhook_host": rule.webhook_host,
    }


def _park(alert: ThresholdAlert) -> None:
    dead_letter_park(
        kind=DeadLetterKind.THRESHOLD_ALERT,
        topic=METRIC_CALCULATED,
        group=DEAD_LETTER_GROUP,
        event_id=alert.event_id,
        envelope=alert_record(alert),
        error=alert.last_error,
        attempts=alert.attempts,
        status_code=alert.last_status_code,
        client_id=alert.rule.client_id,
    )


class _AlertJob:
    """A pending `ThresholdAlert` as an outbound job (see messaging's `OutboundJob`)."""

    def __init__(self, alert: ThresholdAlert) -> None:
        self.alert = alert

    @property
    def attempts(self) -> int:
        return self.alert.attempts

    @attempts.setter
    def attempts(self, value: int) -> None:
        self.alert.attempts = value

    @property
    def idle_since(self) -> datetime:
        return self.alert.updated_at

    def refusal(self) -> None:
        return None

    def url(self) -> str:
        return secret_decrypt(self.alert.rule.webhook_url_encrypted, purpose=WEBHOOK_URL_PURPOSE)

    def secret(self) -> None:
        return None

    def body(self) -> bytes:
        return json.dumps({"text": self.alert.text}, ensure_ascii=False).encode()

    def headers(self) -> dict[str, str]:
        return {}

    def _finish(self, status: str, error: str, status_code: int | None) -> DeliveryOutcome:
        alert = self.alert
        alert.status, alert.last_error, alert.last_status_code = status, error, status_code
        if status == ThresholdAlert.Status.SENT:
            alert.sent_at = timezone.now()
        alert.save(update_fields=_FINAL_FIELDS)
        return DeliveryOutcome(status, status_code=status_code, error=error)

    def delivered(self, status_code: int) -> DeliveryOutcome:
        return self._finish(ThresholdAlert.Status.SENT, "", status_code)

    def failed(self, error: str, status_code: int | None, *, answered: bool) -> DeliveryOutcome:
        logger.warning("threshold alert %s not sent: %s", self.alert.pk, error)
        outcome = self._finish(ThresholdAlert.Status.FAILED, error, status_code)
        _park(self.alert)  # in the attempt's transaction: failed and parked, or neither
        return outcome

    def retry(self, error: str, status_code: int | None, retry_in: float) -> DeliveryOutcome:
        alert = self.alert
        alert.last_error, alert.last_status_code = error, status_code
        alert.save(update_fields=["last_error", "last_status_code", "attempts", "updated_at"])
        return DeliveryOutcome("retry", retry_in=retry_in, status_code=status_code, error=error)

    def postponed(self, origin: str, retry_in: float) -> DeliveryOutcome:
        self.alert.save(update_fields=["updated_at"])
        return DeliveryOutcome("retry", retry_in=retry_in, error=f"Circuit to {origin} is open.")


def _policy() -> OutboundPolicy:
    return OutboundPolicy(
        user_agent=USER_AGENT,
        max_attempts=settings.AE_THRESHOLD_ALERT_MAX_ATTEMPTS,
        backoff=partial(
            outbound_backoff_seconds,
            base=settings.AE_THRESHOLD_ALERT_BACKOFF_BASE_SECONDS,
            maximum=settings.AE_THRESHOLD_ALERT_BACKOFF_MAX_SECONDS,
            floor=0.5,
        ),
        retry_client_errors=False,
        honour_retry_after=True,
    )


def threshold_alert_attempt(*, alert_id: int) -> DeliveryOutcome:
    """One attempt at sending a pending alert (sent | retry | failed |
    skipped); the row is locked meanwhile, so two workers never send the same
    alert."""

    def claim() -> _AlertJob | None:
        alert = (
            ThresholdAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("rule")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None or alert.status != ThresholdAlert.Status.PENDING:
            return None
        return _AlertJob(alert)

    return outbound_attempt(claim=claim, policy=_policy())

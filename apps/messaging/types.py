"""What the messaging face exchanges with other apps: the shape of every
event on the bus (`Envelope`, ARCHITECTURE.md, section 6), one event of a
bulk publish (`Message`), the errors publishing raises, and outbound
delivery's terms: `outbound_attempt` (outbound.py) POSTs one body to
one URL for an `OutboundJob` (a webhook delivery of an event, a threshold
alert of calculations) under an `OutboundPolicy`, and says what came of it in
a `DeliveryOutcome`. A job that fails for good is parked in the dead-letter
store under its `DeadLetterKind`; a kind's owner replays it through a replayer
it registers (`dead_letter_replayer_register`), which is handed the parked
item as a `ParkedItem`."""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.db import models
from pydantic import BaseModel, ConfigDict, Field

from apps.core.errors import REDIS_RETRY_AFTER_SECONDS, AppError

__all__ = [
    "BusUnavailable",
    "DeadLetterKind",
    "DeliveryOutcome",
    "Envelope",
    "InvalidTopic",
    "Message",
    "OutboundJob",
    "OutboundPolicy",
    "ParkedItem",
    "PayloadInvalid",
    "PayloadTooLarge",
    "WebhookURLError",
]


class Envelope(BaseModel):
    """An event or command as it travels. `payload` is validated against the
    schema registered for `type` and `version` (apps.messaging.services.register_schema)
    when one is registered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    topic: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None
    tenant: str | None = None  # client code; None for platform-wide events
    payload: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One event for `publish_bulk`; the same arguments as `publish_message`."""

    topic: str
    payload: Mapping[str, Any] | BaseModel
    event_type: str | None = None
    tenant: str | None = None
    correlation_id: str | None = None
    metadata: Mapping[str, Any] | None = field(default=None)
    version: int = 1


class BusUnavailable(AppError):
    status_code = 503
    code = "bus_unavailable"
    retry_after = REDIS_RETRY_AFTER_SECONDS


class InvalidTopic(AppError):
    code = "invalid_topic"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class PayloadInvalid(AppError):
    code = "invalid_payload"


class WebhookURLError(AppError):
    """A webhook URL we will not deliver to; the message says why."""

    code = "invalid_webhook_url"

    def __init__(self, message: str) -> None:
        super().__init__(message, details={"webhook_url": [message]})


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt came to. `retry_in` (seconds) is set when the delivery
    should be tried again: after a failure or because the destination's
    circuit is open. `status` is the job's word for it (a webhook delivery:
    delivered | retry | postponed | failed (parked) | skipped; a threshold
    alert: sent | retry | failed | skipped)."""

    status: str
    retry_in: float | None = None
    status_code: int | None = None
    error: str = ""


@dataclass(frozen=True)
class OutboundPolicy:
    """How one kind of outbound POST is sent and retried.

    - `user_agent`: the User-Agent header;
    - `max_attempts`: attempts before the job fails for good;
    - `backoff`: seconds to wait after `attempts` attempts (jittered);
    - `retry_client_errors`: False when a 4xx other than 408/429 (a wrong URL
      or payload, which no retry heals) fails the job at once;
    - `honour_retry_after`: wait at least the answer's Retry-After seconds;
    - `postpone_max_seconds`: a job whose destination's circuit stays open
      longer than this (since its last attempt) fails; None waits on."""

    user_agent: str
    max_attempts: int
    backoff: Callable[[int], float]
    retry_client_errors: bool = True
    honour_retry_after: bool = False
    postpone_max_seconds: float | None = None


class OutboundJob(Protocol):
    """One thing to POST, as `outbound_attempt` sees it; its owner keeps the
    state (a row locked for the attempt) and says what each ending means.
    `attempts` (attempts made so far) is counted up by the attempt, and the
    hooks persist it."""

    attempts: int
    idle_since: datetime  # when the job last changed (an attempt): bounds postponement

    def refusal(self) -> str | None:
        """Why the job must not be sent at all (e.g. a deactivated subscription), or None."""

    def url(self) -> str:
        """Where to POST (may raise SecretDecryptionError)."""

    def secret(self) -> str | None:
        """The signing secret (may raise SecretDecryptionError); None sends the body unsigned."""

    def body(self) -> bytes: ...

    def headers(self) -> dict[str, str]:
        """Headers of the job's own (Content-Type, User-Agent and the signature are added)."""

    def delivered(self, status_code: int) -> DeliveryOutcome: ...

    def retry(self, error: str, status_code: int | None, retry_in: float) -> DeliveryOutcome: ...

    def failed(self, error: str, status_code: int | None, *, answered: bool) -> DeliveryOutcome:
        """For good. `answered`: the attempt reached the network (`status_code`
        is its answer, None for no answer); False when no request was made."""

    def postponed(self, origin: str, retry_in: float) -> DeliveryOutcome:
        """The destination's circuit is open: no attempt spent."""


# --- the dead-letter store -------------------------------------------------------------


class DeadLetterKind(models.TextChoices):
    """What a dead letter holds (`DeadLetter.kind`): an event its bus handler
    kept failing on, a webhook delivery of an event, or a threshold alert of
    calculations that could not be sent."""

    HANDLER = "handler"
    WEBHOOK = "webhook"
    THRESHOLD_ALERT = "threshold_alert"


@dataclass(frozen=True)
class ParkedItem:
    """A parked dead letter as its kind's replayer sees it: `record` is what
    the owner parked (`DeadLetter.envelope`), `client_id` the tenant."""

    id: int
    kind: str
    topic: str
    group: str
    event_id: uuid.UUID
    record: dict[str, Any]
    client_id: int | None
    attempts: int

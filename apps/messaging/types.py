"""What the messaging face exchanges with other apps: the shape of every
event on the bus (`Envelope`, ARCHITECTURE.md, section 6), one event of a
bulk publish (`Message`), and the errors publishing raises."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from apps.core.errors import REDIS_RETRY_AFTER_SECONDS, AppError

__all__ = ["BusUnavailable", "Envelope", "InvalidTopic", "Message", "PayloadInvalid", "PayloadTooLarge"]


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

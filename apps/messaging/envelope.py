"""The shape of every event on the bus (ARCHITECTURE.md, section 6)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """An event or command as it travels. `payload` is validated against the
    schema registered for `type` and `version` (apps/messaging/schemas.py)
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

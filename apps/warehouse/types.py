"""What the warehouse exchanges with other apps (its face's types).

Hooks (services/hooks.py): the dataclasses handed to and taken from the
listeners higher layers register (`TableOwner`, `ChunkDropped`, `ChunkJob`).

The archival contract between the database side (warehouse: retention) and
the archival worker (apps.archival): payload models of the three topics.

- `archival.events` (ArchivalEvent, version 1): the warehouse asks for some
  chunks of one hypertable to be archived to the lakehouse.
- `archival.confirmations` (ArchivalConfirmation, version 1): the worker says
  one chunk was written and verified; the warehouse drops the chunk only when
  the verified row count equals the chunk's current row count.
- `archival.failures` (ArchivalFailure, version 1): the worker gave up on one
  chunk (its attempts are spent); the warehouse marks the chunk failed with
  the error instead of leaving it requested for ever, and keeps it.

Nothing here imports Django models, so both sides can import it. The schemas
are registered with the bus by the warehouse itself (schemas.py, at start).
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class TableOwner:
    client_id: int
    client_code: str
    entity: str  # the entity code


@dataclass(frozen=True)
class ChunkDropped:
    """A chunk of a hypertable was dropped: rows in [range_start, range_end) are gone."""

    table_schema: str
    table_name: str
    range_start: datetime
    range_end: datetime


@dataclass(frozen=True)
class ChunkJob:
    """The archival worker's record of one chunk of one archival request."""

    event_id: str
    chunk_schema: str
    chunk_name: str
    status: str  # pending | processing | completed | failed
    attempts: int
    error: str
    updated_at: datetime


ARCHIVAL_EVENTS_TOPIC = "archival.events"
ARCHIVAL_CONFIRMATIONS_TOPIC = "archival.confirmations"
ARCHIVAL_FAILURES_TOPIC = "archival.failures"


class ChunkRef(BaseModel):
    """One TimescaleDB chunk: its table and its time range [range_start, range_end)."""

    chunk_schema: str
    chunk_name: str
    range_start: datetime
    range_end: datetime
    row_count: int = Field(ge=0)


class ArchivalEvent(BaseModel):
    """Payload of `archival.events` (version 1). `event_id` is the request's id
    (equal to the envelope's event_id); confirmations refer back to it."""

    event_id: UUID
    table_schema: str
    table_name: str
    chunks: list[ChunkRef]
    requested_at: datetime
    lakehouse_target: str = "default"
    policy_id: int | None = None


class ArchivalConfirmation(BaseModel):
    """Payload of `archival.confirmations` (version 1): one chunk archived and
    verified. `event_id` is the ArchivalEvent's event_id."""

    event_id: UUID
    table_schema: str
    table_name: str
    chunk_schema: str
    chunk_name: str
    range_start: datetime
    range_end: datetime
    verified_row_count: int = Field(ge=0)
    files: list[str]
    checksum: str
    confirmed_at: datetime


class ArchivalFailure(BaseModel):
    """Payload of `archival.failures` (version 1): one chunk could not be
    archived after `attempts` attempts; `error` says why. `event_id` is the
    ArchivalEvent's event_id."""

    event_id: UUID
    table_schema: str
    table_name: str
    chunk_schema: str
    chunk_name: str
    error: str
    attempts: int = Field(ge=0)
    failed_at: datetime

"""Dataclasses the warehouse's services and selectors exchange with other
apps: what its hooks (services/hooks.py) hand to and take from the listeners
higher layers register."""

from dataclasses import dataclass
from datetime import datetime


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

"""Hooks higher layers register to hear about ontology events without the
ontology importing them (ARCHITECTURE.md, "Which way imports point"). The
calculation engine registers cache invalidation on rows being loaded, in its
AppConfig.ready()."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RowsLoaded:
    """Payload of `ingestion.completed`."""

    event_id: str
    client_id: int
    entity: str
    inserted: int
    time_min: datetime | None
    time_max: datetime | None
    correlation_id: str


_rows_loaded: list[Callable[[RowsLoaded], None]] = []


def on_rows_loaded(callback: Callable[[RowsLoaded], None]) -> Callable[[RowsLoaded], None]:
    if callback not in _rows_loaded:
        _rows_loaded.append(callback)
    return callback


def rows_loaded_listeners() -> list[Callable[[RowsLoaded], None]]:
    return list(_rows_loaded)

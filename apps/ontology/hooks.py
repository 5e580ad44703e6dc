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


@dataclass(frozen=True)
class MetricCandidate:
    """A metric about to be created or changed, already parsed and checked by
    the ontology; listeners may refuse it by raising AppError (the engine
    compiles it, so a formula it cannot compute is refused at definition)."""

    client_id: int
    code: str
    formula: str
    entity: str | None
    unit: str
    domain: str
    mode: str


_metric_checks: list[Callable[[MetricCandidate], None]] = []


def on_metric_check(callback: Callable[[MetricCandidate], None]) -> Callable[[MetricCandidate], None]:
    if callback not in _metric_checks:
        _metric_checks.append(callback)
    return callback


def metric_check_listeners() -> list[Callable[[MetricCandidate], None]]:
    return list(_metric_checks)


@dataclass(frozen=True)
class MetricSaved:
    """A metric was created or changed (told after the transaction commits)."""

    client_id: int
    code: str
    entity: str | None


_metric_saved: list[Callable[[MetricSaved], None]] = []


def on_metric_saved(callback: Callable[[MetricSaved], None]) -> Callable[[MetricSaved], None]:
    if callback not in _metric_saved:
        _metric_saved.append(callback)
    return callback


def metric_saved_listeners() -> list[Callable[[MetricSaved], None]]:
    return list(_metric_saved)

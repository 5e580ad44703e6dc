"""Hooks higher layers register to hear about ontology events without the
ontology importing them (ARCHITECTURE.md, "Which way imports point"). The
calculation engine registers its listeners (cache invalidation on rows
loaded, the compile check on metrics, rollups following metrics and
entities) in its AppConfig.ready()."""

from collections.abc import Callable

from apps.ontology.types import EntityDeleting, MetricCandidate, MetricDeleted, MetricSaved, RowsLoaded

_rows_loaded: list[Callable[[RowsLoaded], None]] = []


def on_rows_loaded(callback: Callable[[RowsLoaded], None]) -> Callable[[RowsLoaded], None]:
    if callback not in _rows_loaded:
        _rows_loaded.append(callback)
    return callback


def rows_loaded_listeners() -> list[Callable[[RowsLoaded], None]]:
    return list(_rows_loaded)


_metric_checks: list[Callable[[MetricCandidate], None]] = []


def on_metric_check(callback: Callable[[MetricCandidate], None]) -> Callable[[MetricCandidate], None]:
    if callback not in _metric_checks:
        _metric_checks.append(callback)
    return callback


def metric_check_listeners() -> list[Callable[[MetricCandidate], None]]:
    return list(_metric_checks)


_metric_saved: list[Callable[[MetricSaved], None]] = []


def on_metric_saved(callback: Callable[[MetricSaved], None]) -> Callable[[MetricSaved], None]:
    if callback not in _metric_saved:
        _metric_saved.append(callback)
    return callback


def metric_saved_listeners() -> list[Callable[[MetricSaved], None]]:
    return list(_metric_saved)


_metric_deleted: list[Callable[[MetricDeleted], None]] = []


def on_metric_deleted(callback: Callable[[MetricDeleted], None]) -> Callable[[MetricDeleted], None]:
    if callback not in _metric_deleted:
        _metric_deleted.append(callback)
    return callback


def metric_deleted_listeners() -> list[Callable[[MetricDeleted], None]]:
    return list(_metric_deleted)


_entity_deleting: list[Callable[[EntityDeleting], None]] = []


def on_entity_deleting(callback: Callable[[EntityDeleting], None]) -> Callable[[EntityDeleting], None]:
    if callback not in _entity_deleting:
        _entity_deleting.append(callback)
    return callback


def entity_deleting_listeners() -> list[Callable[[EntityDeleting], None]]:
    return list(_entity_deleting)


# Definitions changing: called inside the transaction that changes them
# (apps.ontology.versioning.revision) with the client ids it changed, or None
# when they are not known (every client may have). A listener defers to the
# commit what must not happen before it (transactions.after_commit).
_definitions_changed: list[Callable[[frozenset[int] | None], None]] = []


def on_definitions_changed(
    callback: Callable[[frozenset[int] | None], None],
) -> Callable[[frozenset[int] | None], None]:
    if callback not in _definitions_changed:
        _definitions_changed.append(callback)
    return callback


def definitions_changed_listeners() -> list[Callable[[frozenset[int] | None], None]]:
    return list(_definitions_changed)
